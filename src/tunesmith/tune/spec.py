"""A study, as the YAML and the flags describe it: base config, search space, objective, settings.

A study file is an ordinary config plus three sections only ``tunesmith tune`` reads:
``search`` (the space, ``tunesmith.tune.space``), ``objective`` and ``tune``
(``ObjectiveConfig`` and ``TuneConfig`` in ``tunesmith.config``). ``tunesmith train`` leaves
them out, so the same file trains the untuned base config.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.config import Config, ObjectiveConfig, TuneConfig
from tunesmith.config_io import STUDY_SECTIONS, build_config, from_dict, read_raw
from tunesmith.errors import TunesmithError
from tunesmith.tune.space import Param, parse_space

#: Validation-split metrics a study can optimise, per kind of task, and which way is better.
METRICS = {
    "classification": {
        "f1_macro": "maximize",
        "accuracy": "maximize",
        "precision_macro": "maximize",
        "recall_macro": "maximize",
    },
    "language model": {"loss": "minimize", "perplexity": "minimize"},
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")


@dataclass
class StudySpec:
    """Everything a worker needs to run trials of one study."""

    source: str
    raw: dict[str, Any]  # the run config as written (study sections left out); trials edit it
    cfg: Config  # the base (untuned) config
    params: list[Param]
    tune: TuneConfig
    objective: ObjectiveConfig
    out: Path  # the study directory: trial-NNNN/, study.sqlite, best.yaml, trials.csv, report
    storage_url: str
    study_name: str
    trials: int
    timeout_s: float | None
    startup_trials: int

    @property
    def default_storage(self) -> bool:
        """Whether the storage is the SQLite file in the study directory."""
        return self.tune.storage is None


def load_study(path: str | Path | None, overrides: list[str] | None = None) -> StudySpec:
    """Read and check a study: the config, its ``search``/``objective``/``tune`` sections."""
    raw, source = read_raw(path, overrides)
    cfg = build_config(raw, source)
    run_raw = {key: value for key, value in raw.items() if key not in STUDY_SECTIONS}
    tune = from_dict(TuneConfig, raw.get("tune") or {}, source, "tune.")
    objective = from_dict(ObjectiveConfig, raw.get("objective") or {}, source, "objective.")
    _check_tune(tune, source)
    params = parse_space(raw.get("search"), run_raw, source)
    if not cfg.data.validation and cfg.data.validation_fraction <= 0:
        raise TunesmithError(
            f"{source}: a study chooses by the validation split, and there is none; set "
            "data.validation or a data.validation_fraction above 0"
        )
    trials = study_size(tune, params, source)
    out = Path(cfg.output)
    storage = tune.storage or f"sqlite:///{(out / 'study.sqlite').resolve()}"
    return StudySpec(
        source=source,
        raw=run_raw,
        cfg=cfg,
        params=params,
        tune=tune,
        objective=objective,
        out=out,
        storage_url=storage,
        study_name=tune.study_name or out.resolve().name,
        trials=trials,
        timeout_s=parse_duration(tune.timeout, source) if tune.timeout else None,
        startup_trials=tune.startup_trials
        if tune.startup_trials is not None
        else min(10, max(2, trials // 4)),
    )


def resolve_objective(objective: ObjectiveConfig, task: str, source: str) -> tuple[str, str]:
    """(metric, direction) for a study on ``task``: the configured ones or the task's default."""
    kind = "classification" if task == "classification" else "language model"
    allowed = METRICS[kind]
    metric = objective.metric or next(iter(allowed))
    if metric not in allowed:
        raise TunesmithError(
            f"{source}: objective.metric {metric!r} is not measured for {task} runs; "
            f"choose one of: {', '.join(allowed)}"
        )
    return metric, objective.direction or allowed[metric]


def study_size(tune: TuneConfig, params: list[Param], source: str) -> int:
    """Trials the study runs in all: the grid's size for grid (at most), else ``tune.trials``."""
    if tune.search != "grid":
        return tune.trials or 20
    points = math.prod(len(p.grid(source)) for p in params)
    return min(tune.trials or points, points)


def grid_space(params: list[Param], source: str) -> dict[str, list[Any]]:
    """The GridSampler's search space: every parameter's grid points."""
    return {p.key: p.grid(source) for p in params}


def parse_duration(text: str, source: str) -> float:
    """Seconds in a duration such as 90, 90s, 30m, 2h or 1h30m."""
    compact = str(text).replace(" ", "").lower()
    parts = _DURATION.findall(compact)
    if not compact or "".join(a + b for a, b in parts) != compact:
        raise TunesmithError(
            f"{source}: tune.timeout {text!r} is not a duration; write e.g. 90s, 30m, 2h or 1h30m"
        )
    seconds = sum(float(amount) * _UNITS[unit or "s"] for amount, unit in parts)
    if seconds <= 0:
        raise TunesmithError(f"{source}: tune.timeout must be longer than 0")
    return seconds


def _check_tune(tune: TuneConfig, source: str) -> None:
    at_least = {
        "tune.trials": (tune.trials, 1),
        "tune.workers": (tune.workers, 1),
        "tune.startup_trials": (tune.startup_trials, 0),
        "tune.heartbeat_s": (tune.heartbeat_s, 1),
        "tune.max_retries": (tune.max_retries, 0),
    }
    for key, (value, low) in at_least.items():
        if value is not None and value < low:
            raise TunesmithError(f"{source}: {key} must be at least {low}, got {value}")


@dataclass
class StudyAddress:
    """Where a study lives, for ``--status``: no search space needed."""

    storage_url: str
    study_name: str | None  # None: the storage's only study
    sqlite_file: Path | None  # the default storage's file (must exist to be read)


def study_address(path: str | Path | None, overrides: list[str] | None) -> StudyAddress:
    """The storage and name of the study a config (or bare --out / --storage flags) points at."""
    raw, source = read_raw(path, overrides)
    tune = from_dict(TuneConfig, raw.get("tune") or {}, source, "tune.")
    output = raw.get("output")
    if tune.storage:
        name = tune.study_name or (Path(str(output)).resolve().name if output else None)
        return StudyAddress(tune.storage, name, None)
    if not output:
        raise TunesmithError("tune --status: name the study: give CONFIG, --out DIR or --storage")
    out = Path(str(output))
    file = (out / "study.sqlite").resolve()
    return StudyAddress(f"sqlite:///{file}", tune.study_name or out.resolve().name, file)
