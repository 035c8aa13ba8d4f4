"""Pooled hidden states of a frozen model, one vector per text, cached on disk as safetensors.

Extraction is the whole cost of the feature_extraction method, so it does the least work that
gives the vectors: the decoder backbone only (the output layer and its logits never run), under
``torch.inference_mode``, longest texts first in batches of similar length padded only to the
longest of each batch. The vectors are cached under a key of everything they depend on (the
model's files, the compute dtype, the exact prompts, pooling, layer and max length), so a second
run on the same data skips the model entirely.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from tunesmith.data.encode import prompt_ids
from tunesmith.errors import TunesmithError
from tunesmith.models.load import compute_context
from tunesmith.models.resolve import tunesmith_home
from tunesmith.train.loss import unwrap


@dataclass(frozen=True)
class FeatureSpec:
    """How texts become vectors: pooling ("mean" or "last"), hidden layer, token budget."""

    pooling: str
    layer: int
    max_length: int


@dataclass
class Features:
    """Vectors [texts, hidden] (fp32, in the texts' order), their token count, cache hit or not."""

    vectors: torch.Tensor
    tokens: int
    cached: bool


def extract_features(
    model,
    tokenizer,
    prompts: list[str],
    spec: FeatureSpec,
    *,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype,
    on_batch: Callable[[int], None] | None = None,
) -> Features:
    """Pool the hidden states of every prompt: fp32 tensor [prompts, hidden]."""
    ids = [prompt_ids(p, tokenizer, spec.max_length) for p in prompts]
    check_layer(model, spec.layer)
    backbone = unwrap(model).get_decoder()
    # Longest first: the batch that needs the most memory runs at once, not after an hour.
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    chunks = []
    model.eval()
    with torch.inference_mode(), compute_context(device, dtype):
        for start in range(0, len(order), batch_size):
            rows = [ids[i] for i in order[start : start + batch_size]]
            chunks.append(pooled_batch(backbone, rows, spec, tokenizer, device).float().cpu())
            if on_batch:
                on_batch(len(rows))
    # A clone outside inference mode: inference tensors can't feed a head that trains.
    stacked = torch.cat(chunks).clone() if chunks else torch.empty(0, 0)
    vectors = torch.empty_like(stacked)
    vectors[torch.tensor(order, dtype=torch.long)] = stacked
    return Features(vectors, sum(len(row) for row in ids), cached=False)


def pooled_batch(backbone, rows: list[list[int]], spec: FeatureSpec, tokenizer, device):
    """One backbone call on right-padded ``rows``: pooled states [rows, hidden]."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    ids, mask = ids.to(device), mask.to(device)
    every_layer = spec.layer != -1
    out = backbone(
        input_ids=ids, attention_mask=mask, use_cache=False, output_hidden_states=every_layer
    )
    hidden = out.hidden_states[spec.layer] if every_layer else out.last_hidden_state
    if spec.pooling == "last":
        return hidden[torch.arange(len(rows), device=device), mask.sum(dim=1) - 1]
    weights = mask.clone()
    if tokenizer.bos_token_id is not None:
        # BOS is the same in every text and its state is an outlier (an attention sink) that
        # would dominate the mean of a short text; a one-token text keeps it.
        starts = (ids[:, 0] == tokenizer.bos_token_id) & (mask.sum(dim=1) > 1)
        weights[starts, 0] = 0
    weights = weights.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1)


def check_layer(model, layer: int) -> None:
    """A one-line error when ``features.layer`` is not a hidden state the model has."""
    config = unwrap(model).config
    config = getattr(config, "text_config", None) or config
    states = config.num_hidden_layers + 1  # the embeddings, then one per layer
    if not -states <= layer < states:
        raise TunesmithError(
            f"features.layer = {layer}, but the model has {states - 1} layers; "
            f"use -1 (the last) or a layer from {-states} to {states - 1}"
        )


def cached_features(
    model,
    tokenizer,
    prompts: list[str],
    spec: FeatureSpec,
    *,
    cache_dir: Path | None,
    model_key: str,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype,
    on_batch: Callable[[int], None] | None = None,
) -> Features:
    """``extract_features``, read from ``cache_dir`` when extracted before (None: no cache)."""
    if cache_dir is None:
        return extract_features(
            model, tokenizer, prompts, spec,
            batch_size=batch_size, device=device, dtype=dtype, on_batch=on_batch,
        )  # fmt: skip
    path = cache_dir / f"{cache_key(model_key, dtype, prompts, spec)}.safetensors"
    if path.is_file():
        tensors, meta = load_file(path), _metadata(path)
        if on_batch:
            on_batch(len(prompts))
        return Features(tensors["features"], int(meta.get("tokens", 0)), cached=True)
    features = extract_features(
        model, tokenizer, prompts, spec,
        batch_size=batch_size, device=device, dtype=dtype, on_batch=on_batch,
    )  # fmt: skip
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")  # written whole, then renamed: a crash leaves no half file
    save_file({"features": features.vectors.contiguous()}, tmp, {"tokens": str(features.tokens)})
    tmp.replace(path)
    return features


def default_cache_dir() -> Path:
    """Where features are cached unless ``features.cache_dir`` says otherwise."""
    return tunesmith_home() / "features"


def cache_key(model_key: str, dtype: torch.dtype, prompts: list[str], spec: FeatureSpec) -> str:
    """A hex digest of everything the vectors depend on."""
    data = hashlib.sha256("\x1e".join(prompts).encode("utf-8")).hexdigest()
    parts = {"model": model_key, "dtype": str(dtype), "data": data, **asdict(spec)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()[:40]


def model_fingerprint(location: Path | str) -> str:
    """The model's identity: its location, and for a directory each file's name, size and mtime.

    The file stamps make a model re-converted or re-saved in place miss the cache.
    """
    path = Path(location)
    if not path.exists():
        return str(location)  # a hub id: its snapshot is immutable
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    stamps = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return json.dumps([str(path.resolve()), stamps])


def _metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return handle.metadata() or {}
