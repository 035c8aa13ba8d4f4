"""``tunesmith tune --status``: a study's progress while it runs (or after)."""

from __future__ import annotations

import optuna
from rich.console import Console

from tunesmith.errors import TunesmithError
from tunesmith.tune.results import progress, summary_line
from tunesmith.tune.spec import StudyAddress
from tunesmith.tune.study import safe_url


def load_existing(address: StudyAddress) -> optuna.Study:
    """The study at ``address``; a one-line error when there is none."""
    if address.sqlite_file is not None and not address.sqlite_file.is_file():
        raise TunesmithError(
            f"tune --status: no study at {address.sqlite_file}; check --out (or the config's "
            "output), or pass --storage"
        )
    try:
        names = optuna.get_all_study_names(address.storage_url)
    except Exception as exc:  # sqlalchemy's connection and driver errors
        reason = " ".join(str(exc).split())[:300]
        raise TunesmithError(
            f"tune --status: can't read {safe_url(address.storage_url)} ({reason})"
        ) from None
    name = address.study_name
    if name is None and len(names) == 1:
        name = names[0]
    if name not in names:
        raise TunesmithError(
            f"tune --status: no study {name!r} in {safe_url(address.storage_url)} "
            f"(studies: {', '.join(names) or 'none'}); pass --study NAME"
        )
    return optuna.load_study(study_name=name, storage=address.storage_url)


def status(address: StudyAddress) -> dict:
    """The progress figures of the study at ``address`` (see ``results.progress``)."""
    study = load_existing(address)
    total = int(study.user_attrs.get("trials") or len(study.trials))
    return progress(study, total)


def print_status(info: dict, console: Console) -> None:
    """Print what ``status`` found: the study, its trials by state, the best so far."""
    console.print(
        f"study {info['study']!r}: {info['direction']} validation {info['metric']}",
        highlight=False,
    )
    console.print(summary_line(info), highlight=False)
    best = info["best"]
    if best is not None:
        values = ", ".join(f"{k}={v}" for k, v in best["params"].items())
        console.print(f"best so far: trial {best['number']}: {values}", highlight=False)
        console.print(f"  run: {best['run_dir']}", highlight=False)
