"""Content hashes of prepared splits, and a cache of their tokenization.

A split is identified by the sha256 of its JSONL form (what ``tunesmith data prepare`` writes).
Its tokenization is stored under ``TUNESMITH_HOME/token_cache`` as one safetensors file, keyed
by (content hash, tokenizer identity, max_length, template code), so rerunning a config on
unchanged data skips the tokenizer. The files hold integer tensors only: nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from tunesmith.data import encode, templates
from tunesmith.data.encode import Encoded, encode_examples
from tunesmith.data.examples import Example
from tunesmith.models.resolve import tunesmith_home


def token_cache_dir() -> Path:
    """Where tokenized splits are kept."""
    return tunesmith_home() / "token_cache"


def example_record(example: Example) -> dict:
    """The JSON form of an example, in the columns tunesmith's loaders read back."""
    if example.messages is not None:
        return {"messages": [{"role": m.role, "content": m.content} for m in example.messages]}
    if example.task == "instruction":
        return {
            "instruction": example.instruction or "",
            "input": example.input or "",
            "output": example.output or "",
        }
    if example.task == "classification":
        return {"text": example.text, "label": example.label}
    return {"text": example.text}


def jsonl_bytes(examples: list[Example]) -> bytes:
    """The examples as JSON lines (UTF-8), the exact bytes a prepared split file holds."""
    lines = (json.dumps(example_record(e), ensure_ascii=False) + "\n" for e in examples)
    return "".join(lines).encode("utf-8")


def content_hash(examples: list[Example]) -> str:
    """sha256 hex of ``jsonl_bytes(examples)``."""
    return hashlib.sha256(jsonl_bytes(examples)).hexdigest()


def tokenizer_identity(tokenizer) -> str:
    """sha256 hex of what decides a tokenizer's output: its vocabulary, rules and templates."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    state = (
        backend.to_str()
        if backend is not None
        else json.dumps(sorted(tokenizer.get_vocab().items()))
    )
    extra = [
        type(tokenizer).__name__,
        getattr(tokenizer, "chat_template", None) or "",
        *(str(getattr(tokenizer, name, None)) for name in ("bos_token", "eos_token", "pad_token")),
    ]
    return hashlib.sha256("\x1e".join([state, *extra]).encode("utf-8")).hexdigest()


def cache_key(examples: list[Example], tokenizer, max_length: int) -> str:
    """The cache entry's name: content, tokenizer, length limit and the rendering code."""
    # The template and encoding code decide the tokens as much as the tokenizer does: hashing
    # their source makes any change to them invalidate the cache, with no version to bump.
    code = b"".join(Path(m.__file__ or "").read_bytes() for m in (templates, encode))
    parts = [
        examples[0].task if examples else "",
        content_hash(examples),
        tokenizer_identity(tokenizer),
        str(max_length),
        hashlib.sha256(code).hexdigest(),
    ]
    return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()[:32]


def encode_cached(
    examples: list[Example], tokenizer, max_length: int, enabled: bool = True
) -> list[Encoded]:
    """``encode_examples``, read from the token cache when this exact input was seen before."""
    if not enabled or not examples:
        return encode_examples(examples, tokenizer, max_length)
    path = token_cache_dir() / f"{cache_key(examples, tokenizer, max_length)}.safetensors"
    if path.is_file():
        cached = _load(path)
        if cached is not None:
            return cached
    encoded = encode_examples(examples, tokenizer, max_length)
    _save(path, encoded)
    return encoded


def _save(path: Path, encoded: list[Encoded]) -> None:
    """Write atomically: a crash or a concurrent run never leaves half an entry behind."""
    lengths = [len(item.input_ids) for item in encoded]
    tensors = {
        "input_ids": torch.tensor(
            [t for item in encoded for t in item.input_ids], dtype=torch.int64
        ),
        "labels": torch.tensor([t for item in encoded for t in item.labels], dtype=torch.int64),
        "lengths": torch.tensor(lengths, dtype=torch.int64),
        "truncated": torch.tensor([item.truncated for item in encoded], dtype=torch.bool),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=path.parent)
    os.close(handle)
    try:
        save_file(tensors, tmp, metadata={"format": "tunesmith-tokens-1"})
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _load(path: Path) -> list[Encoded] | None:
    """The cached encoding, or None when the entry is unreadable (it is then rebuilt)."""
    try:
        tensors = load_file(str(path))
        ids, labels = tensors["input_ids"].tolist(), tensors["labels"].tolist()
        lengths = tensors["lengths"].tolist()
        truncated = tensors["truncated"].tolist()
    except Exception:  # noqa: BLE001 - any damage to a cache file means "rebuild it"
        return None
    if sum(lengths) != len(ids) or len(ids) != len(labels) or len(truncated) != len(lengths):
        return None
    out, start = [], 0
    for length, cut in zip(lengths, truncated, strict=True):
        out.append(Encoded(ids[start : start + length], labels[start : start + length], cut))
        start += length
    return out
