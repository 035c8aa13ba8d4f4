"""Shuffled, length-grouped batches with dynamic padding."""

from __future__ import annotations

import random
from collections.abc import Iterator

import torch

from tunesmith.data.encode import IGNORE, Encoded

#: Examples are sorted by length inside windows of this many batches: padding nearly vanishes
#: while the order stays random at the scale of the whole epoch.
GROUP_WINDOW = 32


def epoch_batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Index batches for one epoch: shuffled, grouped by similar length, batches shuffled too."""
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * GROUP_WINDOW
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        group = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches.extend(group[i : i + batch_size] for i in range(0, len(group), batch_size))
    rng.shuffle(batches)
    return batches


def endless_batches(
    lengths: list[int], batch_size: int, seed: int, start: tuple[int, int] = (0, 0)
) -> Iterator[tuple[int, int, list[int]]]:
    """(epoch, index within the epoch, batch) triples, epoch after epoch, from ``start``.

    The order is a pure function of (seed, epoch), so ``start`` = (epoch, index) is all a
    resumed run needs to see exactly the batches the interrupted run would have seen next.
    """
    epoch, index = start
    while True:
        batches = epoch_batches(lengths, batch_size, seed, epoch)
        for i in range(index, len(batches)):
            yield epoch, i, batches[i]
        epoch, index = epoch + 1, 0


def collate(items: list[Encoded], pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Right-padded input_ids, attention_mask and labels tensors."""
    width = max(len(item.input_ids) for item in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, item in enumerate(items):
        n = len(item.input_ids)
        ids[row, :n] = torch.tensor(item.input_ids)
        labels[row, :n] = torch.tensor(item.labels)
        mask[row, :n] = 1
    return {
        "input_ids": ids.to(device),
        "attention_mask": mask.to(device),
        "labels": labels.to(device),
    }


def split_micro(batch: list[int], parts: int) -> list[list[int]]:
    """Split one optimizer batch into ``parts`` micro-batches for gradient accumulation."""
    size = -(-len(batch) // parts)
    return [batch[i : i + size] for i in range(0, len(batch), size)]
