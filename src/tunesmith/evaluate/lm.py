"""Loss and perplexity of a model on encoded examples (target tokens only)."""

from __future__ import annotations

import torch

from tunesmith.data.encode import Encoded
from tunesmith.models.load import compute_context
from tunesmith.train.batches import collate
from tunesmith.train.loss import LossFn, target_loss_sum


@torch.no_grad()
def mean_target_loss(
    model,
    items: list[Encoded],
    *,
    pad_id: int,
    batch_size: int,
    chunk: int,
    device: torch.device,
    dtype: torch.dtype,
    on_batch=None,
    loss=None,
) -> tuple[float, int]:
    """(mean cross-entropy per target token in nats, number of target tokens).

    ``loss`` replaces ``target_loss_sum`` (same signature), e.g. a classification head's.
    """
    loss_fn: LossFn = loss or target_loss_sum
    was_training = model.training
    model.eval()
    order = sorted(range(len(items)), key=lambda i: len(items[i].input_ids))
    total, count = 0.0, 0
    for start in range(0, len(order), batch_size):
        batch = collate([items[i] for i in order[start : start + batch_size]], pad_id, device)
        with compute_context(device, dtype):
            loss_sum, n = loss_fn(model, chunk=chunk, **batch)
        total, count = total + float(loss_sum), count + n
        if on_batch:
            on_batch(min(batch_size, len(order) - start))
    model.train(was_training)
    return (total / count if count else float("nan")), count
