"""Guarding the loop against a diverging loss: skip non-finite steps, stop on streaks and spikes."""

from __future__ import annotations

import math
import statistics

from tunesmith.config import TrainConfig
from tunesmith.errors import TunesmithError

#: A spike is judged against the median of this many recent finite losses (and needs that many).
SPIKE_WINDOW = 20


class TrainingDiverged(TunesmithError):
    """The loss became non-finite too often or jumped far above its recent level."""


def update_allowed(losses: list[float], loss: float, step: int, t: TrainConfig, lr: float) -> bool:
    """Whether step ``step`` (loss ``loss``, after ``losses``) may update the weights.

    A non-finite loss means non-finite gradients: the update is skipped (the step still counts).
    Raises TrainingDiverged after ``t.max_nan_steps`` of them in a row, or on a loss spike.
    """
    if not math.isfinite(loss):
        streak = 1 + _trailing_non_finite(losses)
        if streak >= t.max_nan_steps:
            raise TrainingDiverged(
                f"training diverged at step {step}: the loss was not finite for {streak} steps in "
                f"a row; lower train.learning_rate (now {lr:g}, try {lr / 4:g}) or check the data"
            )
        return False
    recent = [x for x in losses if math.isfinite(x)][-SPIKE_WINDOW:]
    if t.spike_factor and len(recent) == SPIKE_WINDOW:
        median = statistics.median(recent)
        if loss > t.spike_factor * median:
            raise TrainingDiverged(
                f"training diverged at step {step}: the loss jumped to {loss:.4g}, over "
                f"{t.spike_factor:g}x its recent median {median:.4g}; lower train.learning_rate "
                f"(now {lr:g}, try {lr / 4:g}) or raise train.spike_factor if spikes are expected"
            )
    return True


def _trailing_non_finite(losses: list[float]) -> int:
    count = 0
    for loss in reversed(losses):
        if math.isfinite(loss):
            break
        count += 1
    return count
