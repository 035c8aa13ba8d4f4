"""Prefix tuning (Li & Liang 2021): ``prompt.num_virtual_tokens`` trained keys and values put in
front of every layer's attention; the whole model stays frozen (in the compute dtype).

peft adds the prefix as a pre-filled KV cache; the backbone-only paths (loss, label scoring) and
generation do it through ``tunesmith.models.backbone``.
"""

from __future__ import annotations

from tunesmith.config import Config
from tunesmith.methods import lora

frozen_dtype = lora.frozen_dtype
save = lora.save  # adapter_model.safetensors holds the prefix (or its encoder)
load = lora.load


def prepare(model, cfg: Config):
    """Wrap ``model`` with a fresh prefix (optionally produced by a small MLP)."""
    from peft import PrefixTuningConfig, get_peft_model

    config = PrefixTuningConfig(
        task_type="CAUSAL_LM",
        num_virtual_tokens=cfg.prompt.num_virtual_tokens,
        prefix_projection=cfg.prompt.prefix_projection,
        encoder_hidden_size=cfg.prompt.encoder_hidden_size,
    )
    return get_peft_model(model, config)
