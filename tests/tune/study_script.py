"""Cheap synthetic studies for the tuner's tests, and a worker process that runs one.

    python study_script.py STUDY_YAML WORKER_INDEX
    python study_script.py STUDY_YAML --worker WORKER_INDEX   (as ``tune --workers`` starts one)

runs trials of the study in STUDY_YAML with ``synthetic_train`` in place of real training (each
trial sleeps TUNESMITH_TEST_SLEEP seconds, default 0). The tests import this file by path too,
so the worker processes and the test process score trials the same way.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import yaml
from rich.console import Console

from tunesmith.tune.objective import Objective
from tunesmith.tune.run import Hooks
from tunesmith.tune.spec import load_study
from tunesmith.tune.study import open_study, run_worker

#: The synthetic optimum: learning rate 1e-4, batch size 16, 2 epochs, LoRA rank 8.
BEST_LOG_LR, BEST_BATCH, BEST_EPOCHS, BEST_R = -4.0, 16, 2.0, 8


def score(cfg) -> float:
    """A smooth function of the config with its maximum (0) at the synthetic optimum."""
    t = cfg.train
    return -(
        (math.log10(t.learning_rate or 1e-3) - BEST_LOG_LR) ** 2
        + ((t.batch_size - BEST_BATCH) / 16) ** 2
        + (t.epochs - BEST_EPOCHS) ** 2 / 4
        + ((cfg.lora.r - BEST_R) / 16) ** 2
    )


def synthetic_train(cfg, on_validation) -> dict:
    """Stand-in for a training run: reports a validation loss per epoch, returns metrics."""
    time.sleep(float(os.environ.get("TUNESMITH_TEST_SLEEP", "0")))
    value = score(cfg)
    for epoch in range(1, int(math.ceil(cfg.train.epochs)) + 1):
        on_validation(epoch * 10, {"val_loss": 1.0 - value / epoch, "epoch": float(epoch)})
    return {"validation": {"f1_macro": value}}


def write_study(path: Path, space: dict, **tune) -> Path:
    """A study YAML searching ``space``, with ``tune`` settings, its output beside it."""
    study = {
        "output": str(path.parent / "study"),
        "data": {"task": "classification"},
        "search": space,
        "objective": {"metric": "f1_macro", "direction": "maximize"},
        "tune": {"heartbeat_s": 1, **tune},
    }
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    return path


def hooks() -> Hooks:
    """Synthetic training, no estimate."""
    return Hooks(train=synthetic_train, estimate=lambda cfg: None)


def main() -> None:
    spec = load_study(sys.argv[1])
    study = open_study(spec, "f1_macro", "maximize", worker=int(sys.argv[-1]))
    objective = Objective(spec, "f1_macro", "maximize", synthetic_train)

    def printed(study, trial) -> None:
        print(f"trial {trial.number} {trial.state.name} {trial.params}", flush=True)

    run_worker(study, objective, spec.trials, None, printed)
    Console().print("worker done")


if __name__ == "__main__":
    main()
