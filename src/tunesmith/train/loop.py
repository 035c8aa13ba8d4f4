"""The training loop: AdamW, warmup then decay, gradient accumulation, validation, seeded,
checkpointed and resumable bit for bit.

Read ``train`` top to bottom; every helper below it is a few lines. Checkpoint files are in
``checkpoint.py``, stop signals in ``signals.py``, loss guards in ``guard.py`` and the verdict on
the loss curves in ``diagnose.py``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from transformers import get_scheduler

from tunesmith.config import Config
from tunesmith.data.encode import Encoded
from tunesmith.errors import TunesmithError
from tunesmith.methods import hook
from tunesmith.methods.layers import lr_scales
from tunesmith.models.load import compute_context
from tunesmith.train.batches import collate, endless_batches, split_micro
from tunesmith.train.checkpoint import Checkpointer, cpu_copy, load_weights
from tunesmith.train.diagnose import diagnose
from tunesmith.train.guard import TrainingDiverged, update_allowed
from tunesmith.train.loss import LossFn, target_loss_sum
from tunesmith.train.monitor import RunLog, progress_bar
from tunesmith.train.result import TrainResult
from tunesmith.train.signals import TrainingInterrupted, stop_requests
from tunesmith.train.validation import out_of_patience, record_validation, validate, validation_due

__all__ = ["TrainResult", "TrainingDiverged", "TrainingInterrupted", "train"]

_SCHEDULES = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}


def train(
    model,
    train_set: list[Encoded],
    val_set: list[Encoded],
    cfg: Config,
    *,
    pad_id: int,
    device: torch.device,
    dtype: torch.dtype,
    log: RunLog,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    on_validation: Callable[[int, dict], None] | None = None,
) -> TrainResult:
    """Fine-tune the trainable parameters of ``model`` on ``train_set``; returns the figures.

    With ``checkpoint_dir`` a checkpoint is written every ``train.checkpoint_every`` steps and on
    SIGINT/SIGTERM (then TrainingInterrupted is raised); ``resume`` continues from the newest
    complete one, ending with the same weights as an uninterrupted run. A diverging loss raises
    TrainingDiverged. ``on_validation(step, {"val_loss", "epoch"})`` is called after each
    validation; an exception it raises (a tuner pruning the trial) ends training.
    """
    t = cfg.train
    seed_everything(t.seed)
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    lr = cfg.learning_rate()
    steps_per_epoch = math.ceil(len(train_set) / t.batch_size)
    total_steps = t.max_steps or max(1, math.ceil(t.epochs * steps_per_epoch))
    optimizer, scheduler = build_optimizer(
        params, cfg, total_steps, learning_rate_scales(model, cfg)
    )
    fingerprint = {"seed": t.seed, "batch_size": t.batch_size, "train_examples": len(train_set)}
    ckpt = Checkpointer(
        checkpoint_dir, params, optimizer, scheduler, t.keep_checkpoints, fingerprint
    )
    result, position, best = start_or_resume(ckpt, resume, log)  # restores weights, RNG, ...
    lengths = [len(e.input_ids) for e in train_set]
    batches = endless_batches(lengths, t.batch_size, t.seed, start=position)
    model.train()
    started = time.perf_counter() - result.runtime_s
    on_step = hook(cfg.method, "on_step")  # e.g. gradual unfreezing: what trains at this step
    with progress_bar() as bar, stop_requests() as stop:
        task = bar.add_task("train", total=total_steps, completed=result.steps, info="")
        while result.steps < total_steps and not result.stopped_early:
            epoch, index, batch = next(batches)
            step = result.steps + 1
            if on_step is not None and (row := on_step(model, step, steps_per_epoch, cfg)):
                log.write(step=step, **row)
            items = [train_set[i] for i in batch]
            loss, tokens = accumulate_gradients(model, items, cfg, pad_id, device, dtype)
            if update_allowed(result.losses, loss, step, t, lr):
                apply_update(params, optimizer, scheduler, t.max_grad_norm)
            else:  # non-finite gradients: no update, the scheduler waits too
                result.skipped_steps += 1
                log.write(step=step, skipped="non-finite loss")
            optimizer.zero_grad(set_to_none=True)

            result.steps, result.train_tokens = step, result.train_tokens + tokens
            result.losses.append(loss)
            result.runtime_s = time.perf_counter() - started
            bar.update(task, advance=1, info=f"loss {loss:.4f}  {result.tokens_per_s:,.0f} tok/s")
            if step % t.log_every == 0 or step == total_steps:
                log_step(log, result, round(step / steps_per_epoch, 4), scheduler.get_last_lr()[0])
            if val_set and validation_due(step, steps_per_epoch, total_steps, t.eval_every):
                val_loss = validate(model, val_set, cfg, pad_id, device, dtype)
                log.write(
                    step=step, epoch=round(step / steps_per_epoch, 4), val_loss=round(val_loss, 6)
                )
                if record_validation(result, step, val_loss, t.early_stopping_min_delta):
                    best = cpu_copy(params)  # saved before the step's checkpoint: see load_best
                    ckpt.save_best(best, step, val_loss)
                result.stopped_early = out_of_patience(result, t.early_stopping_patience)
                if on_validation is not None:
                    on_validation(step, {"val_loss": val_loss, "epoch": step / steps_per_epoch})
            stopping = stop.signum is not None
            if stopping or checkpoint_due(result, total_steps, t.checkpoint_every):
                saved = ckpt.save(result, position=(epoch, index + 1))
                if saved:
                    log.write(step=step, checkpoint=str(saved))
                if stopping:
                    raise TrainingInterrupted(step, saved)
            started += _excluded(result, started)  # validation, checkpoints: not training time
    if t.restore_best and best is not None:
        load_weights(params, best)
    model.eval()
    result.diagnosis = diagnose(
        result.losses, result.val_losses, result.best_step, result.stopped_early,
        result.skipped_steps, restored=t.restore_best and best is not None,
    )  # fmt: skip
    log.write(step=result.steps, diagnosis=result.diagnosis["status"],
              message=result.diagnosis["message"])  # fmt: skip
    return result


def build_optimizer(
    params: dict[str, torch.nn.Parameter],
    cfg: Config,
    total_steps: int,
    scales: dict[str, float] | None = None,
):
    """AdamW over ``params`` (by name) and its warmup-then-decay learning-rate schedule.

    ``scales`` multiplies the learning rate per parameter name (layer-wise decay): one
    parameter group per distinct rate, the highest first (the rate the log shows).
    """
    t = cfg.train
    lr = cfg.learning_rate()
    by_scale: dict[float, list[torch.nn.Parameter]] = {}
    for name, p in params.items():
        by_scale.setdefault((scales or {}).get(name, 1.0), []).append(p)
    groups = [
        {"params": by_scale[scale], "lr": lr * scale} for scale in sorted(by_scale, reverse=True)
    ]
    optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=t.weight_decay)
    scheduler = get_scheduler(
        _SCHEDULES[t.lr_schedule],
        optimizer,
        num_warmup_steps=int(t.warmup_ratio * total_steps),
        num_training_steps=total_steps,
    )
    return optimizer, scheduler


def learning_rate_scales(model, cfg: Config) -> dict[str, float] | None:
    """Per-parameter learning-rate multipliers of layer-wise decay, or None when it is off."""
    decay = cfg.layers.lr_decay
    return lr_scales(model, decay) if decay is not None else None


def log_step(log: RunLog, result: TrainResult, epoch: float, lr: float) -> None:
    """One training row of the JSONL log (and of any enabled tracker)."""
    loss = result.losses[-1]
    log.write(
        step=result.steps,
        epoch=epoch,
        loss=round(loss, 6) if math.isfinite(loss) else None,
        lr=lr,
        tokens=result.train_tokens,
        tokens_per_s=round(result.tokens_per_s, 1),
        elapsed_s=round(result.runtime_s, 2),
    )


def start_or_resume(ckpt: Checkpointer, resume: bool, log: RunLog):
    """(result so far, data position, best weights or None): fresh, or from the newest checkpoint.

    Resuming restores the trainable weights, optimizer, scheduler and every RNG in place.
    """
    if resume and ckpt.directory is None:
        raise TunesmithError("resume: no checkpoint directory was given to resume from")
    restored = ckpt.restore() if resume else None
    if restored is None:
        if resume:
            log.write(step=0, resumed_from=None)  # nothing complete to resume: start afresh
        return TrainResult(steps=0, train_tokens=0, runtime_s=0.0), (0, 0), None
    result, position = restored
    result.resumed_from = result.steps
    log.write(step=result.steps, resumed_from=result.steps)
    return result, position, ckpt.load_best(result.best_step)


def checkpoint_due(result: TrainResult, total: int, every: int) -> bool:
    """Every ``every`` steps (0 = never), and at the end so a finished run resumes as finished."""
    if every <= 0:
        return False
    return result.steps % every == 0 or result.steps == total or result.stopped_early


def accumulate_gradients(model, items: list[Encoded], cfg: Config, pad_id, device, dtype):
    """Forward and backward over micro-batches; returns (mean loss per target token, tokens).

    Each micro-batch's summed loss is divided by the target tokens of the whole optimizer batch,
    so accumulating 4 x 4 gives the same gradient as one batch of 16.
    """
    micro = split_micro(list(range(len(items))), cfg.train.grad_accum)
    n_targets = sum(sum(1 for y in item.labels[1:] if y != -100) for item in items)
    total_loss, tokens = 0.0, 0
    loss_fn: LossFn = hook(cfg.method, "loss") or partial(  # a method's own: a head's, e.g.
        target_loss_sum, grad_filter=cfg.train.loss_grad_filter
    )
    for part in micro:
        batch = collate([items[i] for i in part], pad_id, device)
        with compute_context(device, dtype):
            loss_sum, _ = loss_fn(model, chunk=cfg.train.loss_chunk, **batch)
        (loss_sum / max(n_targets, 1)).backward()
        total_loss += float(loss_sum.detach())
        tokens += int(batch["attention_mask"].sum())
    return total_loss / max(n_targets, 1), tokens


def apply_update(params: dict, optimizer, scheduler, max_grad_norm: float) -> None:
    """Clip the gradients, take the optimizer step and advance the learning-rate schedule."""
    clip_gradients(params.values(), max_grad_norm)
    optimizer.step()
    scheduler.step()


def clip_gradients(params, max_norm: float) -> None:
    """Clip the global gradient norm (0 disables)."""
    if max_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, max_norm)


def seed_everything(seed: int) -> None:
    """Seed every generator a run touches (Python, NumPy, torch)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _excluded(result: TrainResult, started: float) -> float:
    """Seconds spent since the last training step (validation), to shift the clock by."""
    return time.perf_counter() - started - result.runtime_s
