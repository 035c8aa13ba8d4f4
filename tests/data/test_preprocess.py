"""Preprocessing: text clean-up steps, missing-value policies, label renames and their step log."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tunesmith.config import DataConfig, PreprocessConfig
from tunesmith.data.preprocess import clean_whitespace, strip_html, strip_urls
from tunesmith.data.split import make_splits
from tunesmith.errors import TunesmithError


def write_csv(path: Path, rows: list[tuple[str, str]]) -> str:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return str(path)


def rows(n: int = 20) -> list[tuple[str, str]]:
    """Distinct, clean, two-label rows."""
    return [(f"example number {i} here", "a" if i % 2 else "b") for i in range(n)]


def splits_of(path: str, **pre) -> object:
    cfg = DataConfig(
        train=path, validation_fraction=0, test_fraction=0, preprocess=PreprocessConfig(**pre)
    )
    return make_splits(cfg, seed=0)


def step(splits, name: str, split: str = "train") -> dict:
    (found,) = [s for s in splits.steps if s["step"] == name and s["split"] == split]
    return found


def error_of(path: str, **pre) -> str:
    with pytest.raises(TunesmithError) as info:
        splits_of(path, **pre)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("fn", "given", "expected"),
    [
        (strip_html, "<p>Great &amp; <b>cheap</b></p><br/>ok", " Great &  cheap   ok"),
        (strip_html, "a < b and c > d, x<y", "a < b and c > d, x<y"),  # not markup
        (strip_html, "before<!-- a\ncomment -->after", "before after"),
        (strip_urls, "see https://x.org/a?b=1. now", "see . now"),
        (strip_urls, "(www.example.com) and http://a.b/c", "() and "),
        (clean_whitespace, "  a \t b  \n\n\n\n c\u200b d  ", "a b\n\n c d"),
        (clean_whitespace, "def f():\n    return  1\r\n", "def f():\n    return 1"),
    ],
)
def test_text_functions(fn, given, expected):
    assert fn(given) == expected


def test_default_steps_normalize_unicode_and_whitespace_and_log_counts(tmp_path):
    data = rows() + [("ｆｕｌｌ  width\tﬁne", "a"), ("  spaced   out ", "b")]
    splits = splits_of(write_csv(tmp_path / "t.csv", data))
    texts = {e.text for e in splits.train}
    assert {"full width fine", "spaced out"} <= texts
    assert step(splits, "unicode_nfkc") == {
        "step": "unicode_nfkc", "split": "train", "before": 22, "after": 22, "changed": 1,
    }  # fmt: skip
    # tasks.py strips the ends of classification texts already: only inner runs change.
    assert step(splits, "whitespace")["changed"] == 2
    assert not [s for s in splits.steps if s["step"] in ("lowercase", "strip_html", "strip_urls")]


def test_optional_steps_are_off_by_default_and_switch_on(tmp_path):
    data = rows() + [("Visit <b>HTTPS://Shop.example/x</b> NOW &amp; save", "a")]
    path = write_csv(tmp_path / "t.csv", data)
    plain = splits_of(path)
    assert "Visit <b>HTTPS://Shop.example/x</b> NOW &amp; save" in {e.text for e in plain.train}
    cleaned = splits_of(path, lowercase=True, strip_html=True, strip_urls=True)
    assert "visit now & save" in {e.text for e in cleaned.train}
    for name in ("strip_html", "strip_urls", "lowercase"):
        assert step(cleaned, name)["changed"] == 1  # the other rows are plain lower-case text


def test_text_that_is_only_a_url_is_dropped_and_logged(tmp_path):
    path = write_csv(tmp_path / "t.csv", rows() + [("https://only.a/link", "a")])
    splits = splits_of(path, strip_urls=True)
    assert len(splits.train) == 20
    assert step(splits, "drop_empty") == {
        "step": "drop_empty", "split": "train", "before": 21, "after": 20,
    }  # fmt: skip


def test_exact_dedupe_switch_and_label_conflicts(tmp_path):
    data = rows() + [rows()[0], (rows()[1][0], "b"), ("example  number 2 here", "b")]
    path = write_csv(tmp_path / "t.csv", data)
    splits = splits_of(path)
    # the third extra row equals row 2 once whitespace is cleaned: clean-up runs first
    assert len(splits.train) == 20
    assert step(splits, "exact_dedupe") == {
        "step": "exact_dedupe", "split": "train", "before": 23, "after": 20,
        "label_conflicts": 1,
    }  # fmt: skip
    assert len(splits_of(path, exact_dedupe=False).train) == 23


def test_near_dedupe_uses_the_threshold(tmp_path):
    long = "the service was quick and the staff were friendly and the food arrived hot today"
    near = long.replace("today", "tonight")  # 12 of 14 shingles shared: Jaccard 0.857
    path = write_csv(tmp_path / "t.csv", rows() + [(long, "a"), (near, "a"), (long.upper(), "a")])
    assert len(splits_of(path).train) == 23  # off by default
    on = splits_of(path, near_dedupe=True)
    assert len(on.train) == 21 and long in {e.text for e in on.train}
    assert step(on, "near_dedupe") == {
        "step": "near_dedupe", "split": "train", "before": 23, "after": 21,
    }  # fmt: skip
    strict = splits_of(path, near_dedupe=True, near_threshold=0.95)
    assert len(strict.train) == 22  # only the upper-case copy (equal once normalized) goes


def test_label_map_renames_before_the_label_set_is_taken(tmp_path):
    data = [(f"text {i} is here", label) for i, label in enumerate(["pos", "Positive ", "neg"] * 5)]
    path = write_csv(tmp_path / "t.csv", data)
    assert splits_of(path).labels == ["Positive", "neg", "pos"]
    mapping = {"pos": "positive", "Positive ": "positive", "neg": "negative"}
    splits = splits_of(path, label_map=mapping)
    assert splits.labels == ["negative", "positive"]
    assert step(splits, "label_map")["changed"] == 15


def test_label_map_on_a_task_without_labels_is_an_error(tmp_path):
    path = tmp_path / "i.jsonl"
    lines = [json.dumps({"instruction": f"do {i}", "output": str(i)}) for i in range(10)]
    path.write_text("\n".join(lines))
    message = error_of(str(path), label_map={"a": "b"})
    assert "label_map is set but the task is instruction" in message


# -- missing values ----------------------------------------------------------------------------


@pytest.fixture
def gappy(tmp_path) -> str:
    """20 good rows, then line 22 without a label and line 23 without a text."""
    return write_csv(tmp_path / "gappy.csv", rows() + [("no label here", ""), ("", "a")])


def test_fail_policy_names_file_line_and_field(gappy):
    message = error_of(gappy)
    assert message.startswith(f"{gappy} line 22: field 'label' is missing (and 1 more);")
    assert "data.preprocess.missing" in message


def test_drop_policy_drops_and_counts(gappy):
    splits = splits_of(gappy, missing="drop")
    assert len(splits.train) == 20
    assert step(splits, "missing_values") == {
        "step": "missing_values", "split": "train", "before": 22, "after": 20, "filled": 0,
    }  # fmt: skip


def test_per_field_policies_and_fill_values(gappy):
    splits = splits_of(
        gappy, missing="drop", missing_fields={"label": "fill"}, fill_values={"label": "a"}
    )
    assert ("no label here", "a") in {(e.text, e.label) for e in splits.train}
    assert len(splits.train) == 21  # the text-less row is still dropped
    assert step(splits, "missing_values")["filled"] == 1
    # fail for text only: the missing label is filled, the missing text stops the run
    message = error_of(
        gappy, missing="fill", missing_fields={"text": "fail"}, fill_values={"label": "a"}
    )
    assert message.startswith(f"{gappy} line 23: field 'text' is missing;")


def test_fill_without_a_value_and_unknown_field_names_are_errors(gappy):
    message = error_of(gappy, missing="fill")
    assert message.startswith(f"{gappy} line 22: field 'label' is missing and its policy is fill")
    message = error_of(gappy, missing_fields={"lable": "drop"})
    assert "missing_fields names field 'lable', which no row has" in message


def test_every_row_dropped_is_an_error(tmp_path):
    path = write_csv(tmp_path / "t.csv", [("x", ""), ("y", "")])
    assert "no examples are left after data.preprocess" in error_of(path, missing="drop")
