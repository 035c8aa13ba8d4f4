"""Stopping cleanly on SIGTERM and Ctrl-C: finish the step, write a checkpoint, then exit."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tunesmith.errors import TunesmithError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(TunesmithError):
    """Training stopped on a signal after step ``step``; ``checkpoint`` holds it (or None)."""

    exit_code = 130  # the shell's convention for "ended by Ctrl-C"

    def __init__(self, step: int, checkpoint: Path | None):
        self.step, self.checkpoint = step, checkpoint
        if checkpoint is None:
            where = "no checkpoint saved (no checkpoint directory)"
        else:
            where = f"checkpoint saved to {checkpoint}; resume with --resume"
        super().__init__(f"interrupted at step {step}; {where}")


class StopRequest:
    """Records a stop signal; the loop looks at ``signum`` between steps."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, frame) -> None:
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: the user won't wait for the step to end
        self.signum = signum


@contextmanager
def stop_requests() -> Iterator[StopRequest]:
    """Catch SIGINT and SIGTERM while the block runs; the previous handlers come back after.

    Outside the main thread Python can't install handlers, so there the signals keep their
    usual effect and the request simply never fires.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {signum: signal.signal(signum, request) for signum in STOP_SIGNALS}
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
