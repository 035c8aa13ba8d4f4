"""Clean one file's examples before splitting: missing values, text clean-up, label renames.

Each step is switched on or off in ``data.preprocess`` and appends one entry to a step log:
``{"step", "split", "before", "after", ...}`` with the example counts around it (and, for steps
that rewrite text, how many examples they changed). The log ends up in the prepared dataset's
manifest.json and in the run's run.json, so a user can see what happened to their rows.
"""

from __future__ import annotations

import dataclasses
import html
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from tunesmith.config import DataConfig, MissingPolicy, PreprocessConfig
from tunesmith.data.examples import Example, Message
from tunesmith.data.load import Record
from tunesmith.data.tasks import required_fields, to_examples
from tunesmith.errors import TunesmithError

TextFn = Callable[[str], str]
_TEXT_FIELDS = ("text", "instruction", "input", "output")
# Tags only: "a < b" or "x<y" is not markup and stays. Comments go whole.
_HTML_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>", re.DOTALL)
# A URL ends before trailing punctuation: "see https://x.org." keeps its full stop.
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]}]", re.IGNORECASE)
_HSPACE = re.compile(r"[^\S\n]+")  # whitespace other than a line break
_BLANK_LINES = re.compile(r"\n{3,}")
# Zero-width space, word joiner, stray BOM: invisible, yet they make equal texts differ.
_INVISIBLE = re.compile("[\u200b\u2060\ufeff]")


def log_step(steps: list[dict], step: str, split: str, before: int, after: int, **detail) -> None:
    """Append one step's counts to ``steps``."""
    steps.append({"step": step, "split": split, "before": before, "after": after, **detail})


def describe_steps(steps: list[dict], changed_only: bool = False) -> list[str]:
    """One readable line per step (only those that changed the count when ``changed_only``):
    split, step, examples before -> after, and the step's details."""
    lines = []
    for step in steps:
        if changed_only and step["before"] == step["after"]:
            continue
        extra = {k: v for k, v in step.items() if k not in ("step", "split", "before", "after")}
        detail = ", ".join(f"{k} {v}" for k, v in extra.items())
        lines.append(
            f"{step['split']:<10} {step['step']:<18} {step['before']:>7} -> {step['after']:<7}"
            + (f" ({detail})" if detail else "")
        )
    return lines


def clean_file(
    records: list[Record],
    split: str,
    task: str,
    cfg: DataConfig,
    steps: list[dict],
    skip_bad: bool = False,
) -> list[Example]:
    """Examples of one file after the missing-value policy, text clean-up and label renames.

    ``skip_bad`` (``train --force``, past the data check's findings): rows the policy would fail
    on, and rows that can't become examples, are dropped instead.
    """
    pre = cfg.preprocess
    if skip_bad:
        pre = _failing_fields_dropped(pre)
    records = apply_missing(records, required_fields(records, task, cfg), pre, split, steps)
    examples = to_examples(records, task, cfg, skip_bad)
    for name, fn in text_steps(pre):
        examples = _rewrite(examples, name, split, steps, lambda e, fn=fn: map_text(e, fn))
    if pre.label_map:
        if task != "classification":
            raise TunesmithError(
                f"data.preprocess.label_map is set but the task is {task}, which has no labels; "
                "remove label_map"
            )
        mapping = {str(k).strip(): str(v).strip() for k, v in pre.label_map.items()}
        examples = _rewrite(examples, "label_map", split, steps, lambda e: _relabel(e, mapping))
    kept = [e for e in examples if not _is_empty(e)]
    if len(kept) != len(examples):
        log_step(steps, "drop_empty", split, len(examples), len(kept))
    return kept


def _failing_fields_dropped(cfg: PreprocessConfig) -> PreprocessConfig:
    """``cfg`` with every ``fail`` missing-value policy turned into ``drop``."""
    fields: dict[str, MissingPolicy] = {
        k: "drop" if v == "fail" else v for k, v in cfg.missing_fields.items()
    }
    missing = "drop" if cfg.missing == "fail" else cfg.missing
    return dataclasses.replace(cfg, missing=missing, missing_fields=fields)


def text_steps(cfg: PreprocessConfig) -> list[tuple[str, TextFn]]:
    """The switched-on text rewrites, in the order they run."""
    chosen: list[tuple[str, bool, TextFn]] = [
        ("unicode_nfkc", cfg.unicode_nfkc, lambda t: unicodedata.normalize("NFKC", t)),
        ("strip_html", cfg.strip_html, strip_html),
        ("strip_urls", cfg.strip_urls, strip_urls),
        ("lowercase", cfg.lowercase, str.lower),
        ("whitespace", cfg.whitespace, clean_whitespace),  # last: the others leave gaps
    ]
    return [(name, fn) for name, on, fn in chosen if on]


def clean_text(text: str, cfg: PreprocessConfig) -> str:
    """``text`` after the switched-on rewrites: what training made of an input like it."""
    for _, fn in text_steps(cfg):
        text = fn(text)
    return text


def strip_html(text: str) -> str:
    """Text without HTML tags (each becomes a space) and with entities decoded."""
    return html.unescape(_HTML_TAG.sub(" ", text))


def strip_urls(text: str) -> str:
    """Text without web addresses."""
    return _URL.sub("", text)


def clean_whitespace(text: str) -> str:
    """Single spaces inside lines, no trailing spaces, at most one blank line, trimmed ends.

    Indentation at the start of a line is kept: it carries meaning in code answers.
    """
    lines = []
    for line in _INVISIBLE.sub("", text).replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        body = line.lstrip()
        lines.append(line[: len(line) - len(body)] + _HSPACE.sub(" ", body).rstrip())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def map_text(example: Example, fn: TextFn) -> Example:
    """``example`` with ``fn`` applied to every text it holds (labels excluded)."""
    if example.messages is not None:
        messages = tuple(Message(m.role, fn(m.content)) for m in example.messages)
        return dataclasses.replace(example, messages=messages)
    changes: dict[str, Any] = {
        f: fn(v) for f in _TEXT_FIELDS if (v := getattr(example, f)) is not None
    }
    return dataclasses.replace(example, **changes)


def _rewrite(
    examples: list[Example], name: str, split: str, steps: list[dict], fn: Callable
) -> list[Example]:
    """Apply ``fn`` to each example and log how many it changed."""
    out = [fn(e) for e in examples]
    changed = sum(a != b for a, b in zip(examples, out, strict=True))
    log_step(steps, name, split, len(examples), len(out), changed=changed)
    return out


def _relabel(example: Example, mapping: dict[str, str]) -> Example:
    if example.label is None or example.label not in mapping:
        return example
    return dataclasses.replace(example, label=mapping[example.label])


def _is_empty(example: Example) -> bool:
    """Nothing left to learn from after clean-up (e.g. a text that was only a URL)."""
    if example.messages is not None:
        return any(not m.content.strip() for m in example.messages if m.role != "system")
    if example.task == "instruction":
        return not (example.instruction or "").strip() or not (example.output or "").strip()
    return not (example.text or "").strip()


# -- missing values ----------------------------------------------------------------------------


def apply_missing(
    records: list[Record],
    needed: list[str],
    cfg: PreprocessConfig,
    split: str,
    steps: list[dict],
) -> list[Record]:
    """Records after each field's missing-value policy: kept, dropped, filled, or an error.

    ``needed`` are the fields the task reads; fields named in ``missing_fields`` are checked too.
    """
    if split == "train":
        _check_named_fields(records, cfg)
    fields = list(dict.fromkeys([*needed, *cfg.missing_fields]))
    kept: list[Record] = []
    failed: list[tuple[Record, str]] = []
    filled = 0
    for record in records:
        outcome = _record_outcome(record, fields, cfg, failed)
        if outcome is not None:
            filled += outcome is not record
            kept.append(outcome)
    if failed:
        raise TunesmithError(_fail_message(failed))
    log_step(steps, "missing_values", split, len(records), len(kept), filled=filled)
    return kept


def _record_outcome(
    record: Record, fields: list[str], cfg: PreprocessConfig, failed: list
) -> Record | None:
    """The record as kept (filled when needed), or None when its policy drops it."""
    data = record.data
    for field in fields:
        if not is_missing(data.get(field)):
            continue
        policy = cfg.missing_fields.get(field, cfg.missing)
        if policy == "drop":
            return None
        if policy == "fail":
            failed.append((record, field))
            continue
        if field not in cfg.fill_values:
            raise TunesmithError(
                f"{record.where}: field '{field}' is missing and its policy is fill, but "
                f"data.preprocess.fill_values has no value for '{field}'; add one"
            )
        data = {**data, field: cfg.fill_values[field]}
    return record if data is record.data else dataclasses.replace(record, data=data)


def is_missing(value: Any) -> bool:
    """Absent, null, blank text or an empty list."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or value == []


def _fail_message(failed: list[tuple[Record, str]]) -> str:
    record, field = failed[0]
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return (
        f"{record.where}: field '{field}' is missing{more}; fill it in, or set "
        f"data.preprocess.missing (or data.preprocess.missing_fields.{field}) to drop or fill"
    )


def _check_named_fields(records: list[Record], cfg: PreprocessConfig) -> None:
    """A field named in missing_fields/fill_values must exist somewhere in the file."""
    present = {key for record in records for key in record.data}
    for key in ("missing_fields", "fill_values"):
        for field in getattr(cfg, key):
            if field not in present and records:
                shown = ", ".join(sorted(present)[:12])
                raise TunesmithError(
                    f"{records[0].file}: data.preprocess.{key} names field '{field}', which no "
                    f"row has (fields: {shown}); correct the name"
                )
