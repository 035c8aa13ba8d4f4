"""TensorBoard and MLflow trackers: what a tiny run writes, read back with the tools' own readers.

Two runs are trained once for the module through the CLI: one with both trackers on, one with
both off. The stores are read with tensorboard's EventAccumulator and mlflow's MlflowClient.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from typer.testing import CliRunner

from tunesmith import pipeline
from tunesmith.cli import app
from tunesmith.config_io import load_config
from tunesmith.errors import TunesmithError
from tunesmith.train import trackers as trackers_module
from tunesmith.train.monitor import RunLog
from tunesmith.train.signals import TrainingInterrupted
from tunesmith.train.trackers import (
    MlflowTracker,
    Trackers,
    check_installed,
    config_params,
    ending_status,
)


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def write_config(path: Path, model: Path, data: Path, output: Path, monitor: dict) -> Path:
    """A short fast fp32 LoRA run on ``data`` with the given ``monitor`` section."""
    cfg = {
        "model": str(model),
        "output": str(output),
        "data": {"train": str(data)},
        "train": {
            "epochs": 2,
            "batch_size": 8,
            "learning_rate": 5e-3,
            "max_length": 32,
            "precision": "fp32",
            "log_every": 1,
            "checkpoint_every": 0,
        },
        "eval": {"base": False, "batch_size": 16},
        "monitor": monitor,
    }
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Module-wide directory and environment: a private TUNESMITH_HOME, no MLflow telemetry."""
    path = tmp_path_factory.mktemp("trackers")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNESMITH_HOME", str(path / "home"))
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MlflowClient reading the store below
        yield path


def train_run(workdir: Path, model: Path, data: Path, name: str, monitor: dict) -> Path:
    output = workdir / "runs" / name
    config = write_config(workdir / f"{name}.yaml", model, data, output, monitor)
    result = invoke("train", config)
    assert result.exit_code == 0, result.output
    return output


@pytest.fixture(scope="module")
def train_csv(workdir, write_sentiment):
    return write_sentiment(workdir / "train.csv", 60)


@pytest.fixture(scope="module")
def tracked_run(workdir, tiny_model_dir, train_csv):
    monitor = {"tensorboard": True, "mlflow": True, "experiment": "tiny"}
    return train_run(workdir, tiny_model_dir, train_csv, "tracked", monitor)


def logged(run_dir: Path, field: str) -> list[tuple[int, float]]:
    """(step, value) of every row of the JSONL training log that has ``field``."""
    rows = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    return [(row["step"], row[field]) for row in rows if row.get(field) is not None]


def assert_same_points(got: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    """Same steps, and values equal up to float32 storage."""
    assert [step for step, _ in got] == [step for step, _ in expected]
    assert [value for _, value in got] == pytest.approx([v for _, v in expected], rel=1e-6)


def mlflow_run(run_dir: Path):
    client = MlflowClient((run_dir / "mlruns").resolve().as_uri())
    experiment = client.get_experiment_by_name("tiny")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    return client, run


def test_tensorboard_scalars_match_the_training_log(tracked_run):
    (events,) = (tracked_run / "tensorboard").glob("events.out.tfevents.*")
    acc = EventAccumulator(str(events.parent))
    acc.Reload()
    assert {"train/loss", "train/lr", "train/tokens_per_s", "val/loss"} <= set(
        acc.Tags()["scalars"]
    )
    losses = logged(tracked_run, "loss")
    assert len(losses) >= 6  # log_every 1: one point per optimizer step
    assert_same_points([(e.step, e.value) for e in acc.Scalars("train/loss")], losses)
    val_losses = logged(tracked_run, "val_loss")
    assert val_losses
    assert_same_points([(e.step, e.value) for e in acc.Scalars("val/loss")], val_losses)


def test_mlflow_run_holds_params_and_loss_history(tracked_run):
    client, run = mlflow_run(tracked_run)
    assert run.info.run_name == "tracked"
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["train.learning_rate"] == "0.005"
    assert params["monitor.mlflow"] == "True"
    assert params["data.labels"] == "None"
    assert len(params) == len(config_params(load_config(tracked_run / "config.yaml")))
    history = client.get_metric_history(run.info.run_id, "loss")
    assert_same_points(sorted((m.step, m.value) for m in history), logged(tracked_run, "loss"))
    assert {"lr", "tokens_per_s", "val_loss"} <= set(run.data.metrics)


def test_no_tracker_dirs_when_monitoring_is_off(workdir, tiny_model_dir, train_csv):
    run_dir = train_run(workdir, tiny_model_dir, train_csv, "plain", {})
    assert logged(run_dir, "loss")
    assert not (run_dir / "tensorboard").exists()
    assert not (run_dir / "mlruns").exists()


def test_unknown_monitor_key_is_a_one_line_error(tmp_path, tiny_model_dir, train_csv):
    config = write_config(
        tmp_path / "bad.yaml", tiny_model_dir, train_csv, tmp_path / "run", {"tensorbord": True}
    )
    result = invoke("train", config)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown key 'monitor.tensorbord'" in lines[0], result.stderr
    assert "monitor.tensorboard" in lines[0]  # the allowed keys are listed
    assert not (tmp_path / "run").exists()


def test_monitor_overrides_are_typed():
    cfg = load_config(None, ["monitor.tensorboard=true", "monitor.mlflow_uri=file:///tmp/x"])
    assert cfg.monitor.tensorboard is True and cfg.monitor.mlflow is False
    assert cfg.monitor.mlflow_uri == "file:///tmp/x"
    with pytest.raises(TunesmithError, match="monitor.mlflow"):
        load_config(None, ["monitor.mlflow=[1]"])


def test_missing_package_names_the_extra(monkeypatch):
    real = trackers_module.importlib.util.find_spec
    monkeypatch.setattr(
        trackers_module.importlib.util,
        "find_spec",
        lambda name: None if name == "tensorboard" else real(name),
    )
    cfg = load_config(None, ["monitor.tensorboard=true"])
    with pytest.raises(TunesmithError) as err:
        check_installed(cfg.monitor)
    assert str(err.value) == (
        "monitor.tensorboard is on but tensorboard is not installed; "
        "pip install 'tunesmith[tracking]'"
    )
    check_installed(load_config(None, ["monitor.mlflow=true"]).monitor)  # mlflow is there


class Recorder:
    """A Tracker that keeps what it was sent."""

    def __init__(self):
        self.calls: list[tuple] = []

    def log_params(self, params):
        self.calls.append(("params", params))

    def log_metrics(self, step, metrics):
        self.calls.append(("metrics", step, metrics))

    def close(self, status):
        self.calls.append(("close", status))


def test_run_log_forwards_only_plotted_finite_fields(tmp_path):
    first, second = Recorder(), Recorder()
    log = RunLog(tmp_path / "log.jsonl", Trackers([first, second]))
    log.write(step=2, epoch=0.5, loss=1.25, lr=1e-3, tokens=80, tokens_per_s=400.0)
    log.write(step=3, skipped="non-finite loss")
    log.write(step=3, loss=None, lr=1e-3)
    log.write(step=4, val_loss=float("nan"))
    log.write(step=4, checkpoint="ckpt")
    log.close()
    assert (
        first.calls
        == second.calls
        == [
            ("metrics", 2, {"loss": 1.25, "lr": 1e-3, "tokens_per_s": 400.0}),
            ("metrics", 3, {"lr": 1e-3}),
        ]
    )
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 5  # the log keeps every row


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (RuntimeError("boom"), "FAILED"),
        (TunesmithError("bad"), "FAILED"),
        (KeyboardInterrupt(), "KILLED"),
        (TrainingInterrupted(3, None), "KILLED"),
    ],
)
def test_ending_status(exc, status):
    assert ending_status(exc) == status


def test_mlflow_tracker_truncates_long_params_and_records_status(workdir):
    run_dir = workdir / "runs" / "direct"
    run_dir.mkdir(parents=True)
    tracker = MlflowTracker(run_dir, None, "tiny")
    tracker.log_params(
        {"long": "x" * (MAX_PARAM_VAL_LENGTH + 50), **{f"k{i}": i for i in range(150)}}
    )
    tracker.close("KILLED")
    client, run = mlflow_run(run_dir)
    assert run.info.status == "KILLED"
    assert run.data.params["long"] == "x" * MAX_PARAM_VAL_LENGTH
    assert len(run.data.params) == 151  # more than one MLflow batch (100 params) of them


def test_a_failed_training_closes_the_mlflow_run_as_failed(
    workdir, tiny_model_dir, train_csv, monkeypatch
):
    def broken_train(*args, log, **kwargs):
        log.write(step=1, loss=2.5)
        raise RuntimeError("boom")

    monkeypatch.setattr(pipeline, "train", broken_train)
    output = workdir / "runs" / "broken"
    config = write_config(
        workdir / "broken.yaml",
        tiny_model_dir,
        train_csv,
        output,
        {"mlflow": True, "experiment": "tiny"},
    )
    with pytest.raises(RuntimeError, match="boom"):
        pipeline.run_training(load_config(config))
    client, run = mlflow_run(output)
    assert run.info.status == "FAILED"
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")] == [
        (1, 2.5)
    ]
