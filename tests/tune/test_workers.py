"""Workers sharing one study: no grid point twice, and a killed worker's study resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
from optuna.trial import TrialState

from tunesmith.tune.objective import Objective
from tunesmith.tune.spec import load_study
from tunesmith.tune.study import open_study, run_worker

SCRIPT = Path(__file__).with_name("study_script.py")
GRID = {
    "train.batch_size": {"type": "choice", "values": [4, 8, 16, 32]},
    "train.epochs": {"type": "int", "low": 1, "high": 3},
}


def start_worker(study_yaml: Path, index: int, sleep: float) -> subprocess.Popen:
    env = {**os.environ, "TUNESMITH_TEST_SLEEP": str(sleep)}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(study_yaml), str(index)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_workers_never_run_the_same_grid_point_twice(tmp_path, synthetic):
    path = synthetic.write_study(tmp_path / "s.yaml", GRID, search="grid", pruner="none")
    spec = load_study(path)
    open_study(spec, "f1_macro", "maximize")  # created once, as `tunesmith tune` does first
    workers = [start_worker(path, index, sleep=0.2) for index in (0, 1)]
    outputs = [w.communicate(timeout=240)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    study = optuna.load_study(study_name=spec.study_name, storage=spec.storage_url)
    points = Counter((t.params["train.batch_size"], t.params["train.epochs"]) for t in study.trials)
    assert len(study.trials) == 12 and set(points.values()) == {1}
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert all("trial" in out for out in outputs), outputs  # both did work


def wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.2)


def test_a_killed_study_resumes_without_losing_finished_trials(tmp_path, synthetic):
    space = {"train.learning_rate": {"type": "loguniform", "low": 1e-5, "high": 1e-3}}
    path = synthetic.write_study(
        tmp_path / "s.yaml", space, search="random", trials=5, pruner="none"
    )
    spec = load_study(path)
    study = open_study(spec, "f1_macro", "maximize")

    def complete() -> list:
        return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))

    worker = start_worker(path, 0, sleep=1.5)
    wait_for(lambda: len(complete()) >= 2)
    # Killed while training (its heartbeat beating); test_a_trial_killed_before_... covers
    # a kill between creating a trial and starting it.
    wait_for(
        lambda: any(
            "run_dir" in t.user_attrs
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        )
    )
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    before = {t.number: (t.params, t.value) for t in complete()}
    (killed,) = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))

    time.sleep(3 * spec.tune.heartbeat_s + 0.5)  # the killed trial's heartbeat goes stale
    resumed = open_study(spec, "f1_macro", "maximize")
    run_worker(resumed, Objective(spec, "f1_macro", "maximize", synthetic.synthetic_train), 5)

    trials = resumed.get_trials(deepcopy=False)
    after = {t.number: (t.params, t.value) for t in trials if t.state == TrialState.COMPLETE}
    assert all(after[n] == before[n] for n in before)  # nothing finished was lost or redone
    assert len(after) == 5
    stale = trials[killed.number]
    assert stale.state == TrialState.FAIL
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params


def test_an_interrupted_trial_runs_again_when_the_study_resumes(tmp_path, synthetic):
    """Ctrl-C or SIGTERM (TrainingInterrupted) stops the study; its trial is queued again."""
    from tunesmith.train.signals import TrainingInterrupted

    path = synthetic.write_study(tmp_path / "s.yaml", GRID, search="grid", trials=4, pruner="none")
    spec = load_study(path)
    calls = []

    def interrupted_once(cfg, on_validation):
        calls.append(cfg.output)
        if len(calls) == 2:
            raise TrainingInterrupted(3, None)
        return synthetic.synthetic_train(cfg, on_validation)

    study = open_study(spec, "f1_macro", "maximize")
    objective = Objective(spec, "f1_macro", "maximize", interrupted_once)
    try:
        run_worker(study, objective, spec.trials)
    except TrainingInterrupted:
        pass
    else:
        raise AssertionError("the interruption must stop the study")
    stopped = study.trials[1]
    assert stopped.state == TrialState.FAIL and "interrupted" in stopped.user_attrs["reason"]

    run_worker(open_study(spec, "f1_macro", "maximize"), objective, spec.trials)
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 4
    (retry,) = [t for t in done if t.system_attrs.get("failed_trial") == stopped.number]
    assert retry.params == stopped.params and retry.user_attrs["reason"] is None
    assert len({(t.params["train.batch_size"], t.params["train.epochs"]) for t in done}) == 4


def test_workers_option_starts_more_processes_on_the_same_study(tmp_path, synthetic, monkeypatch):
    """`--workers 2`: this process and one more, its log in OUT/worker-1.log."""
    from rich.console import Console

    from tunesmith.tune.run import tune, worker_argv

    monkeypatch.setenv("TUNESMITH_TEST_SLEEP", "1.0")  # long enough for the second to start
    src = str(Path(__file__).resolve().parents[2] / "src")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    path = synthetic.write_study(tmp_path / "s.yaml", GRID, search="grid", workers=2, pruner="none")
    command = [sys.executable, str(SCRIPT), str(path)]  # a worker scoring synthetically
    study = tune(
        load_study(path), Console(quiet=True), synthetic.hooks(), "classification", command
    )
    points = Counter((t.params["train.batch_size"], t.params["train.epochs"]) for t in study.trials)
    assert len(study.trials) == 12 and set(points.values()) == {1}
    log = (tmp_path / "study" / "worker-1.log").read_text(encoding="utf-8")
    assert "trial" in log and "worker done" in log
    by_worker = sum(line.startswith("trial") for line in log.splitlines())
    assert 0 < by_worker < 12

    argv = worker_argv(path, ["tune.trials=3", "output=x"])
    assert argv[1:] == ["-m", "tunesmith.cli", "tune", str(path), "--set", "tune.trials=3",
                        "--set", "output=x"]  # fmt: skip


def test_a_trial_killed_before_its_first_heartbeat_is_requeued(tmp_path, synthetic):
    """Optuna's stale check skips a running trial that never beat; the worker loop does not."""
    path = synthetic.write_study(tmp_path / "s.yaml", GRID, search="grid", trials=3, pruner="none")
    spec = load_study(path)
    study = open_study(spec, "f1_macro", "maximize")
    orphan = study.ask()  # created, then its worker "died": running, no heartbeat, no run_dir
    time.sleep(3 * spec.tune.heartbeat_s + 0.5)
    run_worker(study, Objective(spec, "f1_macro", "maximize", synthetic.synthetic_train), 3)
    trials = study.get_trials(deepcopy=False)
    assert trials[orphan.number].state == TrialState.FAIL
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 3 and not [t for t in trials if t.state == TrialState.RUNNING]
    assert any(t.system_attrs.get("failed_trial") == orphan.number for t in done)
    assert len({(t.params["train.batch_size"], t.params["train.epochs"]) for t in done}) == 3
