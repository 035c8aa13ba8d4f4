"""The Optuna study: its storage, sampler and pruner, and the loop a worker runs trials in.

Workers share one study through its storage (SQLite in the study directory, or a server such as
PostgreSQL). Each worker runs one trial at a time while the study still has trials to run, so
any number of them, started at any time on any machine, together run ``--trials`` trials.
A running trial beats a heartbeat into the storage; one whose worker died is failed after three
silent beats and queued again (up to ``tune.max_retries`` times).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from tunesmith.errors import TunesmithError
from tunesmith.tune.objective import Objective, TrialFailed
from tunesmith.tune.spec import StudySpec, grid_space

#: A heartbeat missed this many times over marks a running trial's worker as dead.
GRACE_BEATS = 3
#: Seconds a worker waits for SQLite's write lock before giving up (trials are minutes long).
SQLITE_LOCK_TIMEOUT_S = 120

optuna.logging.set_verbosity(optuna.logging.WARNING)  # the tuner prints its own progress lines


@contextmanager
def _no_experimental_warnings() -> Iterator[None]:
    """Heartbeats and trial retries are marked experimental in Optuna: a note no user can act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def open_storage(spec: StudySpec) -> optuna.storages.RDBStorage:
    """The study's storage, with heartbeats so a dead worker's trial is failed and retried."""
    engine_kwargs: dict = {}
    if spec.storage_url.startswith("sqlite"):
        spec.out.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": SQLITE_LOCK_TIMEOUT_S}}
    try:
        with _no_experimental_warnings():
            retry = optuna.storages.RetryHeartbeatStaleTrialCallback(spec.tune.max_retries)
            return optuna.storages.RDBStorage(
                spec.storage_url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=spec.tune.heartbeat_s,
                grace_period=GRACE_BEATS * spec.tune.heartbeat_s,
                heartbeat_stale_trial_callback=retry,
            )
    except Exception as exc:  # sqlalchemy's connection, driver and URL errors
        reason = " ".join(str(exc).split())[:300]
        raise TunesmithError(
            f"tune.storage {safe_url(spec.storage_url)}: can't open the study storage ({reason}); "
            "check the URL, that the server runs and that its driver is installed"
        ) from None


def open_study(
    spec: StudySpec, metric: str, direction: str, worker: int = 0, create: bool = True
) -> optuna.Study:
    """Create the study or load it to resume; ``worker`` varies the random samplers' seed."""
    storage = open_storage(spec)
    names = optuna.get_all_study_names(storage)
    if spec.study_name not in names and not create:
        known = ", ".join(names) or "none"
        raise TunesmithError(
            f"tune: no study {spec.study_name!r} in {safe_url(spec.storage_url)} (studies: "
            f"{known}); start it with 'tunesmith tune CONFIG' or pass --study"
        )
    fresh = spec.study_name not in names
    if fresh and spec.default_storage:
        _check_no_stray_trials(spec.out)
    existing = (
        0 if fresh else len(optuna.load_study(study_name=spec.study_name, storage=storage).trials)
    )
    study = optuna.create_study(
        study_name=spec.study_name,
        storage=storage,
        sampler=make_sampler(spec, worker, existing),
        pruner=make_pruner(spec),
        direction=direction,  # type: ignore[arg-type]  # resolve_objective checked it
        load_if_exists=True,
    )
    _check_same_objective(study, spec, metric, direction)
    return study


def make_sampler(spec: StudySpec, worker: int, existing: int) -> optuna.samplers.BaseSampler:
    """Grid, random or TPE; seeded so a fresh study repeats its picks.

    Grid keeps one seed everywhere (every worker must see the same grid order); the random
    samplers add the worker and the trials already run, so a second worker or a resumed study
    draws new values rather than repeating the first ones.
    """
    t = spec.tune
    if t.search == "grid":
        return optuna.samplers.GridSampler(grid_space(spec.params, spec.source), seed=t.seed)
    seed = t.seed + 1000 * worker + existing
    if t.search == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=spec.startup_trials)


def make_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    """No pruning, the median rule, or Hyperband over the reported validation losses."""
    if spec.tune.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec.startup_trials)
    if spec.tune.pruner == "hyperband":
        # Steps are hundredths of an epoch (see Objective.reporter): rungs at 1, 3, 9 epochs.
        return optuna.pruners.HyperbandPruner(min_resource=100, reduction_factor=3)
    return optuna.pruners.NopPruner()


def trials_left(trials: list[FrozenTrial], total: int) -> int:
    """How many more trials to start: ``total`` minus those run, running or queued.

    A failed trial that was queued again counts once, through its retry.
    """
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    counted = [t for t in trials if not (t.state == TrialState.FAIL and t.number in retried)]
    return total - len(counted)


def run_worker(
    study: optuna.Study,
    objective: Objective,
    total: int,
    deadline: float | None = None,
    on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
) -> int:
    """Run trials one at a time until the study has ``total`` or time is up; returns how many.

    Queued trials (retries of a dead worker's or an interrupted trial) run first, even when no
    new trial is due.
    """
    ran = 0
    tune = objective.spec.tune
    grace_s = GRACE_BEATS * tune.heartbeat_s
    while deadline is None or time.time() < deadline:
        with _no_experimental_warnings():
            optuna.storages.fail_stale_trials(study)  # a dead worker's trial: failed, requeued
        fail_orphans(study, grace_s, tune.max_retries)
        trials = study.get_trials(deepcopy=False)
        queued = any(t.state == TrialState.WAITING for t in trials)
        if trials_left(trials, total) <= 0 and not queued:
            break
        callbacks = [on_trial] if on_trial is not None else None  # gets this worker's trial
        with _no_experimental_warnings():
            study.optimize(objective, n_trials=1, catch=(TrialFailed,), callbacks=callbacks)
        ran += 1
    return ran


def fail_orphans(study: optuna.Study, grace_s: float, max_retries: int) -> int:
    """Fail and requeue trials whose worker died before their first heartbeat; returns how many.

    Optuna's stale check skips a running trial with no heartbeat yet, so a worker killed between
    creating a trial and starting it would leave the trial running forever. The objective marks
    a started trial with its run directory; one without, older than the grace period, is dead.
    """
    cutoff = datetime.now() - timedelta(seconds=grace_s)
    failed = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        started = trial.datetime_start
        if "run_dir" in trial.user_attrs or started is None or started > cutoff:
            continue
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except (ValueError, RuntimeError):  # another worker failed it first
            continue
        with _no_experimental_warnings():
            optuna.storages.RetryHeartbeatStaleTrialCallback(max_retries)(study, trial)
        failed += 1
    return failed


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best completed trial, or None before one completes."""
    try:
        return study.best_trial
    except ValueError:
        return None


def safe_url(url: str) -> str:
    """A storage URL with its password blanked, fit for messages and logs."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def _check_no_stray_trials(out: Path) -> None:
    stray = sorted(out.glob("trial-*"))
    if stray:
        raise TunesmithError(
            f"output: {out} holds {stray[0].name} but no study to resume; choose another "
            "output (--out) or remove the old trial directories"
        )


def _check_same_objective(study: optuna.Study, spec: StudySpec, metric: str, direction: str):
    """A resumed study must keep its objective; a new one records it for --status."""
    stored = study.user_attrs.get("metric")
    if stored is None:
        study.set_user_attr("metric", metric)
        study.set_user_attr("search", spec.tune.search)
        study.set_user_attr("trials", spec.trials)
    elif stored != metric or study.direction.name.lower() != direction:
        raise TunesmithError(
            f"{spec.source}: study {spec.study_name!r} optimises {stored} "
            f"({study.direction.name.lower()}), not {metric} ({direction}); keep its objective "
            "or start a new study (--out or tune.study_name)"
        )
