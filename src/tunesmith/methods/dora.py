"""DoRA (Liu et al. 2024): LoRA with the weight split into magnitude and direction; the adapter
updates the direction and a trained vector the magnitude. Options: the ``lora:`` section."""

from __future__ import annotations

from tunesmith.config import Config
from tunesmith.methods import lora

frozen_dtype = lora.frozen_dtype
save = lora.save
load = lora.load
merge = lora.merge


def prepare(model, cfg: Config):
    """Wrap ``model`` with fresh DoRA adapters; only they (and the magnitudes) train."""
    from peft import get_peft_model

    return get_peft_model(model, lora.adapter_config(cfg, use_dora=True))
