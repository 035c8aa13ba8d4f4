"""LoRA: train low-rank adapters on the linear layers; the base stays frozen (in bf16)."""

from __future__ import annotations

from pathlib import Path

import torch

from tunesmith.config import Config
from tunesmith.models.load import load_model


def frozen_dtype(compute: torch.dtype) -> torch.dtype:
    """Frozen weights never update, so they can live in the fast compute dtype."""
    return compute


def prepare(model, cfg: Config):
    """Wrap ``model`` with fresh adapters; only they train (kept in fp32 by peft)."""
    from peft import LoraConfig, get_peft_model

    adapter = LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, adapter)


def save(model, tokenizer, directory: Path) -> None:
    """Write the adapter (adapter_model.safetensors + adapter_config.json)."""
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)


def load(location, directory: Path, dtype: torch.dtype, device: torch.device):
    """The base model from ``location`` with the saved adapter on top."""
    from peft import PeftModel

    base = load_model(location, dtype, device)
    return PeftModel.from_pretrained(base, str(directory)).eval()


def merge(model):
    """A plain transformers model with the adapter folded into the weights."""
    return model.merge_and_unload()
