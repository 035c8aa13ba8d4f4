"""``tunesmith tune``, top to bottom: open the study, say how long it will take, run the trials
(here and in ``--workers`` - 1 more processes), then write best.yaml, trials.csv and the report.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial
from rich.console import Console

from tunesmith.config import Config
from tunesmith.report.study import write_study_report
from tunesmith.tune.objective import Objective, TrainFn, train_trial
from tunesmith.tune.results import (
    format_seconds,
    objective_of,
    progress,
    summary_line,
    write_best_yaml,
    write_trials_csv,
)
from tunesmith.tune.spec import StudySpec, resolve_objective
from tunesmith.tune.study import open_study, run_worker, safe_url


def estimate_trial_s(cfg: Config) -> float | None:
    """Predicted training seconds of one trial at ``cfg`` (``tunesmith estimate``'s figure)."""
    from tunesmith.pipeline import estimate_run

    return estimate_run(cfg).predicted_train_runtime_s


@dataclass
class Hooks:
    """The parts of a study that tests replace with cheap stand-ins."""

    train: TrainFn = field(default=train_trial)
    estimate: Callable[[Config], float | None] = field(default=estimate_trial_s)


def study_task(spec: StudySpec) -> str:
    """The study's task; reading the data here makes a bad file fail before any trial."""
    from tunesmith.data.split import make_splits

    return make_splits(spec.cfg.data, spec.cfg.train.seed).task


def tune(
    spec: StudySpec,
    console: Console,
    hooks: Hooks | None = None,
    task: str | None = None,
    worker_command: list[str] | None = None,
) -> optuna.Study:
    """Run (or resume) the study of ``spec`` to its end and write its files; returns the study.

    ``worker_command`` starts one more worker process (``--workers``); ``task`` skips reading
    the data to find it.
    """
    hooks = hooks or Hooks()
    metric, direction = resolve_objective(spec.objective, task or study_task(spec), spec.source)
    study = open_study(spec, metric, direction)
    started = time.time()
    deadline = started + spec.timeout_s if spec.timeout_s else None
    announce(spec, study, hooks, console)
    children = start_workers(spec, worker_command, deadline)
    objective = Objective(spec, metric, direction, hooks.train)
    try:
        run_worker(study, objective, spec.trials, deadline, trial_printer(spec, console, started))
    finally:
        stop_workers(children, console)
    finish(study, spec, console)
    return study


def tune_worker(spec: StudySpec, index: int, console: Console, hooks: Hooks | None = None) -> int:
    """One extra worker of a running study (``--workers``): trials only; returns how many."""
    hooks = hooks or Hooks()
    metric, direction = resolve_objective(spec.objective, study_task(spec), spec.source)
    study = open_study(spec, metric, direction, worker=index)
    deadline = time.time() + spec.timeout_s if spec.timeout_s else None
    objective = Objective(spec, metric, direction, hooks.train)
    return run_worker(study, objective, spec.trials, deadline, trial_printer(spec, console))


def announce(spec: StudySpec, study: optuna.Study, hooks: Hooks, console: Console) -> None:
    """Say what the study is and how long it is expected to take, before any trial runs."""
    info = progress(study, spec.trials)
    t = spec.tune
    console.print(
        f"study {study.study_name!r} in {safe_url(spec.storage_url)}: {t.search} search, "
        f"{spec.trials} trials, {t.workers} worker(s), pruner {t.pruner}; "
        f"{info['direction']} validation {info['metric']}"
    )
    if len(study.trials):
        console.print(f"resuming: {summary_line(info)}")
    per_trial, basis = info["mean_trial_s"], "the trials run so far"
    if per_trial is None:
        console.print("timing a few training steps to estimate the study's length ...")
        per_trial, basis = hooks.estimate(spec.cfg), "the base config's training alone"
    if per_trial is None or not info["left"]:
        return
    rounds = -(-info["left"] // t.workers)  # trials run side by side on the workers
    expected = rounds * per_trial
    line = (
        f"expected: about {format_seconds(expected)} ({info['left']} trials x "
        f"~{format_seconds(per_trial)}, from {basis}, on {t.workers} worker(s))"
    )
    if spec.timeout_s and spec.timeout_s < expected:
        fit = int(spec.timeout_s // per_trial) * t.workers
        line += f"; the {t.timeout} timeout allows about {fit} of them"
    console.print(line)


def trial_printer(spec: StudySpec, console: Console, started: float | None = None):
    """The after-trial callback: one line on the trial, then the study's progress."""

    def printed(study: optuna.Study, trial: FrozenTrial) -> None:
        value = objective_of(trial)
        outcome = f"{value:.4g}" if value is not None else trial.state.name.lower()
        reason = trial.user_attrs.get("reason")
        console.print(
            f"trial {trial.number} {outcome}" + (f" ({reason})" if reason else ""),
            highlight=False,
        )
        console.print(summary_line(progress(study, spec.trials, started)), highlight=False)

    return printed


def start_workers(
    spec: StudySpec, command: list[str] | None, deadline: float | None
) -> list[subprocess.Popen]:
    """Start workers 1..K-1 (this process is worker 0), logging to OUT/worker-N.log.

    The CPU cores are split between the workers: K processes each using every core would
    only fight over them.
    """
    count = spec.tune.workers
    if count <= 1 or command is None:
        return []
    threads = max(1, (os.cpu_count() or 1) // count)
    _set_torch_threads(threads)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    extra = []
    if deadline is not None:
        extra = ["--set", f"tune.timeout={max(1, int(deadline - time.time()))}s"]
    children = []
    for index in range(1, count):
        log = (spec.out / f"worker-{index}.log").open("w", encoding="utf-8")
        children.append(
            subprocess.Popen(
                [*command, *extra, "--worker", str(index)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        )
        log.close()  # the child holds its own handle
    return children


def stop_workers(children: list[subprocess.Popen], console: Console) -> None:
    """Wait for the other workers; on Ctrl-C stop them too (their trials run again later)."""
    try:
        for child in children:
            child.wait()
    except KeyboardInterrupt:
        for child in children:
            child.terminate()
        for child in children:
            child.wait()
        raise
    failed = [c for c in children if c.returncode]
    if failed:
        console.print(
            f"[yellow]warning:[/] {len(failed)} worker(s) ended with an error; see worker-N.log"
        )


def finish(study: optuna.Study, spec: StudySpec, console: Console) -> dict[str, Path | None]:
    """Write trials.csv, best.yaml and report.html into the study directory; say where."""
    spec.out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path | None] = {
        "best config": write_best_yaml(study, spec, spec.out / "best.yaml"),
        "trials": write_trials_csv(study, spec.out / "trials.csv"),
    }
    report = write_study_report(study, spec.out, files)
    best = files["best config"]
    if best is not None:
        console.print(f"best config: {best} (train it: tunesmith train {best})")
    else:
        console.print("[yellow]no trial completed[/]: no best.yaml; see trials.csv for why")
    console.print(f"trials: {files['trials']}; report: {report}")
    return {**files, "report": report}


def worker_argv(config: Path | None, overrides: list[str]) -> list[str]:
    """The command line of an extra worker: this same study, run by ``tunesmith tune``."""
    args = [sys.executable, "-m", "tunesmith.cli", "tune"]
    if config is not None:
        args.append(str(config))
    for item in overrides:
        args += ["--set", item]
    return args


def _set_torch_threads(threads: int) -> None:
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    else:
        os.environ["OMP_NUM_THREADS"] = str(threads)
