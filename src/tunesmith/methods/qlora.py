"""QLoRA (Dettmers et al. 2023): the frozen base loaded in 4-bit NF4 by bitsandbytes, LoRA
adapters (options: the ``lora:`` section) trained on top in the compute dtype.

Needs a CUDA GPU and the bitsandbytes package; ``check`` says which is missing before anything
loads. Only the adapters are saved; loading re-quantizes the base from its original weights.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from tunesmith.config import Config
from tunesmith.errors import TunesmithError
from tunesmith.methods import lora
from tunesmith.models.load import load_model

frozen_dtype = lora.frozen_dtype
prepare = lora.prepare
save = lora.save


def check(cfg: Config) -> None:
    """Raise a one-line error when this machine can't load 4-bit weights."""
    if not torch.cuda.is_available():
        raise TunesmithError(
            f"method: {cfg.method} needs a CUDA GPU (bitsandbytes 4-bit weights run only there) "
            "and none is visible; use method lora on this machine"
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise TunesmithError(
            f"method: {cfg.method} needs the bitsandbytes package, which is not installed; "
            "pip install bitsandbytes, or use method lora"
        )


def load_base(location, dtype: torch.dtype, device: torch.device, tokenizer=None, labels=None):
    """The causal LM with its linear layers quantized to 4-bit NF4, computing in ``dtype``."""
    from transformers import BitsAndBytesConfig

    quantization = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,  # quantize the quantization constants too (~0.4 bit)
        bnb_4bit_compute_dtype=dtype,
    )
    index = device.index if device.index is not None else torch.cuda.current_device()
    return load_model(
        location, dtype, device, quantization_config=quantization, device_map={"": index}
    )


def load(location, directory: Path, dtype: torch.dtype, device: torch.device):
    """The 4-bit base from ``location`` with the saved adapters on top."""
    return lora.load_adapter(load_base(location, dtype, device), directory)
