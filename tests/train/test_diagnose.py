"""diagnose() on synthetic loss curves: one row per verdict, and the numbers its message cites."""

from __future__ import annotations

import math

import pytest

from tunesmith.train.diagnose import diagnose

FALLING = [3.0 - 0.1 * i for i in range(20)]  # 3.0 -> 1.1
STEEP = [3.0 - 0.14 * i for i in range(20)]  # 3.0 -> 0.34


def vals(*losses: float, every: int = 5) -> list[tuple[int, float]]:
    return [(every * (i + 1), loss) for i, loss in enumerate(losses)]


@pytest.mark.parametrize(
    ("losses", "val_losses", "best_step", "stopped_early", "skipped", "status", "words"),
    [
        (FALLING, vals(2.5, 2.0, 1.6, 1.59), 20, False, 0, "ok", "no sign"),
        (FALLING, vals(2.5, 1.8, 2.2, 2.6), 10, True, 0, "overfitting", "rose after step 10"),
        (STEEP, vals(2.0, 1.9, 1.9, 1.9), 10, False, 0, "overfitting", "far below"),
        (FALLING, vals(2.8, 2.5, 2.2, 1.9), 20, False, 0, "still-improving", "still falling"),
        ([3.0, 2.99] * 10, vals(2.9, 2.9), 5, False, 0, "underfitting", "barely fell"),
        (FALLING[:5] + [math.nan] + FALLING[5:], vals(2.0), 5, False, 1, "unstable", "1 step"),
        (FALLING[::-1], vals(2.0, 2.5), 5, False, 0, "unstable", "unstable"),
        (FALLING, [], None, False, 0, "no-validation", "validation_fraction"),
        ([math.nan] * 3, [], None, False, 3, "unstable", "no training step"),
    ],
)
def test_verdicts(losses, val_losses, best_step, stopped_early, skipped, status, words):
    result = diagnose(losses, val_losses, best_step, stopped_early, skipped)
    assert result["status"] == status
    assert words in result["message"]


def test_overfitting_message_names_the_best_step_and_early_stop():
    result = diagnose(FALLING, vals(2.5, 1.8, 2.2, 2.6), 10, True, 0)
    message = result["message"]
    assert "1.800 -> 2.600" in message and "early stopping ended the run at step 20" in message
    assert "best weights (step 10) were kept" in message
    assert result["train_val_gap"] == pytest.approx(2.6 - sum(FALLING[-4:]) / 4)
    assert "the last were kept" in diagnose(FALLING, vals(2.5, 1.8, 2.6), 10, False, 0,
                                            restored=False)["message"]  # fmt: skip
