"""Pruning: the tuner stops a poor trial from the validation losses training reports."""

from __future__ import annotations

import optuna
import pytest
import yaml
from rich.console import Console

from tunesmith.config_io import load_config
from tunesmith.registry import Registry
from tunesmith.tune.objective import Objective, PrunedTrial
from tunesmith.tune.spec import load_study
from tunesmith.tune.study import make_pruner

SPACE = {"train.learning_rate": {"type": "loguniform", "low": 1e-6, "high": 1e-2}}
GOOD, BAD = 1e-4, 1e-2  # the synthetic objective peaks at 1e-4


@pytest.mark.parametrize("pruner", ["median", "hyperband"])
def test_a_bad_trial_is_pruned_at_its_first_validation(tmp_path, synthetic, pruner):
    path = synthetic.write_study(tmp_path / "s.yaml", SPACE, pruner=pruner, startup_trials=2)
    spec = load_study(path)
    # A fixed name: Hyperband assigns trials to brackets by a hash of it.
    study = optuna.create_study(study_name="s", direction="maximize", pruner=make_pruner(spec))
    for value in (GOOD * 2, GOOD * 1.3, GOOD, BAD):  # each better than the last, then a bad one
        study.enqueue_trial({"train.learning_rate": value})
    reports: list[tuple[int, dict]] = []

    def recording(cfg, on_validation):
        def spy(step, metrics):
            reports.append((step, metrics))
            on_validation(step, metrics)

        return synthetic.synthetic_train(cfg, spy)

    study.optimize(Objective(spec, "f1_macro", "maximize", recording), n_trials=4)
    states = [t.state for t in study.trials]
    assert states[:3] == [optuna.trial.TrialState.COMPLETE] * 3
    assert states[3] == optuna.trial.TrialState.PRUNED
    bad = study.trials[3]
    assert list(bad.intermediate_values) == [100]  # stopped at epoch 1 of 2
    assert "pruned at step 10 (epoch 1)" in bad.user_attrs["reason"]
    assert len(reports) == 3 * 2 + 1


def test_without_a_pruner_the_bad_trial_runs_to_the_end(tmp_path, synthetic):
    path = synthetic.write_study(tmp_path / "s.yaml", SPACE, pruner="none", startup_trials=2)
    spec = load_study(path)
    study = optuna.create_study(direction="maximize", pruner=make_pruner(spec))
    for value in (GOOD * 1.5, GOOD / 1.5, GOOD, BAD):
        study.enqueue_trial({"train.learning_rate": value})
    study.optimize(Objective(spec, "f1_macro", "maximize", synthetic.synthetic_train), n_trials=4)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def test_minimising_reports_the_loss_itself_and_maximising_its_negation(tmp_path, synthetic):
    spec = load_study(synthetic.write_study(tmp_path / "s.yaml", SPACE))
    for direction, sign in (("minimize", 1), ("maximize", -1)):
        study = optuna.create_study(direction=direction)
        trial = study.ask()
        Objective(spec, "loss", direction).reporter(trial)(5, {"val_loss": 2.0, "epoch": 0.5})
        assert study.trials[0].intermediate_values == {50: sign * 2.0}


def test_pruning_a_real_run_stops_its_training_and_records_it_as_pruned(
    tmp_path, tiny_model_dir, sentiment_csv, registry_home
):
    """The pipeline passes on_validation into the loop; raising from it ends the run."""
    from tunesmith.pipeline import run_training

    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": str(tiny_model_dir),
                "output": str(tmp_path / "run"),
                "data": {"train": str(sentiment_csv)},
                "train": {"epochs": 3, "batch_size": 8, "precision": "fp32", "max_length": 32},
                "eval": {"base": False},
            }
        ),
        encoding="utf-8",
    )
    seen: list[tuple[int, dict]] = []

    def prune_at_once(step: int, metrics: dict) -> None:
        seen.append((step, metrics))
        raise PrunedTrial(f"pruned at step {step}")

    with pytest.raises(PrunedTrial):
        run_training(load_config(config), on_validation=prune_at_once, console=Console(quiet=True))
    assert len(seen) == 1
    step, metrics = seen[0]
    assert metrics["epoch"] == pytest.approx(1.0) and metrics["val_loss"] > 0  # end of epoch 1
    assert not (tmp_path / "run" / "metrics.json").exists()
    (row,) = [r for r in Registry().list(limit=50) if r.run_dir == str(tmp_path / "run")]
    assert row.status == "pruned" and f"pruned at step {step}" in row.reason
    log = (tmp_path / "run" / "train_log.jsonl").read_text(encoding="utf-8")
    assert f'"step": {step + 1},' not in log  # no step after the pruned validation
