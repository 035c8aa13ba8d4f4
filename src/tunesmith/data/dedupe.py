"""Exact and near-duplicate removal within a split, and leakage removal across splits.

Near duplicates are found the way ``tunesmith data inspect`` finds them (the same normalization,
word 3-shingles, MinHash LSH and exact Jaccard confirmation from ``tunesmith.data.checks``), so
what inspect reports is what prepare removes.
"""

from __future__ import annotations

from tunesmith.config import InspectConfig, PreprocessConfig
from tunesmith.data.checks import NearIndex, normalize, sketches
from tunesmith.data.examples import Example, Splits
from tunesmith.data.preprocess import log_step
from tunesmith.errors import TunesmithError


def _limits(threshold: float) -> InspectConfig:
    return InspectConfig(near_duplicate_threshold=threshold)


def plain_text(example: Example) -> str:
    """All of an example's text, fields separated by spaces (its label left out)."""
    return example.key().replace("\x1e", " ").replace("\x1f", " ")


def exact_dedupe(examples: list[Example]) -> tuple[list[Example], int]:
    """The first of each group of equal contents (``key()``), in order; and how many of the
    dropped repeats carried a different label than the kept one."""
    first_label: dict[str, str | None] = {}
    kept, conflicts = [], 0
    for example in examples:
        key = example.key()
        if key in first_label:
            conflicts += first_label[key] != example.label
            continue
        first_label[key] = example.label
        kept.append(example)
    return kept, conflicts


def near_dedupe(examples: list[Example], threshold: float) -> list[Example]:
    """Examples that do not nearly repeat an earlier kept one (Jaccard >= ``threshold``)."""
    limits = _limits(threshold)
    norms = [normalize(plain_text(e)) for e in examples]
    first: dict[str, int] = {}
    for i, norm in enumerate(norms):
        first.setdefault(norm, i)
    # One vectorised MinHash call over the distinct normalized texts only.
    order = list(first.values())
    sketch_of = dict(zip(order, sketches([norms[i] for i in order], limits), strict=True))
    index = NearIndex(limits)
    kept = []
    for i, example in enumerate(examples):
        if first[norms[i]] != i or index.match(norms[i], sketch_of[i]) is not None:
            continue
        index.add(str(i), norms[i], sketch_of[i])
        kept.append(example)
    return kept


def leaks(candidates: list[Example], held_out: list[Example], threshold: float) -> list[str]:
    """For each candidate: "exact" or "near" when it repeats a held-out example, else ""."""
    if not held_out or not candidates:
        return [""] * len(candidates)
    limits = _limits(threshold)
    keys = {e.key() for e in held_out}
    held_norms = list(dict.fromkeys(normalize(plain_text(e)) for e in held_out))
    index = NearIndex(limits)
    for i, (norm, sketch) in enumerate(zip(held_norms, sketches(held_norms, limits), strict=True)):
        index.add(str(i), norm, sketch)
    known = set(held_norms)
    norms = [normalize(plain_text(e)) for e in candidates]
    out = []
    for example, norm, sketch in zip(candidates, norms, sketches(norms, limits), strict=True):
        if example.key() in keys:
            out.append("exact")
        elif norm in known or index.match(norm, sketch) is not None:
            out.append("near")
        else:
            out.append("")
    return out


def without_leaks(
    examples: list[Example], held_out: list[Example], cfg: PreprocessConfig
) -> tuple[list[Example], dict[str, int]]:
    """``examples`` minus those that (nearly) repeat ``held_out``; counts of each kind removed."""
    found = leaks(examples, held_out, cfg.near_threshold)
    kept = [e for e, why in zip(examples, found, strict=True) if not why]
    return kept, {"exact": found.count("exact"), "near": found.count("near")}


def dedupe_file(
    examples: list[Example], split: str, cfg: PreprocessConfig, steps: list[dict]
) -> list[Example]:
    """One file's examples after the switched-on exact and near de-duplication."""
    if cfg.exact_dedupe:
        before = len(examples)
        examples, conflicts = exact_dedupe(examples)
        log_step(steps, "exact_dedupe", split, before, len(examples), label_conflicts=conflicts)
    if cfg.near_dedupe:
        before = len(examples)
        examples = near_dedupe(examples, cfg.near_threshold)
        log_step(steps, "near_dedupe", split, before, len(examples))
    return examples


def remove_leakage(splits: Splits, cfg: PreprocessConfig, train_file: str) -> None:
    """Drop from train what (nearly) repeats validation or test, and from validation what
    repeats test; each removal is logged in ``splits.steps``."""
    if not cfg.remove_leakage:
        return
    before = len(splits.train)
    splits.train, found = without_leaks(splits.train, splits.validation + splits.test, cfg)
    log_step(splits.steps, "leakage", "train", before, len(splits.train), **found)
    if not splits.train:
        raise TunesmithError(
            f"{train_file}: every training example also appears (exactly or nearly) in the "
            "validation or test data; nothing is left to train on"
        )
    if splits.validation and splits.test:
        before = len(splits.validation)
        splits.validation, found = without_leaks(splits.validation, splits.test, cfg)
        log_step(splits.steps, "leakage", "validation", before, len(splits.validation), **found)
