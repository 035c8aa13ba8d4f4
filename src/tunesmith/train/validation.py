"""Validation during training: when to run it, the best step so far, and early stopping."""

from __future__ import annotations

import math

from tunesmith.config import Config
from tunesmith.data.encode import Encoded
from tunesmith.evaluate.lm import mean_target_loss
from tunesmith.methods import hook
from tunesmith.train.result import TrainResult


def validate(model, val_set: list[Encoded], cfg: Config, pad_id, device, dtype) -> float:
    """Mean loss per target token on ``val_set``."""
    val_loss, _ = mean_target_loss(
        model,
        val_set,
        pad_id=pad_id,
        batch_size=cfg.eval.batch_size,
        chunk=cfg.train.loss_chunk,
        device=device,
        dtype=dtype,
        loss=hook(cfg.method, "loss"),
    )
    return val_loss


def record_validation(result: TrainResult, step: int, val_loss: float, min_delta: float) -> bool:
    """Append ``val_loss``; True when it beats the best so far by more than ``min_delta``."""
    result.val_losses.append((step, val_loss))
    if not math.isfinite(val_loss):
        return False
    if result.best_val_loss is None or val_loss < result.best_val_loss - min_delta:
        result.best_step, result.best_val_loss = step, val_loss
        return True
    return False


def out_of_patience(result: TrainResult, patience: int | None) -> bool:
    """True once ``patience`` validations in a row have not improved on the best."""
    if not patience:
        return False
    since_best = [
        s for s, _ in result.val_losses if result.best_step is None or s > result.best_step
    ]
    return len(since_best) >= patience


def validation_due(step: int, steps_per_epoch: int, total: int, every: int | None) -> bool:
    """Validate every ``every`` steps, or at each epoch's end; always at the last step."""
    if step == total:
        return True
    return step % every == 0 if every else step % steps_per_epoch == 0
