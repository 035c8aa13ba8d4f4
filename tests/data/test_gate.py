"""The data check at the start of ``tunesmith train``: stops on blocking findings before any model
loads and before the run directory exists; ``--force`` trains past them and the run records it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.config import Config, DataConfig
from tunesmith.data.gate import check_data
from tunesmith.errors import TunesmithError


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def write_rows(path: Path, rows, bom: bool = False, crlf: bool = False) -> Path:
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\r\n" if crlf else "\n")
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def write_config(tmp_path: Path, model, data: dict, **train) -> Path:
    cfg = {
        "model": str(model),
        "output": str(tmp_path / "runs" / "gated"),
        "data": data,
        "train": {"epochs": 1, "batch_size": 8, "max_length": 32, "precision": "fp32", **train},
        "eval": {"batch_size": 16, "max_new_tokens": 4},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


@pytest.fixture
def model_loads(monkeypatch):
    """Calls of the model loader; each raises, so a test can see whether training got that far."""
    calls = []

    def refuse(*args):
        calls.append(args)
        raise TunesmithError("stub: the model loader was reached")

    monkeypatch.setattr("tunesmith.pipeline.load_environment", refuse)
    return calls


def test_leaked_validation_rows_stop_train_before_the_model_loads(
    tmp_path, sentiment_examples, model_loads, tunesmith_home
):
    rows = [(e.text, e.label) for e in sentiment_examples(40, seed=1)]
    train = write_rows(tmp_path / "train.csv", rows)
    validation = write_rows(tmp_path / "validation.csv", rows[:5])
    config = write_config(
        tmp_path, "never/loaded", {"train": str(train), "validation": str(validation)}
    )

    result = invoke("train", config)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert model_loads == [] and not (tmp_path / "runs").exists()
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, result.stderr  # one per blocking finding, then the summary
    assert "validation.csv" in errors[0] and "also appear in an earlier split" in errors[0]
    assert "fix: remove them from validation.csv" in errors[0]
    assert "1 blocking problem" in errors[1] and "--force" in errors[1]

    forced = invoke("train", config, "--force")
    assert len(model_loads) == 1, forced.output  # went on to the model
    assert "--force: training despite 1 blocking data problem" in " ".join(forced.stderr.split())


def test_the_check_needs_no_model_or_tokenizer(tmp_path, monkeypatch, sentiment_examples):
    def refuse(*args, **kwargs):
        raise AssertionError("the data check loaded a model or tokenizer")

    for name in ("load_tokenizer", "load_model"):
        monkeypatch.setattr(f"tunesmith.models.load.{name}", refuse)
    monkeypatch.setattr("tunesmith.models.resolve.resolve_model", refuse)
    rows = [(e.text, e.label) for e in sentiment_examples(40, seed=2)]
    train = write_rows(tmp_path / "train.csv", [*rows, rows[0]], crlf=True)
    cfg = Config(model="nobody/nothing", data=DataConfig(train=str(train)))
    log = tmp_path / "log.txt"
    with log.open("w", encoding="utf-8") as handle:
        checked = check_data(cfg, force=False, console=Console(file=handle, width=300))
    assert checked.forced_past == []
    assert checked.repairs == {}  # CRLF is CSV's own line end (RFC 4180): nothing to repair
    assert [w["check"] for w in checked.warnings] == ["exact_duplicates"]  # warned, not blocked
    printed = log.read_text(encoding="utf-8")
    assert "repaired" not in printed and "warning: train.csv: 1 rows" in printed


def test_forced_run_trains_without_the_bad_rows_and_records_it(
    tmp_path, tiny_model_dir, sentiment_examples, registry_home
):
    from tunesmith.registry import Registry

    good = [(e.text, e.label) for e in sentiment_examples(60)]
    train = write_rows(
        tmp_path / "train.csv", [*good, ("good film", ""), ("bad film", "")], True, True
    )
    config = write_config(tmp_path, tiny_model_dir, {"train": str(train)}, max_steps=2)

    stopped = invoke("train", config)
    assert stopped.exit_code == 2 and not (tmp_path / "runs").exists()
    assert "train.csv line 62: field 'label' is empty" in " ".join(stopped.stderr.split())

    result = invoke("train", config, "--force")
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "runs" / "gated" / "run.json").read_text(encoding="utf-8"))
    check = run["data_check"]
    assert "unusable_rows" in [f["check"] for f in check["forced_past"]]
    assert check["repairs"][str(train)] == ["stripped a UTF-8 byte order mark"]
    assert run["labels"] == ["negative", "positive"]  # the empty labels were not trained as a class
    row = Registry().get(str(tmp_path / "runs" / "gated"))
    assert row.status == "completed" and row.forced_past == check["forced_past"]
