"""Full fine-tuning: every weight trains, kept in fp32 with bf16 compute (autocast)."""

from __future__ import annotations

from pathlib import Path

import torch

from tunesmith.config import Config
from tunesmith.models.load import load_model


def frozen_dtype(compute: torch.dtype) -> torch.dtype:
    """fp32 master weights: bf16 updates of lr * grad mostly round away to nothing."""
    return torch.float32


def prepare(model, cfg: Config):
    """Every parameter trains."""
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def save(model, tokenizer, directory: Path) -> None:
    """Write the whole model (model.safetensors + config) and tokenizer."""
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)


def load(location, directory: Path, dtype: torch.dtype, device: torch.device):
    """The saved model itself: ``final/`` is a complete transformers model directory."""
    return load_model(directory, dtype, device)
