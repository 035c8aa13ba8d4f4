"""``tunesmith data prepare``: split files, manifest, overwrite rule, token cache, CLI errors."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.config import AugmentConfig, Config, DataConfig, PreprocessConfig
from tunesmith.data import cache
from tunesmith.data.prepare import default_out, prepare_dataset
from tunesmith.data.split import make_splits
from tunesmith.errors import TunesmithError


def write_rows(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


@pytest.fixture
def data_file(tmp_path, write_sentiment) -> Path:
    """60 sentiment rows plus a repeat and one row with a messy, full-width text."""
    path = write_sentiment(tmp_path / "train.csv", 60)
    with path.open("a", encoding="utf-8", newline="") as out:
        rows = list(csv.reader(path.open(encoding="utf-8")))
        csv.writer(out).writerows([rows[1], ["ｇｏｏｄ   film  ", "positive"]])
    return path


def config_of(tmp_path: Path, model: Path, train: Path, **data) -> Config:
    return Config(
        model=str(model),
        output=str(tmp_path / "runs" / "latest"),
        data=DataConfig(train=str(train), augment=AugmentConfig(copies=1), **data),
    )


def test_prepare_writes_splits_and_a_manifest(tmp_path, tiny_model_dir, data_file):
    cfg = config_of(tmp_path, tiny_model_dir, data_file)
    out = prepare_dataset(cfg)
    assert out == tmp_path / "runs" / "latest-data" == default_out(cfg)
    manifest = json.loads((out / "manifest.json").read_text())
    source = manifest["sources"]["train"]
    assert source["sha256"] == hashlib.sha256(data_file.read_bytes()).hexdigest()
    for name in ("train", "validation", "test"):
        written = (out / f"{name}.jsonl").read_bytes()
        entry = manifest["splits"][name]
        assert entry["sha256"] == hashlib.sha256(written).hexdigest()
        assert entry["examples"] == len(written.splitlines())
    steps = {(s["step"], s["split"]): s for s in manifest["steps"]}
    assert steps["exact_dedupe", "train"]["before"] == 62
    assert steps["exact_dedupe", "train"]["after"] == 61
    assert steps["unicode_nfkc", "train"]["changed"] == 1
    assert steps["split", "train"] == {
        "step": "split", "split": "train", "before": 61, "after": 43,
        "to_validation": 6, "to_test": 12,
    }  # fmt: skip
    words = steps["augment_words", "train"]
    assert words["before"] == 43 and words["after"] == manifest["splits"]["train"]["examples"]
    assert manifest["splits"]["validation"]["examples"] == 6  # never augmented
    assert manifest["token_cache"]["train"]["sequences"] == words["after"]
    first = json.loads((out / "train.jsonl").read_text().splitlines()[0])
    assert set(first) == {"text", "label"}


def test_prepared_files_read_back_as_the_same_splits(tmp_path, tiny_model_dir, data_file):
    cfg = config_of(tmp_path, tiny_model_dir, data_file)
    out = prepare_dataset(cfg, tmp_path / "prepared", tokenize=False)
    again = make_splits(
        DataConfig(
            train=str(out / "train.jsonl"),
            validation=str(out / "validation.jsonl"),
            test=str(out / "test.jsonl"),
            preprocess=PreprocessConfig(remove_leakage=True),
        ),
        seed=0,
    )
    original = make_splits(cfg.data, 0)
    assert [e.key() for e in again.test] == [e.key() for e in original.test]
    assert (
        len(again.train)
        == json.loads((out / "manifest.json").read_text())["splits"]["train"]["examples"]
    )


def test_prepare_never_overwrites_without_permission(tmp_path, tiny_model_dir, data_file):
    cfg = config_of(tmp_path, tiny_model_dir, data_file)
    out = prepare_dataset(cfg, tmp_path / "p", tokenize=False)
    before = (out / "manifest.json").read_bytes()
    with pytest.raises(TunesmithError, match="already holds a prepared dataset"):
        prepare_dataset(cfg, out, tokenize=False)
    assert (out / "manifest.json").read_bytes() == before
    cfg.data.augment.copies = 0
    prepare_dataset(cfg, out, overwrite=True, tokenize=False)
    assert (out / "manifest.json").read_bytes() != before


def test_training_after_prepare_does_not_tokenize(tmp_path, tiny_model_dir, data_file, monkeypatch):
    from tunesmith.pipeline import run_training

    cfg = config_of(tmp_path, tiny_model_dir, data_file)
    cfg.train.max_steps, cfg.train.precision, cfg.train.max_length = 2, "fp32", 64
    cfg.eval.base = False
    prepare_dataset(cfg)

    def no_tokenizing(*_args, **_kwargs):
        raise AssertionError("training tokenized a split the prepare step had cached")

    monkeypatch.setattr(cache, "encode_examples", no_tokenizing)
    console = Console(file=io.StringIO(), width=200)
    run_dir = run_training(cfg, console=console)
    said = console.file.getvalue()  # type: ignore[attr-defined]
    assert "data: train      augment_words" in said and "exact_dedupe" in said
    assert "unicode_nfkc" not in said  # steps that kept every example are not shouted about
    run = json.loads((run_dir / "run.json").read_text())
    assert [s["step"] for s in run["data_steps"]][-1] == "augment_words"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["data_steps"] == run["data_steps"]
    manifest = json.loads((default_out(cfg) / "manifest.json").read_text())
    assert metrics["train_examples"] == manifest["token_cache"]["train"]["sequences"]


# -- command line ------------------------------------------------------------------------------


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def write_config(path: Path, model: Path, train: Path, **preprocess) -> Path:
    cfg = {
        "model": str(model),
        "output": str(path.parent / "runs" / "x"),
        "data": {"train": str(train), "preprocess": preprocess},
    }
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_cli_prepare_writes_and_refuses_to_overwrite(tmp_path, tiny_model_dir, data_file):
    config = write_config(tmp_path / "c.yaml", tiny_model_dir, data_file)
    out = tmp_path / "prepared"
    result = invoke("data", "prepare", config, "--out", out)
    assert result.exit_code == 0, result.output
    assert "exact_dedupe" in result.stderr and f"written {out}" in result.stderr
    assert {p.name for p in out.iterdir()} == {
        "train.jsonl", "validation.jsonl", "test.jsonl", "manifest.json",
    }  # fmt: skip
    one_line_error(invoke("data", "prepare", config, "--out", out), "--overwrite", str(out))
    assert invoke("data", "prepare", config, "--out", out, "--overwrite").exit_code == 0


def test_cli_prepare_bad_config_value(tmp_path, tiny_model_dir, data_file):
    config = write_config(tmp_path / "c.yaml", tiny_model_dir, data_file)
    result = invoke("data", "prepare", config, "--set", "data.preprocess.missing=maybe")
    one_line_error(result, "data.preprocess.missing", "'maybe'", "fail, drop, fill")
    result = invoke("data", "prepare", config, "--set", "data.augment.swap_rate=1.5")
    one_line_error(result, "data.augment.swap_rate must be in [0, 1]")
    result = invoke("data", "prepare", config, "--set", "data.preprocess.label_map=[a]")
    one_line_error(result, "data.preprocess.label_map must be a mapping")
    assert not (tmp_path / "runs").exists()


def test_cli_prepare_fail_policy_names_file_line_and_field(tmp_path, tiny_model_dir):
    train = write_rows(tmp_path / "t.csv", [("good film", "positive"), ("bad film", "")] * 3)
    config = write_config(tmp_path / "c.yaml", tiny_model_dir, train, missing="fail")
    result = invoke("data", "prepare", config)
    one_line_error(result, f"{train} line 3: field 'label' is missing (and 2 more)")
    assert not (tmp_path / "runs").exists()
