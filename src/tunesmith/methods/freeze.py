"""Freeze: train only the top ``layers.train_top`` transformer blocks (and, by flag, the
embeddings, final norm and output layer); everything below stays as it was.

The trained blocks keep fp32 master weights like full fine-tuning; saving writes the whole model.
"""

from __future__ import annotations

from tunesmith.config import Config
from tunesmith.methods import full
from tunesmith.methods.layers import find_layers, set_trainable

frozen_dtype = full.frozen_dtype
save = full.save
load = full.load


def prepare(model, cfg: Config):
    """Freeze every parameter, then unfreeze the top blocks and the flagged parts."""
    set_trainable(model, find_layers(model), cfg.layers.train_top, cfg.layers)
    return model
