"""Training curves for outside tools: TensorBoard event files and an MLflow store.

Each tracker is opened only when its ``monitor.*`` switch is on and imports its package only
then, so tunesmith trains without them (``pip install 'tunesmith[tracking]'`` adds them).
The run log feeds them (``RunLog(trackers=...)``): one point per logged step.
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from tunesmith.config import Config, MonitorConfig
from tunesmith.config_io import to_dict
from tunesmith.errors import TunesmithError
from tunesmith.train.signals import TrainingInterrupted

#: Training-log fields sent to the trackers, with their TensorBoard tags (MLflow keeps the names).
METRIC_TAGS = {
    "loss": "train/loss",
    "lr": "train/lr",
    "tokens_per_s": "train/tokens_per_s",
    "val_loss": "val/loss",
}


class Tracker(Protocol):
    """Somewhere a run's config and curves are sent."""

    def log_params(self, params: dict[str, Any]) -> None:
        """Record the run's settings once (flat, dotted keys)."""

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
        """Record values measured at optimizer step ``step``."""

    def close(self, status: str) -> None:
        """End the run: status is FINISHED, FAILED or KILLED."""


class TensorBoardTracker:
    """Scalars under train/* and val/* in RUN/tensorboard; the config as a text summary."""

    def __init__(self, run_dir: Path):
        from torch.utils.tensorboard import SummaryWriter  # imports the tensorboard package

        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def log_params(self, params: dict[str, Any]) -> None:
        lines = [f"    {key}: {value}" for key, value in params.items()]  # indented = verbatim
        self.writer.add_text("config", "\n".join(lines))

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(METRIC_TAGS.get(name, name), value, step)

    def close(self, status: str) -> None:
        self.writer.close()


class MlflowTracker:
    """One MLflow run named after the run directory, in ``experiment`` of the store at ``uri``.

    Uses an explicit ``MlflowClient`` rather than mlflow's global active run, so a run that
    crashed cannot leave state behind for the next one in the same process.
    """

    def __init__(self, run_dir: Path, uri: str | None, experiment: str):
        uri = uri or (run_dir / "mlruns").resolve().as_uri()
        if urlparse(uri).scheme in ("", "file"):
            # MLflow 3 refuses the file store unless opted in; the light client (mlflow-skinny)
            # has no database backend, and a directory in the run is all a local run needs.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        # tunesmith works offline and sends nothing anywhere unless asked: no usage telemetry.
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(uri)
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
        run = self.client.create_run(experiment_id, run_name=run_dir.resolve().name)
        self.run_id = run.info.run_id

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH

        entries = [Param(key, str(value)[:MAX_PARAM_VAL_LENGTH]) for key, value in params.items()]
        for start in range(0, len(entries), MAX_PARAMS_TAGS_PER_BATCH):
            self.client.log_batch(
                self.run_id, params=entries[start : start + MAX_PARAMS_TAGS_PER_BATCH]
            )

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        entries = [Metric(name, float(value), stamp, step) for name, value in metrics.items()]
        self.client.log_batch(self.run_id, metrics=entries)

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status=status)


@dataclass
class Trackers:
    """Every enabled tracker behind one Tracker; with none enabled, every call does nothing."""

    members: list[Tracker] = field(default_factory=list)

    def log_params(self, params: dict[str, Any]) -> None:
        for member in self.members:
            member.log_params(params)

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
        for member in self.members:
            member.log_metrics(step, metrics)

    def close(self, status: str) -> None:
        for member in self.members:
            member.close(status)


def open_trackers(cfg: Config, run_dir: Path) -> Trackers:
    """The trackers ``cfg.monitor`` switches on, started for the run in ``run_dir``."""
    check_installed(cfg.monitor)
    members: list[Tracker] = []
    if cfg.monitor.tensorboard:
        members.append(TensorBoardTracker(run_dir))
    if cfg.monitor.mlflow:
        members.append(MlflowTracker(run_dir, cfg.monitor.mlflow_uri, cfg.monitor.experiment))
    return Trackers(members)


def check_installed(monitor: MonitorConfig) -> None:
    """Fail in one line when a switched-on tracker's package is missing."""
    for key, package in (("tensorboard", "tensorboard"), ("mlflow", "mlflow")):
        if getattr(monitor, key) and importlib.util.find_spec(package) is None:
            raise TunesmithError(
                f"monitor.{key} is on but {package} is not installed; "
                "pip install 'tunesmith[tracking]'"
            )


def config_params(cfg: Config) -> dict[str, Any]:
    """The config flattened to dotted keys (``train.learning_rate``), as trackers take params."""
    flat: dict[str, Any] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat[prefix + key] = value

    walk(to_dict(cfg), "")
    return flat


def tracked_metrics(row: dict[str, Any]) -> dict[str, float]:
    """The fields of a training-log row that trackers plot (missing or non-finite ones dropped)."""
    return {
        name: float(row[name])
        for name in METRIC_TAGS
        if isinstance(row.get(name), (int, float)) and math.isfinite(row[name])
    }


def ending_status(exc: BaseException) -> str:
    """How a tracker should close a run that ``exc`` ended: KILLED when stopped, else FAILED."""
    stopped = isinstance(exc, (KeyboardInterrupt, SystemExit, TrainingInterrupted))
    return "KILLED" if stopped else "FAILED"
