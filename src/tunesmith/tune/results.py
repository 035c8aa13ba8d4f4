"""What a study leaves in its directory: best.yaml, trials.csv, and its progress in numbers."""

from __future__ import annotations

import csv
import time
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from tunesmith.config_io import to_dict
from tunesmith.tune.objective import trial_config
from tunesmith.tune.spec import StudySpec
from tunesmith.tune.study import best_trial, trials_left

TRIAL_COLUMNS = ["number", "state", "objective", "duration_s", "run_dir", "reason"]


def write_trials_csv(study: optuna.Study, path: Path) -> Path:
    """One row a trial: number, state, objective, duration, run directory, reason, parameters."""
    trials = study.get_trials(deepcopy=False)
    keys = sorted({key for t in trials for key in t.params})
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*TRIAL_COLUMNS, *keys])
        for t in trials:
            writer.writerow([*trial_row(t), *(t.params.get(key, "") for key in keys)])
    return path


def trial_row(t: FrozenTrial) -> list[Any]:
    """The fixed columns of ``t``'s row in trials.csv."""
    duration = t.duration.total_seconds() if t.duration is not None else None
    return [
        t.number,
        t.state.name.lower(),
        objective_of(t) if objective_of(t) is not None else "",
        "" if duration is None else round(duration, 1),
        t.user_attrs.get("run_dir", ""),
        t.user_attrs.get("reason") or "",
    ]


def write_best_yaml(study: optuna.Study, spec: StudySpec, path: Path) -> Path | None:
    """The best trial's whole config, ready for ``tunesmith train best.yaml``; None if none."""
    best = best_trial(study)
    if best is None:
        return None
    cfg = trial_config(spec, best.params, spec.out / "best")
    cfg.eval.base = spec.cfg.eval.base  # trials skip the base model; a final run may not
    metric = study.user_attrs.get("metric", "objective")
    header = (
        f"# Best trial {best.number} of study {study.study_name!r}: validation {metric} "
        f"{best.value:.6g}\n# run: {best.user_attrs.get('run_dir', '?')}\n"
        f"# Train it with: tunesmith train {path}\n"
    )
    body = yaml.safe_dump(to_dict(cfg), sort_keys=False)
    path.write_text(header + body, encoding="utf-8")
    return path


def progress(study: optuna.Study, total: int, started: float | None = None) -> dict[str, Any]:
    """The study in numbers: trials by state, the best so far, time per trial and time left."""
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name.lower() for t in trials)
    durations = [t.duration.total_seconds() for t in trials if t.duration is not None]
    left = max(trials_left(trials, total), 0) + states.get("waiting", 0)
    mean = sum(durations) / len(durations) if durations else None
    best = best_trial(study)
    return {
        "study": study.study_name,
        "metric": study.user_attrs.get("metric"),
        "direction": study.direction.name.lower(),
        "trials": total,
        "states": dict(states),
        "left": left,
        "mean_trial_s": round(mean, 1) if mean is not None else None,
        "best": None
        if best is None
        else {
            "number": best.number,
            "value": best.value,
            "params": best.params,
            "run_dir": best.user_attrs.get("run_dir"),
        },
        "elapsed_s": round(time.time() - started, 1) if started else None,
    }


def summary_line(info: dict[str, Any]) -> str:
    """One line of progress: done/total, states, the best so far and the time left."""
    states = ", ".join(f"{n} {s}" for s, n in sorted(info["states"].items()))
    done = info["trials"] - info["left"] - info["states"].get("running", 0)
    line = f"{max(done, 0)}/{info['trials']} trials ({states or 'none yet'})"
    best = info["best"]
    if best is not None:
        line += f"; best {info['metric']} {best['value']:.4g} (trial {best['number']})"
    if info["mean_trial_s"] is not None and info["left"]:
        line += f"; about {format_seconds(info['mean_trial_s'] * info['left'])} left"
    return line


def format_seconds(seconds: float) -> str:
    """A duration for people: 45 s, 12 min, 2.5 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def objective_of(trial: FrozenTrial) -> float | None:
    """A completed trial's objective; None otherwise (Optuna gives a pruned trial the last
    value it reported, a validation loss, which is no objective)."""
    return trial.value if trial.state == TrialState.COMPLETE else None
