"""Gradual unfreezing (ULMFiT, Howard & Ruder 2018): start with the top block trained, unfreeze
the next one down every ``layers.unfreeze_every`` steps (each epoch when empty) until all train.

Every parameter that will ever train is trainable after ``prepare``, so the optimizer and the
checkpoints hold them from the start; ``on_step`` then freezes the ones whose turn hasn't come
(their gradient stays None, and AdamW leaves a parameter without a gradient untouched). The
schedule is a pure function of the step, so a resumed run picks it up where it was.
"""

from __future__ import annotations

from tunesmith.config import Config
from tunesmith.methods import full
from tunesmith.methods.layers import find_layers, set_trainable

frozen_dtype = full.frozen_dtype
save = full.save
load = full.load


def prepare(model, cfg: Config):
    """Mark every block (and the flagged parts) trainable: the optimizer must see them all."""
    layers = find_layers(model)
    set_trainable(model, layers, len(layers.blocks), cfg.layers)
    return model


def unfrozen_blocks(step: int, steps_per_epoch: int, every: int | None, blocks: int) -> int:
    """Blocks training at optimizer step ``step`` (1-based): one more per ``every`` steps."""
    period = every or steps_per_epoch
    return min(blocks, 1 + (step - 1) // period)


def on_step(model, step: int, steps_per_epoch: int, cfg: Config) -> dict | None:
    """Set what trains at ``step``; a log row when the count changed (or the run (re)started)."""
    layers = find_layers(model)
    n = len(layers.blocks)
    count = unfrozen_blocks(step, steps_per_epoch, cfg.layers.unfreeze_every, n)
    already = sum(any(p.requires_grad for p in block.values()) for block in layers.blocks)
    set_trainable(model, layers, count, cfg.layers)
    return {"unfrozen_blocks": count} if count != already else None
