"""LoRA: train low-rank adapters on the linear layers; the base stays frozen (in bf16)."""

from __future__ import annotations

from pathlib import Path

import torch

from tunesmith.config import Config
from tunesmith.models.load import load_model


def frozen_dtype(compute: torch.dtype) -> torch.dtype:
    """Frozen weights never update, so they can live in the fast compute dtype."""
    return compute


def adapter_config(cfg: Config, task_type: str = "CAUSAL_LM", **extra):
    """peft's LoraConfig from the ``lora:`` section (``extra``: e.g. use_dora, modules_to_save)."""
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules,
        task_type=task_type,
        **extra,
    )


def prepare(model, cfg: Config):
    """Wrap ``model`` with fresh adapters; only they train (kept in fp32 by peft)."""
    from peft import get_peft_model

    return get_peft_model(model, adapter_config(cfg))


def save(model, tokenizer, directory: Path) -> None:
    """Write the adapter (adapter_model.safetensors + adapter_config.json)."""
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)


def load(location, directory: Path, dtype: torch.dtype, device: torch.device):
    """The base model from ``location`` with the saved adapter on top."""
    return load_adapter(load_model(location, dtype, device), directory)


def load_adapter(base, directory: Path):
    """``base`` with the adapter saved in ``directory`` (any peft method), in eval mode."""
    from peft import PeftModel

    return PeftModel.from_pretrained(base, str(directory)).eval()


def merge(model):
    """A plain transformers model with the adapter folded into the weights."""
    return model.merge_and_unload()
