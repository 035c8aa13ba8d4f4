"""What a user sees and keeps while training: the JSONL log (fed to trackers), a progress bar."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tunesmith.train.trackers import Tracker, tracked_metrics


class RunLog:
    """Append-only JSONL log: one object per line, flushed so a crash keeps what was written.

    With ``trackers``, each row's plotted fields (loss, lr, ...) go to them too, at its step.
    """

    def __init__(self, path: Path, trackers: Tracker | None = None):
        self.path = path
        self.trackers = trackers
        self._file = path.open("a", encoding="utf-8")

    def write(self, **row) -> None:
        """Append one row, stamped with the wall-clock time."""
        row.setdefault("time", round(time.time(), 3))
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        metrics = tracked_metrics(row)
        if self.trackers is not None and metrics and "step" in row:
            self.trackers.log_metrics(row["step"], metrics)

    def close(self) -> None:
        self._file.close()


def progress_bar(console: Console | None = None) -> Progress:
    """A bar with completed/total, elapsed, ETA and a free-text field for loss and speed."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        transient=False,
    )


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # Linux reports KiB
