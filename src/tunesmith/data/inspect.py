"""``tunesmith data inspect``: what is wrong with a data set, before any GPU time is spent on it.

``inspect_files`` runs every check of ``tunesmith.data.checks`` on each file (the first is the
training split, the others are compared against it for leakage) and turns the numbers into
findings, each with a plain-language fix, and one verdict: "ok", "warnings" or "errors".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunesmith.config import DataConfig, InspectConfig, TrainConfig
from tunesmith.data import checks as ck
from tunesmith.data.decode import format_suffix
from tunesmith.data.examples import Example
from tunesmith.data.findings import FILE_CHECKS, leakage_findings
from tunesmith.data.load import Record, read_file
from tunesmith.data.tasks import convert_records, detect_task, resolve_fields

# Long enough that encode_examples never cuts: inspection wants each example's full length.
_NO_LIMIT = 10**9


@dataclasses.dataclass
class _Split:
    """One file as read: its records, the repairs made reading it, its line-ending counts."""

    path: Path
    records: list[Record]
    repairs: list[str]
    line_endings: dict[str, int]


def inspect_files(
    paths: Sequence[str | Path],
    cfg: DataConfig,
    tokenizer=None,
    max_length: int = TrainConfig.max_length,
    limits: InspectConfig | None = None,
) -> dict:
    """A JSON-ready report on ``paths`` (first = train): per-file checks, leakage, verdict.

    Lengths are in tokens of the rendered examples when ``tokenizer`` is given, else in words.
    """
    limits = limits or InspectConfig()
    splits = [_read(Path(p)) for p in paths]
    task = detect_task(splits[0].records, cfg)
    cfg = resolve_fields(splits[0].records, task, cfg)
    earlier: dict[str, Any] = {"keys": {}, "indexes": []}
    files = []
    for position, split in enumerate(splits):
        examples, bad = convert_records(split.records, task, cfg)
        report, index = _inspect_split(split, examples, task, cfg, tokenizer, max_length, limits)
        report["unusable"] = {
            "count": len(bad),
            "examples": [
                {"source": r.source, "reason": why} for r, why in bad[: limits.examples_shown]
            ],
        }
        keys, texts, sources = _columns(examples)
        if position:
            report["leakage"] = ck.leakage(keys, texts, sources, earlier, limits)
        for key, source in zip(keys, sources, strict=True):
            earlier["keys"].setdefault(key, source)
        earlier["indexes"].append(index)
        files.append(report)
    findings = [f for report in files for f in file_findings(report, limits)]
    findings += [f for report in files[1:] for f in leakage_findings(report, files[0]["file"])]
    return {
        "task": task,
        "text_field": cfg.text_field,
        "label_field": cfg.label_field,
        "length_unit": "tokens" if tokenizer is not None else "words",
        "max_length": max_length,
        "files": files,
        "verdict": verdict(findings),
        "findings": findings,
    }


def _read(path: Path) -> _Split:
    """``path`` as read (one-line TunesmithError if it can't be)."""
    loaded = read_file(path)
    return _Split(path, loaded.records, loaded.repairs, loaded.line_endings)


def _columns(examples: list[Example]) -> tuple[list[str], list[str], list[str]]:
    """(content keys, readable texts, sources) of ``examples``."""
    keys = [e.key() for e in examples]
    texts = [k.replace("\x1e", " ").replace("\x1f", " ") for k in keys]
    return keys, texts, [e.source for e in examples]


def _inspect_split(split, examples, task, cfg, tokenizer, max_length, limits):
    """Every per-file check of one split, and the near-duplicate index of its texts."""
    rows = [r.data for r in split.records]
    keys, texts, sources = _columns(examples)
    fields = list(dict.fromkeys(k for row in rows for k in row))
    lengths = _lengths(examples, texts, tokenizer)
    near, index = ck.near_duplicates(texts, sources, limits)
    stats = ck.length_stats(lengths, max_length, "tokens" if tokenizer is not None else "words")
    report = {
        "file": str(split.path),
        "format": format_suffix(split.path).lstrip("."),
        "repairs": split.repairs,
        "task": task,
        "label_field": cfg.label_field,
        "rows": len(rows),
        "examples": len(examples),
        "fields": fields,
        "missing": ck.missing_values(rows, fields),
        "exact_duplicates": ck.exact_duplicates(keys, sources, limits.examples_shown),
        "near_duplicates": near,
        "encoding": ck.encoding_problems(
            [_raw_text(r.data) for r in split.records],
            [r.source for r in split.records],
            split.line_endings,
            limits.examples_shown,
        ),
        "lengths": stats,
        "outliers": ck.outliers(texts, sources, lengths, stats["p99"], limits),
        "distinct_2": round(ck.distinct_2(texts), 4),
        "distinct_examples": len(set(keys)),
    }
    if task == "classification" and cfg.label_field:
        labels = _labels(rows, cfg.label_field)
        report["labels"] = ck.label_balance(labels, limits)
        report["labels"]["variants"] = ck.label_variants(report["labels"]["counts"], limits)
        report["labels"]["kinds"] = ck.label_kinds(
            [r.data.get(cfg.label_field) for r in split.records],
            [r.source for r in split.records],
            limits.examples_shown,
        )
    return report, index


def _lengths(examples: list[Example], texts: list[str], tokenizer) -> list[int]:
    """Full token count of each rendered example (one batched call), or its word count."""
    if tokenizer is None:
        return [len(t.split()) for t in texts]
    from tunesmith.data.encode import encode_examples

    return [len(e.input_ids) for e in encode_examples(examples, tokenizer, _NO_LIMIT)]


def _labels(rows: list[dict], field: str) -> list[str]:
    """Label values as written (not stripped: "positive " is a finding), empty ones left out."""
    out = []
    for row in rows:
        value = row.get(field)
        if ck.is_missing(value):
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        out.append(str(value))
    return out


def _raw_text(value: Any) -> str:
    """Every string inside a record, joined, so encoding checks see all fields."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(_raw_text(v) for v in value.values())
    if isinstance(value, list):
        return "\n".join(_raw_text(v) for v in value)
    return ""


# -- findings ----------------------------------------------------------------------------------


def verdict(findings: list[dict]) -> str:
    """ "errors" if any finding blocks training, "warnings" if any warns, else "ok"."""
    levels = {f["level"] for f in findings}
    return "errors" if "error" in levels else "warnings" if levels else "ok"


def file_findings(report: dict, limits: InspectConfig) -> list[dict]:
    """The findings of one file's report, errors first within each check."""
    name = Path(report["file"]).name
    return [f for check in FILE_CHECKS for f in check(name, report, limits)]
