"""Load a causal LM and its tokenizer from a resolved location, in the precision asked for."""

from __future__ import annotations

from pathlib import Path

import torch

from tunesmith.errors import TunesmithError


def pick_device() -> torch.device:
    """The accelerator when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cpu_has_bf16() -> bool:
    """True when the CPU multiplies bf16 natively (AVX512-BF16 or AMX), ~4.5x fp32 here."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def compute_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype matmuls run in: bf16 where the hardware does it natively, else fp32."""
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.bfloat16 if cpu_has_bf16() else torch.float32


def load_tokenizer(location: Path | str):
    """The model's tokenizer, with a pad token (the EOS token when the model has none)."""
    from transformers import AutoTokenizer

    tokenizer = _from_pretrained(AutoTokenizer, location)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    location: Path | str, dtype: torch.dtype, device: torch.device, auto_class=None, **kwargs
):
    """The causal LM (or ``auto_class``) with weights in ``dtype`` on ``device``, in eval mode.

    ``kwargs`` go to ``from_pretrained`` (e.g. ``num_labels``); a model placed by a
    ``device_map`` (quantized weights can't be moved afterwards) stays where it was put.
    """
    from transformers import AutoModelForCausalLM

    model = _from_pretrained(auto_class or AutoModelForCausalLM, location, dtype=dtype, **kwargs)
    if "device_map" not in kwargs:
        model = model.to(device)
    return model.eval()


def _from_pretrained(auto_class, location: Path | str, **kwargs):
    if isinstance(location, str):
        # A hub id: use the local HF cache when it has the files, and fail fast (instead of
        # retrying for a minute) when the hub can't be reached.
        try:
            return auto_class.from_pretrained(location, local_files_only=True, **kwargs)
        except Exception:  # noqa: BLE001 - not cached: try the network below
            if not _hub_reachable():
                raise TunesmithError(
                    f"model: '{location}' is not a local path, not in the Hugging Face cache, "
                    "and the hub can't be reached; use 'default', a downloaded model directory "
                    "or a .gguf file"
                ) from None
    try:
        return auto_class.from_pretrained(str(location), **kwargs)
    except Exception as exc:  # noqa: BLE001 - hub, network and format errors have no common base
        if isinstance(location, Path):
            raise TunesmithError(
                f"model: could not load {location} ({type(exc).__name__}: {_first_line(exc)}); "
                "check that it is a Hugging Face causal LM directory"
            ) from None
        raise TunesmithError(
            f"model: '{location}' is not a local path and could not be loaded from the "
            f"Hugging Face hub ({type(exc).__name__}: {_first_line(exc)}); without network "
            "access use 'default', a downloaded model directory or a .gguf file"
        ) from None


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or ""
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
    except OSError:
        return False
    return True


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


def compute_context(device: torch.device, dtype: torch.dtype):
    """Autocast to ``dtype`` (a no-op for fp32), so fp32 weights still multiply in bf16."""
    return torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
