"""Turn the configured data files into clean, seeded train / validation / test splits.

The task and the text/label columns are decided once, from the training file, and applied to
the validation and test files. Each file is cleaned and de-duplicated (``data.preprocess``)
before the training file is split; afterwards no training example repeats, exactly or nearly,
a validation or test example. ``Splits.steps`` records what every step did.
"""

from __future__ import annotations

import random

from sklearn.model_selection import train_test_split

from tunesmith.config import DataConfig
from tunesmith.data.dedupe import dedupe_file, remove_leakage
from tunesmith.data.examples import Example, Splits
from tunesmith.data.load import Record, position, read_records
from tunesmith.data.preprocess import clean_file, log_step
from tunesmith.data.tasks import detect_task, resolve_fields
from tunesmith.errors import TunesmithError


def make_splits(cfg: DataConfig, seed: int, skip_bad: bool = False) -> Splits:
    """Read, clean and de-duplicate ``cfg.train`` (and the validation/test files), then split.

    Missing validation/test files are replaced by ``validation_fraction`` / ``test_fraction``
    of the cleaned training file, stratified by label for classification. A record that can't
    become an example is an error, or left out with ``skip_bad`` (``train --force``).
    """
    if not cfg.train:
        raise TunesmithError("data.train is not set; point it at your training file")
    _check_fractions(cfg)
    train_file = cfg.train
    records = read_records(train_file)
    task = detect_task(records, cfg)
    cfg = resolve_fields(records, task, cfg)
    steps: list[dict] = []
    train = _prepared(train_file, "train", task, cfg, steps, records, skip_bad)
    validation = _prepared(cfg.validation, "validation", task, cfg, steps, skip_bad=skip_bad)
    test = _prepared(cfg.test, "test", task, cfg, steps, skip_bad=skip_bad)
    labels = _labels(train, cfg) if task == "classification" else None
    if labels:
        _check_labels(validation + test, labels, cfg)
    stratify = labels is not None
    n_test, n_validation = _held_out_counts(train, cfg)
    before = len(train)
    train, split_test = _split(train, n_test, seed, stratify)
    train, split_validation = _split(train, n_validation, seed, stratify)
    if n_test or n_validation:
        held = {"to_validation": n_validation, "to_test": n_test}
        log_step(steps, "split", "train", before, len(train), **held)
    before = len(train)
    train = subsample(train, cfg.max_examples, seed, stratify)
    if len(train) != before:
        log_step(steps, "max_examples", "train", before, len(train))
    splits = Splits(
        task=task,
        train=train,
        validation=validation if cfg.validation else split_validation,
        test=test if cfg.test else split_test,
        labels=labels,
        steps=steps,
    )
    remove_leakage(splits, cfg.preprocess, train_file)
    return splits


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


def _prepared(
    path: str | None,
    split: str,
    task: str,
    cfg: DataConfig,
    steps: list[dict],
    records: list[Record] | None = None,
    skip_bad: bool = False,
) -> list[Example]:
    """One file's cleaned, de-duplicated examples (none when ``path`` is not given)."""
    if not path:
        return []
    records = records if records is not None else read_records(path)
    examples = clean_file(records, split, task, cfg, steps, skip_bad)
    examples = dedupe_file(examples, split, cfg.preprocess, steps)
    if not examples:
        raise TunesmithError(
            f"{path}: no examples are left after data.preprocess (every row was dropped); "
            "relax data.preprocess.missing or fix the file"
        )
    return examples


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
