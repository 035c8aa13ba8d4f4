"""Grid, random and Bayesian search on cheap synthetic objectives (no model is trained)."""

from __future__ import annotations

import csv
import itertools
import statistics

import optuna
import pytest
import torch
from rich.console import Console

from tunesmith.train.guard import TrainingDiverged
from tunesmith.tune.objective import Objective, TrialFailed, trial_config
from tunesmith.tune.run import Hooks, tune
from tunesmith.tune.spec import load_study
from tunesmith.tune.study import make_pruner, make_sampler, open_study, run_worker

GRID = {
    "train.learning_rate": {
        "type": "loguniform",
        "low": 1e-5,
        "high": 1e-3,
        "values": [1e-5, 1e-4, 1e-3],
    },
    "train.batch_size": {"type": "choice", "values": [8, 16]},
}
QUIET = Console(stderr=True, quiet=True)


def test_grid_covers_every_combination_exactly_once(tmp_path, synthetic):
    path = synthetic.write_study(tmp_path / "s.yaml", GRID, search="grid", trials=100)
    study = tune(load_study(path), QUIET, synthetic.hooks(), task="classification")
    points = [(t.params["train.learning_rate"], t.params["train.batch_size"]) for t in study.trials]
    assert sorted(points) == sorted(itertools.product([1e-5, 1e-4, 1e-3], [8, 16]))
    rows = list(csv.DictReader((tmp_path / "study" / "trials.csv").open(encoding="utf-8")))
    assert len(rows) == 6 and {r["run_dir"] for r in rows} == {
        str(tmp_path / "study" / f"trial-{n:04d}") for n in range(6)
    }
    best = max(study.trials, key=lambda t: t.value if t.value is not None else -1e9)
    assert best.params == {"train.learning_rate": 1e-4, "train.batch_size": 16}


def params_of(tmp_path, synthetic, name: str, seed: int) -> list[dict]:
    space = {key: value for key, value in GRID.items() if key != "train.learning_rate"}
    space["train.learning_rate"] = {"type": "loguniform", "low": 1e-5, "high": 1e-3}
    space["lora.r"] = {"type": "int", "low": 2, "high": 32}
    path = synthetic.write_study(tmp_path / f"{name}.yaml", space, search="random", seed=seed)
    spec = load_study(path, [f"output={tmp_path / name}", "tune.trials=4", "tune.pruner=none"])
    study = open_study(spec, "f1_macro", "maximize")
    run_worker(study, Objective(spec, "f1_macro", "maximize", synthetic.synthetic_train), 4)
    return [t.params for t in study.trials]


def test_random_search_is_reproducible_by_seed(tmp_path, synthetic):
    first = params_of(tmp_path, synthetic, "a", seed=7)
    assert len(first) == 4 and len({str(p) for p in first}) == 4
    assert params_of(tmp_path, synthetic, "b", seed=7) == first
    assert params_of(tmp_path, synthetic, "c", seed=8) != first


def trials_to_optimum(tmp_path, synthetic, search: str, seed: int, limit: int = 100) -> int:
    """Trials a sampler needs to come within 0.02 of the synthetic optimum (in memory: fast)."""
    space = {
        "train.learning_rate": {"type": "loguniform", "low": 1e-6, "high": 1e-1},
        "train.epochs": {"type": "uniform", "low": 0.5, "high": 6.0},
    }
    path = synthetic.write_study(tmp_path / "opt.yaml", space, search=search, seed=seed)
    spec = load_study(path, ["tune.startup_trials=5"])
    study = optuna.create_study(
        direction="maximize", sampler=make_sampler(spec, 0, 0), pruner=make_pruner(spec)
    )
    objective = Objective(spec, "f1_macro", "maximize", synthetic.synthetic_train)
    optimum = {
        "train.learning_rate": 10**synthetic.BEST_LOG_LR,
        "train.epochs": synthetic.BEST_EPOCHS,
    }
    best = synthetic.score(trial_config(spec, optimum, tmp_path / "best"))
    for n in range(1, limit + 1):
        study.optimize(objective, n_trials=1)
        if study.best_value >= best - 0.02:
            return n
    return limit


def test_bayesian_search_finds_the_optimum_in_fewer_trials_than_random(tmp_path, synthetic):
    seeds = range(6)
    bayes = [trials_to_optimum(tmp_path, synthetic, "bayes", s) for s in seeds]
    random = [trials_to_optimum(tmp_path, synthetic, "random", s) for s in seeds]
    assert statistics.mean(bayes) < statistics.mean(random), (bayes, random)


@pytest.mark.parametrize(
    "error, reason",
    [
        (TrainingDiverged("training diverged at step 3: the loss was not finite"), "diverged"),
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"), "out of memory"),
        (ValueError("something broke"), "ValueError: something broke"),
    ],
)
def test_a_failing_trial_is_recorded_with_its_reason_and_the_study_goes_on(
    tmp_path, synthetic, error, reason
):
    def flaky(cfg, on_validation):
        if cfg.train.batch_size == 8:
            raise error
        return synthetic.synthetic_train(cfg, on_validation)

    space = {"train.batch_size": {"type": "choice", "values": [8, 16, 32]}}
    path = synthetic.write_study(tmp_path / "s.yaml", space, search="grid", pruner="none")
    study = tune(
        load_study(path), QUIET, Hooks(train=flaky, estimate=lambda cfg: None), "classification"
    )
    states = {t.params["train.batch_size"]: t.state.name for t in study.trials}
    assert states == {8: "FAIL", 16: "COMPLETE", 32: "COMPLETE"}
    rows = {
        r["train.batch_size"]: r for r in csv.DictReader((tmp_path / "study" / "trials.csv").open())
    }
    assert rows["8"]["state"] == "fail" and reason in rows["8"]["reason"]
    assert (tmp_path / "study" / "best.yaml").is_file()
    assert issubclass(TrialFailed, Exception)
