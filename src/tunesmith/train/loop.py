"""The training loop: AdamW, warmup then decay, gradient accumulation, validation, seeded.

Read ``train`` top to bottom; every helper below it is a few lines.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import get_scheduler

from tunesmith.config import Config
from tunesmith.data.encode import Encoded
from tunesmith.evaluate.lm import mean_target_loss
from tunesmith.models.load import compute_context
from tunesmith.train.batches import collate, endless_batches, split_micro
from tunesmith.train.loss import target_loss_sum
from tunesmith.train.monitor import RunLog, progress_bar

_SCHEDULES = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}


@dataclass
class TrainResult:
    """What a finished training run reports."""

    steps: int
    train_tokens: int  # real (non-padding) tokens seen
    runtime_s: float
    losses: list[float] = field(default_factory=list)  # one per optimizer step
    val_losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)

    @property
    def tokens_per_s(self) -> float:
        return self.train_tokens / self.runtime_s if self.runtime_s else 0.0


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
) -> TrainResult:
    """Fine-tune the trainable parameters of ``model`` on ``train_set``; returns the figures."""
    t = cfg.train
    seed_everything(t.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate(), weight_decay=t.weight_decay)
    steps_per_epoch = math.ceil(len(train_set) / t.batch_size)
    total_steps = t.max_steps or max(1, math.ceil(t.epochs * steps_per_epoch))
    scheduler = get_scheduler(
        _SCHEDULES[t.lr_schedule],
        optimizer,
        num_warmup_steps=int(t.warmup_ratio * total_steps),
        num_training_steps=total_steps,
    )
    batches = endless_batches([len(e.input_ids) for e in train_set], t.batch_size, t.seed)
    result = TrainResult(steps=0, train_tokens=0, runtime_s=0.0)
    model.train()
    started = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task("train", total=total_steps, info="")
        for step in range(1, total_steps + 1):
            _, batch = next(batches)
            items = [train_set[i] for i in batch]
            loss, tokens = accumulate_gradients(model, items, cfg, pad_id, device, dtype)
            clip_gradients(params, t.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

            result.steps, result.train_tokens = step, result.train_tokens + tokens
            result.losses.append(loss)
            result.runtime_s = time.perf_counter() - started
            speed = result.tokens_per_s
            bar.update(task, advance=1, info=f"loss {loss:.4f}  {speed:,.0f} tok/s")
            if step % t.log_every == 0 or step == total_steps:
                log.write(
                    step=step,
                    epoch=round(step / steps_per_epoch, 4),
                    loss=round(loss, 6),
                    lr=scheduler.get_last_lr()[0],
                    tokens=result.train_tokens,
                    tokens_per_s=round(speed, 1),
                    elapsed_s=round(result.runtime_s, 2),
                )
            if val_set and validation_due(step, steps_per_epoch, total_steps, t.eval_every):
                val_loss, _ = mean_target_loss(
                    model,
                    val_set,
                    pad_id=pad_id,
                    batch_size=cfg.eval.batch_size,
                    chunk=t.loss_chunk,
                    device=device,
                    dtype=dtype,
                )
                result.val_losses.append((step, val_loss))
                log.write(
                    step=step, epoch=round(step / steps_per_epoch, 4), val_loss=round(val_loss, 6)
                )
                started += _excluded(result, started)  # validation time is not training time
    model.eval()
    return result


def accumulate_gradients(model, items: list[Encoded], cfg: Config, pad_id, device, dtype):
    """Forward and backward over micro-batches; returns (mean loss per target token, tokens).

    Each micro-batch's summed loss is divided by the target tokens of the whole optimizer batch,
    so accumulating 4 x 4 gives the same gradient as one batch of 16.
    """
    micro = split_micro(list(range(len(items))), cfg.train.grad_accum)
    n_targets = sum(sum(1 for y in item.labels[1:] if y != -100) for item in items)
    total_loss, tokens = 0.0, 0
    for part in micro:
        batch = collate([items[i] for i in part], pad_id, device)
        with compute_context(device, dtype):
            loss_sum, _ = target_loss_sum(model, chunk=cfg.train.loss_chunk, **batch)
        (loss_sum / max(n_targets, 1)).backward()
        total_loss += float(loss_sum.detach())
        tokens += int(batch["attention_mask"].sum())
    return total_loss / max(n_targets, 1), tokens


def clip_gradients(params, max_norm: float) -> None:
    """Clip the global gradient norm (0 disables)."""
    if max_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, max_norm)


def validation_due(step: int, steps_per_epoch: int, total: int, every: int | None) -> bool:
    """Validate every ``every`` steps, or at each epoch's end; always at the last step."""
    if step == total:
        return True
    return step % every == 0 if every else step % steps_per_epoch == 0


def seed_everything(seed: int) -> None:
    """Seed every generator a run touches (Python, NumPy, torch)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _excluded(result: TrainResult, started: float) -> float:
    """Seconds spent since the last training step (validation), to shift the clock by."""
    return time.perf_counter() - started - result.runtime_s
