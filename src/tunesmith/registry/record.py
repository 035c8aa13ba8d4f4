"""Recording one training run in the registry around the code that performs it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from tunesmith.config import Config
from tunesmith.config_io import to_dict
from tunesmith.errors import TunesmithError
from tunesmith.registry.store import FAILURE_STATUSES, Registry

#: Longest failure reason kept; a reason is a summary, the traceback is on the user's terminal.
MAX_REASON = 500


@dataclass
class RunRecord:
    """The registry entry of the run in progress; ``run_id`` is None when recording is off."""

    registry: Registry
    run_id: int | None
    console: Console

    def forced_past(self, findings: list[dict[str, Any]]) -> None:
        """Record the blocking data findings this run was forced past (nothing when none)."""
        if self.run_id is not None and findings:
            _quietly(self.console, self.registry.forced_past, self.run_id, findings)

    def finish(self, metrics: dict[str, Any]) -> None:
        """Record the run as completed with its metrics.json contents."""
        if self.run_id is not None:
            _quietly(self.console, self.registry.finish, self.run_id, metrics)


@contextmanager
def recorded_run(
    cfg: Config, console: Console, registry: Registry | None = None
) -> Iterator[RunRecord]:
    """Record the run of ``cfg`` as running; on an exception, as failed/interrupted, re-raised.

    The body calls ``record.finish(metrics)`` once the run directory is complete. A registry
    that can't be written (read-only home, locked for too long) costs a warning, never the run.
    """
    registry = registry or Registry()
    files = [name for name in (cfg.data.train, cfg.data.validation, cfg.data.test) if name]
    run_id = _quietly(console, registry.start, Path(cfg.output), to_dict(cfg), files)
    record = RunRecord(registry, run_id, console)
    try:
        yield record
    except BaseException as exc:
        if run_id is not None:
            _quietly(console, registry.fail, run_id, *failure_of(exc))
        raise


def failure_of(exc: BaseException) -> tuple[str, str]:
    """(status, one-line reason) for a run ended by ``exc``.

    An exception may name its status in a ``run_status`` attribute (e.g. "diverged").
    """
    status = getattr(exc, "run_status", None)
    if isinstance(exc, KeyboardInterrupt):
        status, reason = "interrupted", "interrupted by the user (Ctrl-C)"
    elif isinstance(exc, SystemExit):
        status, reason = "interrupted", f"exited with status {exc.code}"
    elif isinstance(exc, TunesmithError):
        reason = str(exc)
    else:
        reason = f"{type(exc).__name__}: {exc}"
    if status not in FAILURE_STATUSES:
        status = "failed"
    line = " ".join(reason.split())  # one line, whatever the exception's message looked like
    return status, line if len(line) <= MAX_REASON else line[: MAX_REASON - 3] + "..."


def _quietly(console: Console, action, *args):
    """``action(*args)``, or None and a warning when the registry can't be used."""
    try:
        return action(*args)
    except TunesmithError as exc:
        console.print(f"[yellow]warning:[/] run not recorded: {exc}", highlight=False)
        return None
