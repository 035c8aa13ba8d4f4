"""Turn the configured data files into seeded train / validation / test splits.

The task and the text/label columns are decided once, from the training file, and applied to
the validation and test files. Held-out examples never also appear in train: exact duplicates
are removed from the training file before it is split.
"""

from __future__ import annotations

import random

from sklearn.model_selection import train_test_split

from tunesmith.config import DataConfig
from tunesmith.data.examples import Example, Splits
from tunesmith.data.load import position, read_records
from tunesmith.data.tasks import detect_task, resolve_fields, to_examples
from tunesmith.errors import TunesmithError


def make_splits(cfg: DataConfig, seed: int, skip_bad: bool = False) -> Splits:
    """Read ``cfg.train`` (and the validation/test files if given) into deterministic splits.

    Missing validation/test files are replaced by ``validation_fraction`` / ``test_fraction``
    of the de-duplicated training file, stratified by label for classification. A record that
    can't become an example is an error, or left out with ``skip_bad`` (``train --force``).
    """
    if not cfg.train:
        raise TunesmithError("data.train is not set; point it at your training file")
    _check_fractions(cfg)
    train_file = cfg.train
    records = read_records(train_file)
    task = detect_task(records, cfg)
    cfg = resolve_fields(records, task, cfg)
    validation = _read_file(cfg.validation, task, cfg, skip_bad)
    test = _read_file(cfg.test, task, cfg, skip_bad)
    examples = to_examples(records, task, cfg, skip_bad)
    if not examples:
        raise TunesmithError(f"{train_file}: no usable examples; fix the file")
    train = _without(_dedupe(examples), validation + test, train_file)
    labels = _labels(train, cfg) if task == "classification" else None
    if labels:
        _check_labels(validation + test, labels, cfg)
    stratify = labels is not None
    n_test, n_validation = _held_out_counts(train, cfg)
    train, split_test = _split(train, n_test, seed, stratify)
    train, split_validation = _split(train, n_validation, seed, stratify)
    train = subsample(train, cfg.max_examples, seed, stratify)
    return Splits(
        task=task,
        train=train,
        validation=validation if cfg.validation else split_validation,
        test=test if cfg.test else split_test,
        labels=labels,
    )


def subsample(
    examples: list[Example], limit: int | None, seed: int, stratify: bool
) -> list[Example]:
    """At most ``limit`` of ``examples`` (all when ``limit`` is None), seeded and stratified."""
    if limit is None or len(examples) <= limit:
        return examples
    kept, _ = _split(examples, len(examples) - limit, seed, stratify)
    return kept


def _check_fractions(cfg: DataConfig) -> None:
    """Fractions in [0, 1) whose sum leaves something to train on; max_examples positive."""
    for name in ("validation_fraction", "test_fraction"):
        value = getattr(cfg, name)
        if not 0 <= value < 1:
            raise TunesmithError(f"data.{name} is {value}; use a share from 0 up to (not) 1")
    used = (0 if cfg.validation else cfg.validation_fraction) + (
        0 if cfg.test else cfg.test_fraction
    )
    if used >= 1:
        raise TunesmithError(
            "data.validation_fraction + data.test_fraction leave nothing to train on; lower them"
        )
    if cfg.max_examples is not None and cfg.max_examples < 1:
        raise TunesmithError(
            f"data.max_examples is {cfg.max_examples}; use at least 1 or leave it empty"
        )


def _read_file(path: str | None, task: str, cfg: DataConfig, skip_bad: bool) -> list[Example]:
    """Examples of a validation or test file, read with the training file's task and columns."""
    return to_examples(read_records(path), task, cfg, skip_bad) if path else []


def _dedupe(examples: list[Example]) -> list[Example]:
    """The first of each group of exact duplicates (same ``key()``), in file order."""
    seen: set[str] = set()
    unique = []
    for example in examples:
        if example.key() not in seen:
            seen.add(example.key())
            unique.append(example)
    return unique


def _without(train: list[Example], held_out: list[Example], file: str) -> list[Example]:
    """Training examples that do not also appear in a validation or test file."""
    keys = {example.key() for example in held_out}
    kept = [example for example in train if example.key() not in keys]
    if not kept:
        raise TunesmithError(
            f"{file}: every example also appears in the validation or test file; "
            "nothing is left to train on"
        )
    return kept


def _labels(train: list[Example], cfg: DataConfig) -> list[str]:
    """The label set: ``cfg.labels`` in its order, or the sorted labels of the training file."""
    if cfg.labels:
        labels = [str(label).strip() for label in cfg.labels]
        if len(set(labels)) != len(labels):
            raise TunesmithError(
                f"data.labels lists a label twice ({', '.join(labels)}); list each label once"
            )
        _check_labels(train, labels, cfg)
    else:
        labels = sorted({example.label or "" for example in train})
    if len(labels) < 2:
        origin = "data.labels lists" if cfg.labels else f"{cfg.train} has"
        raise TunesmithError(
            f"{origin} only one label ({labels[0]!r}); classification needs at least two"
        )
    return labels


def _check_labels(examples: list[Example], labels: list[str], cfg: DataConfig) -> None:
    """Every example's label is one of ``labels``, else an error naming the first offender."""
    allowed = set(labels)
    for example in examples:
        if example.label not in allowed:
            origin = "data.labels" if cfg.labels else "the labels of the training file"
            shown = ", ".join(labels[:10]) + (
                f", ... {len(labels)} in all" if len(labels) > 10 else ""
            )
            raise TunesmithError(
                f"{position(example.source)}: label {example.label!r} is not among {origin} "
                f"({shown}); fix the label or remove the example"
            )


def _held_out_counts(train: list[Example], cfg: DataConfig) -> tuple[int, int]:
    """How many training examples become (test, validation): at least one for a share > 0."""
    total = len(train)

    def count(fraction: float, given: str | None) -> int:
        return 0 if given or fraction == 0 else max(1, int(fraction * total + 0.5))

    n_test = count(cfg.test_fraction, cfg.test)
    n_validation = count(cfg.validation_fraction, cfg.validation)
    if n_test + n_validation >= total:
        raise TunesmithError(
            f"{cfg.train}: only {total} distinct examples, too few to hold out {n_validation} for "
            f"validation and {n_test} for test; add examples or give validation and test files"
        )
    return n_test, n_validation


def _split(
    examples: list[Example], n_out: int, seed: int, stratify: bool
) -> tuple[list[Example], list[Example]]:
    """(kept, out) with ``n_out`` examples out, both in file order; seeded and deterministic."""
    if n_out == 0:
        return examples, []
    indices = list(range(len(examples)))
    if stratify:
        kept, out = _stratified(indices, [e.label or "" for e in examples], n_out, seed)
    else:
        kept, out = train_test_split(indices, test_size=n_out, random_state=seed)
    return [examples[i] for i in sorted(kept)], [examples[i] for i in sorted(out)]


def _stratified(
    indices: list[int], labels: list[str], n_out: int, seed: int
) -> tuple[list[int], list[int]]:
    """Stratified (kept, out) indices; every class stays on the kept side where possible."""
    try:
        kept, out = train_test_split(indices, test_size=n_out, stratify=labels, random_state=seed)
        if {labels[i] for i in kept} == set(labels):
            return kept, out
    except ValueError:
        # sklearn cannot stratify when a class has one member or there are fewer slots than
        # classes; a plain split is the honest answer for such small data.
        pass
    return _keep_each_class(labels, n_out, seed)


def _keep_each_class(labels: list[str], n_out: int, seed: int) -> tuple[list[int], list[int]]:
    """An unstratified split that first reserves one example of every class for the kept side."""
    order = list(range(len(labels)))
    random.Random(seed).shuffle(order)
    first_of_class: dict[str, int] = {}
    for i, label in enumerate(labels):
        first_of_class.setdefault(label, i)
    reserved = set(first_of_class.values())
    pool = [i for i in order if i not in reserved]
    if n_out > len(pool):
        return order[n_out:], order[:n_out]
    return pool[n_out:] + sorted(reserved), pool[:n_out]
