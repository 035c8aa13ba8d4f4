"""Fine-tuning methods, one small module each, chosen by name from a registry.

Each method module provides:
  frozen_dtype(compute) -> torch.dtype   dtype to load the base weights in
  prepare(model, cfg) -> model           mark what trains (and wrap, e.g. with adapters)
  save(model, tokenizer, directory)      write the trained weights as safetensors
  load(location, directory, dtype, device) -> model   rebuild the tuned model from `final/`

feature_extraction trains no weights of the model: the pipeline runs its ``fit`` (features, then
a head) in place of the training loop, and its loaded model scores labels itself.
"""

from __future__ import annotations

from types import ModuleType

from tunesmith.errors import TunesmithError
from tunesmith.methods import feature_extraction, full, lora

METHODS: dict[str, ModuleType] = {
    "lora": lora,
    "full": full,
    "feature_extraction": feature_extraction,
}


def get_method(name: str) -> ModuleType:
    """The method module called ``name``."""
    if name not in METHODS:
        raise TunesmithError(f"method '{name}' is unknown; choose one of: {', '.join(METHODS)}")
    return METHODS[name]


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = total = 0
    for p in model.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return trainable, total
