"""`tunesmith tune` end to end on the tiny model: trials are real runs; best.yaml, trials.csv,
the report, --status, resuming, and one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.config_io import load_config
from tunesmith.registry import Registry


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def write_study(path: Path, model: Path, train_csv: Path, **extra) -> Path:
    study = {
        "model": str(model),
        "output": str(path.parent / "study"),
        "data": {"train": str(train_csv)},
        "train": {"epochs": 2, "batch_size": 8, "precision": "fp32", "max_length": 32},
        "eval": {"batch_size": 16},
        "search": {
            "train.learning_rate": {"type": "loguniform", "low": 1e-3, "high": 1e-2},
            "lora.r": {"type": "choice", "values": [4, 8]},
        },
        **extra,
    }
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory, tiny_model_dir, write_sentiment):
    """One real 2-trial random study on the tiny model, run through the CLI."""
    root = tmp_path_factory.mktemp("tune")
    config = write_study(root / "study.yaml", tiny_model_dir, write_sentiment(root / "t.csv", 120))
    result = invoke("tune", config, "--search", "random", "--trials", 2, "--timeout", "30m")
    assert result.exit_code == 0, result.output
    assert "expected: about" in result.stderr  # the estimate, before any trial
    return root / "study"


def test_every_trial_is_a_recorded_run_scored_on_the_validation_split(study_dir):
    rows = list(csv.DictReader((study_dir / "trials.csv").open(encoding="utf-8")))
    assert [r["state"] for r in rows] == ["complete", "complete"]
    recorded = {r.run_dir: r for r in Registry().list(limit=100)}
    for row in rows:
        run_dir = Path(row["run_dir"])
        assert run_dir.name == f"trial-{int(row['number']):04d}" and run_dir.parent == study_dir
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        assert float(row["objective"]) == pytest.approx(metrics["validation"]["f1_macro"])
        assert metrics["base"] is None  # the base model is not re-scored in every trial
        assert recorded[str(run_dir.resolve())].status == "completed"
        cfg = load_config(run_dir / "config.yaml")
        assert cfg.train.learning_rate == pytest.approx(float(row["train.learning_rate"]))


def test_best_yaml_is_the_best_trials_config_ready_to_train(study_dir):
    rows = list(csv.DictReader((study_dir / "trials.csv").open(encoding="utf-8")))
    best = max(rows, key=lambda r: float(r["objective"]))
    cfg = load_config(study_dir / "best.yaml")
    assert cfg.lora.r == int(best["lora.r"])
    assert cfg.train.learning_rate == pytest.approx(float(best["train.learning_rate"]))
    assert cfg.output == str(study_dir / "best") and cfg.eval.base is True
    assert (study_dir / "best.yaml").read_text(encoding="utf-8").startswith("# Best trial")


def test_the_report_has_the_study_charts(study_dir):
    page = (study_dir / "report.html").read_text(encoding="utf-8")
    for title in ("Optimization history", "Parallel coordinates", "Slices"):
        assert f"<h2>{title}</h2>" in page
    assert page.count('<img src="data:image/png;base64,') >= 4


def test_status_shows_progress_and_running_again_resumes_with_nothing_left(
    study_dir, tiny_model_dir
):
    result = invoke("tune", "--status", "--out", study_dir)
    assert result.exit_code == 0, result.output
    assert "2/2 trials (2 complete)" in result.output and "best so far: trial" in result.output
    config = study_dir.parent / "study.yaml"
    again = invoke("tune", config, "--search", "random", "--trials", 2)
    assert again.exit_code == 0, again.output
    assert "resuming: 2/2 trials" in again.stderr
    assert len(list(study_dir.glob("trial-*"))) == 2


def test_a_bad_study_is_one_line_and_exit_2(tmp_path, tiny_model_dir, sentiment_csv):
    config = write_study(tmp_path / "s.yaml", tiny_model_dir, sentiment_csv)
    text = config.read_text(encoding="utf-8").replace("lora.r:", "lora.rank:")
    config.write_text(text, encoding="utf-8")
    result = invoke("tune", config)
    assert result.exit_code == 2 and "search.lora.rank" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    missing = invoke("tune", "--status", "--out", tmp_path / "nothing")
    assert missing.exit_code == 2 and "no study at" in missing.stderr


def test_an_unreachable_storage_is_one_line_with_the_password_hidden(
    tmp_path, tiny_model_dir, sentiment_csv
):
    config = write_study(tmp_path / "s.yaml", tiny_model_dir, sentiment_csv)
    url = "postgresql://tuner:secret@127.0.0.1:1/studies"
    for args in (["--status", "--study", "x"], [config]):
        result = invoke("tune", *args, "--storage", url)
        assert result.exit_code == 2, result.output
        assert "127.0.0.1:1" in result.stderr and "secret" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
