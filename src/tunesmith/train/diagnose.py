"""A plain-language verdict on the loss curves: fine, overfitting, underfitting or unstable."""

from __future__ import annotations

import math
from typing import Any

#: Validation loss this much (relative) above its best counts as having risen.
ROSE = 0.02
#: A last validation this much (relative) below the one before means it was still falling.
STILL_FALLING = 0.01
#: Training loss that kept more than this share of its start barely fell.
BARELY_FELL = 0.9
#: Validation over training loss by this ratio and this many nats means memorisation.
GAP_RATIO, GAP_NATS = 2.0, 0.5


def diagnose(
    losses: list[float],
    val_losses: list[tuple[int, float]],
    best_step: int | None,
    stopped_early: bool,
    skipped_steps: int,
    *,
    restored: bool = True,
) -> dict[str, Any]:
    """{"status", "message", "train_val_gap"} for a run's training and (step, val) losses.

    status is "ok", "still-improving", "overfitting", "underfitting", "unstable" or
    "no-validation"; the gap is
    the last validation loss minus the mean training loss of the run's last fifth (nats/token).
    """
    finite = [x for x in losses if math.isfinite(x)]
    if not finite:
        return _verdict("unstable", "no training step had a finite loss; lower the learning rate")
    head, tail = _mean(finite[: _fifth(finite)]), _mean(finite[-_fifth(finite) :])
    trend = f"training loss {head:.3f} -> {tail:.3f}"
    if skipped_steps or tail > head:
        what = f"{skipped_steps} step(s) had a non-finite loss, skipped; " if skipped_steps else ""
        return _verdict("unstable", f"{what}{trend}: training is unstable; lower the learning rate")
    if not val_losses:
        return _verdict(
            "no-validation",
            f"{trend}; without validation data over- or underfitting can't be judged "
            "(set data.validation_fraction above 0)",
        )
    best = min(loss for _, loss in val_losses)
    best_step = best_step or next(step for step, loss in val_losses if loss == best)
    last_step, last = val_losses[-1]
    gap = last - tail
    kept = f"the best weights (step {best_step}) were kept" if restored else "the last were kept"
    ended = f"early stopping ended the run at step {last_step}; " if stopped_early else ""
    if last > best * (1 + ROSE) and best_step < last_step:
        return _verdict(
            "overfitting",
            f"validation loss rose after step {best_step} ({best:.3f} -> {last:.3f}) while "
            f"{trend}: overfitting; {ended}{kept}; try fewer epochs, more data or a lower "
            "learning rate",
            gap,
        )
    if last > GAP_RATIO * tail and gap > GAP_NATS:
        return _verdict(
            "overfitting",
            f"training loss ({tail:.3f}) is far below validation loss ({last:.3f}): the model "
            "memorises its training examples; try fewer epochs, more data or a lower learning rate",
            gap,
        )
    if tail > BARELY_FELL * head:
        return _verdict(
            "underfitting",
            f"{trend} barely fell: underfitting; raise the learning rate or train longer",
            gap,
        )
    if len(val_losses) > 1 and last < val_losses[-2][1] * (1 - STILL_FALLING):
        # Not a failure: the run is fine, it just had not converged yet.
        return _verdict(
            "still-improving",
            f"validation loss was still falling at the end ({val_losses[-2][1]:.3f} -> "
            f"{last:.3f}): more epochs may help a little more",
            gap,
        )
    return _verdict(
        "ok",
        f"{trend}; validation loss {last:.3f} (best {best:.3f} at step {best_step}), "
        f"gap {gap:+.3f}: no sign of over- or underfitting",
        gap,
    )


def _verdict(status: str, message: str, gap: float | None = None) -> dict[str, Any]:
    return {"status": status, "message": message, "train_val_gap": gap}


def _fifth(values: list[float]) -> int:
    return max(1, len(values) // 5)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)
