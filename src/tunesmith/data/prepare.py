"""``tunesmith data prepare``: write the splits exactly as training will see them, with a manifest.

OUT/train.jsonl, validation.jsonl, test.jsonl   cleaned, de-duplicated, leak-free splits (train
                                                 augmented), in columns tunesmith reads back
OUT/manifest.json   sha256 of each source file, every step with its before/after counts, the
                    sha256 of each split written, and the token-cache entries it filled

Training runs the same steps (``make_splits`` then ``augment_train``) and reads the token cache
this command fills, so a prepared config trains without tokenizing again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from rich.console import Console

from tunesmith import __version__
from tunesmith.config import Config
from tunesmith.config_io import to_dict
from tunesmith.data.augment import augment_train
from tunesmith.data.cache import cache_key, encode_cached, jsonl_bytes, tokenizer_identity
from tunesmith.data.examples import Splits
from tunesmith.data.preprocess import describe_steps
from tunesmith.data.split import make_splits
from tunesmith.errors import TunesmithError
from tunesmith.rundir import write_json

SPLIT_NAMES = ("train", "validation", "test")
MANIFEST = "manifest.json"
_HASH_BLOCK = 1 << 20  # hash large source files in constant memory


def default_out(cfg: Config) -> Path:
    """Next to the run directory: ``runs/latest`` -> ``runs/latest-data``."""
    output = Path(cfg.output)
    return output.with_name(f"{output.name}-data")


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse (before any work) to replace an earlier preparation unless ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise TunesmithError(f"--out {out}: exists and is not a directory; choose another path")
    names = [*(f"{name}.jsonl" for name in SPLIT_NAMES), MANIFEST]
    taken = [name for name in names if (out / name).exists()]
    if taken and not overwrite:
        raise TunesmithError(
            f"--out {out}: already holds a prepared dataset ({taken[0]}); "
            "pass --overwrite to replace it or choose another --out"
        )


def prepare_dataset(
    cfg: Config,
    out: Path | None = None,
    *,
    overwrite: bool = False,
    tokenize: bool = True,
    console: Console | None = None,
) -> Path:
    """Prepare ``cfg``'s data into ``out`` (default: next to ``cfg.output``); returns ``out``.

    The model's tokenizer is loaded to fill the token cache (unless ``tokenize`` is False or
    ``data.cache_tokens`` is off), and the model itself only for paraphrases.
    """
    console = console or Console(stderr=True)
    out = out or default_out(cfg)
    check_out(out, overwrite)
    splits = make_splits(cfg.data, cfg.train.seed)
    tokenize = tokenize and cfg.data.cache_tokens
    model = tokenizer = None
    if tokenize or cfg.data.augment.paraphrases:
        model, tokenizer = _load(cfg, console, with_model=cfg.data.augment.paraphrases > 0)
    augment_train(splits, cfg, model, tokenizer)
    cached = _fill_cache(splits, cfg, tokenizer) if tokenize else {}
    write_prepared(out, splits, cfg, cached)
    for line in describe_steps(splits.steps):
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"written {out} ({', '.join(_counts(splits))})")
    return out


def write_prepared(out: Path, splits: Splits, cfg: Config, token_cache: dict) -> dict:
    """Write the split files and manifest.json into ``out``; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict] = {}
    for name in SPLIT_NAMES:
        examples = getattr(splits, name)
        path = out / f"{name}.jsonl"
        if not examples:
            path.unlink(missing_ok=True)  # left over from a preparation being overwritten
            files[name] = {"file": None, "examples": 0, "sha256": None}
            continue
        data = jsonl_bytes(examples)
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        files[name] = {
            "file": path.name,
            "examples": len(examples),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    manifest = {
        "tunesmith_version": __version__,
        "task": splits.task,
        "labels": splits.labels,
        "seed": cfg.train.seed,
        "data_config": to_dict(cfg.data),
        "sources": _sources(cfg),
        "steps": splits.steps,
        "splits": files,
        "token_cache": token_cache,
    }
    write_json(out / MANIFEST, manifest)
    return manifest


def file_sha256(path: str | Path) -> str:
    """sha256 hex of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _sources(cfg: Config) -> dict:
    return {
        name: {"path": str(path), "sha256": file_sha256(path)}
        for name in SPLIT_NAMES
        if (path := getattr(cfg.data, name))
    }


def _counts(splits: Splits) -> list[str]:
    return [f"{len(getattr(splits, name))} {name}" for name in SPLIT_NAMES]


def _load(cfg: Config, console: Console, with_model: bool):
    """(model or None, tokenizer) of ``cfg.model``; the model in the training compute dtype."""
    from tunesmith.models.load import compute_dtype, load_model, load_tokenizer, pick_device
    from tunesmith.models.resolve import resolve_model

    location = resolve_model(cfg.model, console.print)
    tokenizer = load_tokenizer(location)
    if not with_model:
        return None, tokenizer
    device = pick_device()
    return load_model(location, compute_dtype(cfg.train.precision, device), device), tokenizer


def _fill_cache(splits: Splits, cfg: Config, tokenizer) -> dict:
    """Tokenize the splits training tokenizes (train, validation) into the token cache."""
    max_length = cfg.train.max_length
    entries: dict = {"tokenizer": tokenizer_identity(tokenizer), "max_length": max_length}
    for name in ("train", "validation"):
        examples = getattr(splits, name)
        if examples:
            encoded = encode_cached(examples, tokenizer, max_length)
            entries[name] = {
                "key": cache_key(examples, tokenizer, max_length),
                "sequences": len(encoded),
                "tokens": sum(len(item.input_ids) for item in encoded),
            }
    return entries
