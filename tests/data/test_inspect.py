"""``tunesmith data inspect``: each check finds what it should, with file and line, and no more."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.config import DataConfig
from tunesmith.data.inspect import inspect_files

# Twelve unrelated sentences, six per label: no duplicates, no rare labels, nothing odd.
CLEAN = [
    ("The soundtrack carried every quiet scene beautifully", "positive"),
    ("A clever script with sharp and funny dialogue", "positive"),
    ("I would happily watch this one again tomorrow", "positive"),
    ("Stunning photography of mountains and old villages", "positive"),
    ("The lead actress gives a warm, moving performance", "positive"),
    ("Kids and parents both laughed through the whole thing", "positive"),
    ("The plot collapses long before the final act", "negative"),
    ("Two hours of wooden acting and dull speeches", "negative"),
    ("Nothing here makes sense, even by cartoon standards", "negative"),
    ("The sound mix drowns out half of the lines", "negative"),
    ("A lazy sequel that recycles every old joke", "negative"),
    ("I checked my watch constantly and left early", "negative"),
]


def write_csv(path: Path, rows) -> Path:
    """A text,label CSV of ``rows``."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def inspect(*paths: Path, **kwargs) -> dict:
    return inspect_files(list(paths), DataConfig(), **kwargs)


def checks(report: dict) -> set[str]:
    return {f["check"] for f in report["findings"]}


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_clean_file_is_ok(tmp_path):
    report = inspect(write_csv(tmp_path / "train.csv", CLEAN))
    assert report["findings"] == []
    assert report["verdict"] == "ok"
    assert report["task"] == "classification"
    assert report["files"][0]["rows"] == 12


def test_exact_and_near_duplicates_name_their_lines(tmp_path):
    rows = [
        *CLEAN,
        CLEAN[1],  # line 14 repeats line 3 exactly
        ("the Plot collapses, long before the final act!", "negative"),  # line 15 ~ line 8
    ]
    file = inspect(write_csv(tmp_path / "train.csv", rows))["files"][0]
    name = str(tmp_path / "train.csv")
    assert file["exact_duplicates"] == {
        "count": 1,
        "examples": [{"first": f"{name}:3", "repeat": f"{name}:14"}],
    }
    assert file["near_duplicates"]["count"] == 1
    assert file["near_duplicates"]["examples"] == [{"first": f"{name}:8", "repeat": f"{name}:15"}]


def test_near_duplicates_found_by_minhash_not_only_normalization(tmp_path):
    words = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    rows = [*CLEAN, (words, "positive"), (words + " fifteen", "positive")]
    file = inspect(write_csv(tmp_path / "train.csv", rows))["files"][0]
    # Different after normalization, but 12 of 13 word 3-shingles shared (Jaccard 0.92).
    assert file["near_duplicates"]["count"] == 1
    assert file["near_duplicates"]["examples"][0]["repeat"].endswith(":15")


def test_label_typos_are_flagged_against_the_common_spelling(tmp_path):
    rows = [*CLEAN, ("Great fun", "Positive"), ("Loved it", "positive "), ("Nice", "pos")]
    report = inspect(write_csv(tmp_path / "train.csv", rows))
    variants = {v["variant"]: v["of"] for v in report["files"][0]["labels"]["variants"]}
    assert variants == {"Positive": "positive", "positive ": "positive", "pos": "positive"}
    assert "negative" not in variants.values()
    assert set(report["files"][0]["labels"]["rare"]) == {"Positive", "positive ", "pos"}
    assert report["verdict"] == "warnings"


def test_leakage_between_splits_is_an_error_with_exit_1(tmp_path):
    train = write_csv(tmp_path / "train.csv", CLEAN)
    test = write_csv(tmp_path / "test.csv", [("Something entirely new", "positive"), CLEAN[4]])
    out = tmp_path / "report"
    result = invoke("data", "inspect", train, test, "--out", out)
    assert result.exit_code == 1, result.output
    report = json.loads((out / "inspect.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "errors"
    leak = report["files"][1]["leakage"]["exact"]
    assert leak["count"] == 1
    assert leak["examples"] == [{"in": f"{train}:6", "also_in": f"{test}:3"}]
    assert [f["check"] for f in report["findings"] if f["level"] == "error"] == ["leakage"]
    html = (out / "inspect.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 4  # lengths + labels, for each file
    assert "leakage" in html or "also appear" in html


def test_clean_file_exits_0_and_writes_default_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "mydata.csv", CLEAN)
    result = invoke("data", "inspect", "mydata.csv")
    assert result.exit_code == 0, result.output
    assert "verdict: ok" in result.stdout
    assert json.loads((tmp_path / "mydata_inspect" / "inspect.json").read_text())["verdict"] == "ok"


def test_mojibake_control_characters_bom_and_line_endings(tmp_path):
    rows = [*CLEAN, ("CafÃ© food was great", "positive"), ("Bell\x07 rings here", "negative")]
    path = write_csv(tmp_path / "train.csv", rows)  # csv writes CRLF line endings
    path.write_bytes(path.read_bytes() + "Hidden \ufeffmark inside,negative\n".encode())
    enc = inspect(path)["files"][0]["encoding"]
    assert enc["mojibake"] == {"count": 1, "examples": [f"{path}:14"]}
    assert enc["control_characters"] == {"count": 1, "examples": [f"{path}:15"]}
    assert enc["byte_order_mark"] == {"count": 1, "examples": [f"{path}:16"]}
    assert enc["mixed_line_endings"] == {"crlf": 15, "lf": 1, "mixed": True}


def test_clean_file_has_no_encoding_problems(tmp_path):
    enc = inspect(write_csv(tmp_path / "train.csv", CLEAN))["files"][0]["encoding"]
    assert all(enc[k]["count"] == 0 for k in ("mojibake", "control_characters", "byte_order_mark"))
    assert enc["mixed_line_endings"]["mixed"] is False


def test_token_lengths_and_truncation_with_a_tokenizer(tmp_path, tiny_model_dir):
    from tunesmith.models.load import load_tokenizer

    rows = [("good", "positive"), ("bad movie plot", "negative"), ("the " * 9 + "film", "positive")]
    tokenizer = load_tokenizer(tiny_model_dir)
    report = inspect(write_csv(tmp_path / "t.csv", rows), tokenizer=tokenizer, max_length=10)
    lengths = report["files"][0]["lengths"]
    # "Text : <words> Label :" + " <label> <eos>": 6 tokens around the text's words.
    assert (lengths["min"], lengths["max"]) == (7, 16)
    assert lengths["unit"] == "tokens"
    assert lengths["truncated"] == 1
    assert "truncated" in checks(report)


def test_word_counts_without_a_tokenizer(tmp_path):
    rows = [("one", "a"), ("one two three", "a"), ("one two three four five", "a")]
    lengths = inspect(write_csv(tmp_path / "t.csv", rows), max_length=4)["files"][0]["lengths"]
    assert (lengths["unit"], lengths["min"], lengths["p50"], lengths["max"]) == ("words", 1, 3, 5)
    assert lengths["truncated"] == 1


def test_identical_rows_and_missing_labels_block(tmp_path):
    same = inspect(write_csv(tmp_path / "same.csv", [("hello there", "a")] * 6))
    assert same["verdict"] == "errors" and "identical_rows" in checks(same)
    rows = [(text, "") for text, _ in CLEAN[:7]] + CLEAN[7:]
    missing = inspect(write_csv(tmp_path / "missing.csv", rows))
    errors = [f for f in missing["findings"] if f["level"] == "error"]
    assert [f["check"] for f in errors] == ["unusable_rows", "missing_values"]
    assert "7 of 12 rows can't be used" in errors[0]["message"]
    assert "missing.csv line 2: field 'label' is empty" in errors[0]["message"]
    assert "'label'" in errors[1]["message"] and "empty in 7 of 12" in errors[1]["message"]


def test_broken_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine", "label": "a"}\n{"text": broken\n', encoding="utf-8")
    result = invoke("data", "inspect", path, "--out", tmp_path / "out")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "bad.jsonl line 2" in lines[0]
    assert not (tmp_path / "out").exists()
