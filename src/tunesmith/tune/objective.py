"""One trial: its config, its training run (a normal run in OUT/trial-NNNN), its score.

The training itself is injected (``TrainFn``): the real one is ``train_trial`` (the whole
pipeline, recorded in the run registry); tests pass cheap synthetic functions.
"""

from __future__ import annotations

import gc
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from tunesmith.config import Config
from tunesmith.config_io import build_config
from tunesmith.registry.record import failure_of
from tunesmith.train.signals import TrainingInterrupted
from tunesmith.tune.space import apply_params
from tunesmith.tune.spec import StudySpec

#: Called at each validation with (optimizer step, {"val_loss": ..., "epoch": ...}).
OnValidation = Callable[[int, dict], None]
#: Train one trial's config, reporting each validation; returns the run's metrics.json.
TrainFn = Callable[[Config, OnValidation], dict]


class PrunedTrial(optuna.TrialPruned):
    """The pruner stopped this trial; the registry records the run as "pruned"."""

    run_status = "pruned"


class TrialFailed(Exception):
    """A trial ended in an error (its reason is stored on the trial); the study goes on."""


def train_trial(cfg: Config, on_validation: OnValidation) -> dict:
    """The real trial: ``run_training`` with pruning reports and validation-split scoring."""
    from tunesmith.pipeline import run_training

    try:
        run_dir = run_training(cfg, on_validation=on_validation, score_validation=True)
    finally:
        gc.collect()  # the trial's model, optimizer and batches go before the next trial's come
    return json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))


def trial_config(spec: StudySpec, values: dict[str, Any], run_dir: Path) -> Config:
    """The base config with the trial's values, writing to ``run_dir``.

    The base model is scored once per study at most: every trial would measure the same thing.
    """
    raw = apply_params(spec.raw, {**values, "output": str(run_dir), "eval.base": False})
    return build_config(raw, f"{spec.source} (trial values {values})")


def objective_value(metrics: dict, metric: str) -> float:
    """The trial's score: ``metric`` of the tuned model on the validation split."""
    section = metrics.get("validation") or {}
    value = section.get(metric)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"the run measured no finite validation {metric} (got {value!r})")
    return float(value)


@dataclass
class Objective:
    """The function Optuna calls for each trial of ``spec``'s study."""

    spec: StudySpec
    metric: str
    direction: str
    train: TrainFn = field(default=train_trial)

    def __call__(self, trial: optuna.Trial) -> float:
        values = {p.key: p.suggest(trial) for p in self.spec.params}
        run_dir = self.spec.out / f"trial-{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("reason", None)  # a retried trial inherits its first try's reason
        try:
            cfg = trial_config(self.spec, values, run_dir)
            metrics = self.train(cfg, self.reporter(trial))
            return objective_value(metrics, self.metric)
        except optuna.TrialPruned as exc:
            trial.set_user_attr("reason", str(exc))
            raise
        except (KeyboardInterrupt, TrainingInterrupted):  # Ctrl-C, SIGTERM: stop the study
            _interrupted(trial, self.spec.tune.max_retries)
            raise
        except Exception as exc:
            status, reason = failure_of(exc)
            trial.set_user_attr("status", status)
            trial.set_user_attr("reason", reason)
            raise TrialFailed(reason) from exc

    def reporter(self, trial: optuna.Trial) -> OnValidation:
        """The ``on_validation`` callback: report the validation loss, prune when told to.

        The value reported is oriented like the objective (negated when maximising), so the
        pruner compares in the right direction; its step is the training progress in hundredths
        of an epoch, the same point for trials with different batch sizes.
        """

        def report(step: int, metrics: dict) -> None:
            loss = float(metrics["val_loss"])
            if not math.isfinite(loss):
                return
            position = max(1, round(100 * float(metrics.get("epoch", step))))
            trial.report(loss if self.direction == "minimize" else -loss, position)
            if trial.should_prune():
                raise PrunedTrial(
                    f"pruned at step {step} (epoch {position / 100:g}): validation loss "
                    f"{loss:.4f} is worse than the other trials' at that point"
                )

        return report


def _interrupted(trial: optuna.Trial, max_retries: int) -> None:
    """Queue the interrupted trial's values again, so resuming the study runs it anew."""
    trial.set_user_attr("reason", "interrupted; it runs again when the study resumes")
    frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retries)
    retry(trial.study, frozen)
