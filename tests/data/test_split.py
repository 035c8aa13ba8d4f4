"""make_splits: stratification, determinism, no leakage, label sets and max_examples."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from tunesmith.config import DataConfig
from tunesmith.data.examples import Example
from tunesmith.data.split import make_splits
from tunesmith.errors import TunesmithError

QUICKSTART = Path(__file__).parents[2] / "src" / "tunesmith" / "quickstart"


def write_csv(path: Path, rows: list[tuple[str, str]]) -> str:
    """A text,label CSV file; returns its path as a string, as a config would hold it."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return str(path)


def labelled(counts: dict[str, int], prefix: str = "t") -> list[tuple[str, str]]:
    """Distinct texts with the given number of examples per label, labels interleaved."""
    rows = [(f"{prefix} {label} {i}", label) for label, n in counts.items() for i in range(n)]
    return sorted(rows, key=lambda row: int(row[0].rsplit(" ", 1)[1]))


def keys(examples: list[Example]) -> set[str]:
    return {e.key() for e in examples}


def error_of(cfg: DataConfig, seed: int = 0) -> str:
    with pytest.raises(TunesmithError) as info:
        make_splits(cfg, seed)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.fixture
def skewed(tmp_path) -> str:
    """100 examples: 60 a, 30 b, 10 c."""
    return write_csv(tmp_path / "train.csv", labelled({"a": 60, "b": 30, "c": 10}))


def test_sizes_and_stratified_proportions(skewed):
    splits = make_splits(DataConfig(train=skewed), seed=0)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (70, 10, 20)
    assert splits.task == "classification" and splits.labels == ["a", "b", "c"]
    assert Counter(e.label for e in splits.test) == {"a": 12, "b": 6, "c": 2}
    assert Counter(e.label for e in splits.validation) == {"a": 6, "b": 3, "c": 1}
    assert Counter(e.label for e in splits.train) == {"a": 42, "b": 21, "c": 7}


def test_splits_partition_the_file_and_keep_file_order(skewed):
    splits = make_splits(DataConfig(train=skewed), seed=3)
    parts = [splits.train, splits.validation, splits.test]
    sources = [e.source for part in parts for e in part]
    assert len(sources) == len(set(sources)) == 100
    for part in parts:
        lines = [int(e.source.rsplit(":", 1)[1]) for e in part]
        assert lines == sorted(lines)


def test_deterministic_by_seed(skewed):
    def sources(seed: int) -> list[list[str]]:
        splits = make_splits(DataConfig(train=skewed), seed)
        return [[e.source for e in part] for part in (splits.train, splits.validation, splits.test)]

    assert sources(1) == sources(1)
    assert sources(1) != sources(2)


def test_duplicates_never_cross_splits(tmp_path):
    rows = labelled({"a": 40, "b": 40})
    path = write_csv(tmp_path / "dup.csv", rows + rows[:50] + [(rows[0][0], "b")])
    splits = make_splits(DataConfig(train=path), seed=0)
    held_out = keys(splits.validation) | keys(splits.test)
    assert not keys(splits.train) & held_out
    total = len(splits.train) + len(splits.validation) + len(splits.test)
    assert total == 80  # duplicates (also the one with a conflicting label) kept once
    assert all(e.label == "a" for e in splits.train + splits.test if e.text == rows[0][0])


def test_examples_in_given_files_are_dropped_from_train(tmp_path):
    rows = labelled({"a": 20, "b": 20})
    train = write_csv(tmp_path / "train.csv", rows)
    validation = write_csv(tmp_path / "valid.csv", rows[:4] + [("new a", "a")])
    test = write_csv(tmp_path / "test.csv", rows[4:10])
    splits = make_splits(DataConfig(train=train, validation=validation, test=test), seed=0)
    assert len(splits.validation) == 5 and len(splits.test) == 6
    assert splits.validation[0].source == f"{validation}:2"
    assert len(splits.train) == 30
    assert not keys(splits.train) & (keys(splits.validation) | keys(splits.test))


def test_only_missing_splits_are_cut_from_train(tmp_path):
    train = write_csv(tmp_path / "train.csv", labelled({"a": 50, "b": 50}))
    test = write_csv(tmp_path / "test.csv", labelled({"a": 5, "b": 5}, prefix="other"))
    splits = make_splits(DataConfig(train=train, test=test, validation_fraction=0.2), seed=0)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (80, 20, 10)
    assert Counter(e.label for e in splits.validation) == {"a": 10, "b": 10}


def test_validation_file_is_read_with_the_training_columns(tmp_path):
    train = write_csv(tmp_path / "train.csv", labelled({"a": 10, "b": 10}))
    validation = tmp_path / "valid.jsonl"
    # "sentence" would be detected first on its own; the training file's "text" must be used.
    validation.write_text(json.dumps({"sentence": "wrong", "text": "right", "label": "a"}) + "\n")
    splits = make_splits(DataConfig(train=train, validation=str(validation)), seed=0)
    assert splits.validation[0].text == "right"


def test_labels_are_sorted_strings_or_the_configured_order(tmp_path):
    path = write_csv(tmp_path / "t.csv", labelled({"10": 5, "2": 5, "1": 5}))
    assert make_splits(DataConfig(train=path), seed=0).labels == ["1", "10", "2"]
    configured = DataConfig(train=path, labels=["2", "10", " 1"])
    assert make_splits(configured, seed=0).labels == ["2", "10", "1"]


def test_label_set_errors(tmp_path):
    train = write_csv(tmp_path / "train.csv", labelled({"a": 10, "b": 10}) + [("odd one", "c")])
    message = error_of(DataConfig(train=train, labels=["a", "b"]))
    assert message.startswith(f"{train} line 22: label 'c' is not among data.labels (a, b)")

    valid = write_csv(tmp_path / "valid.csv", [("x", "a"), ("y", "zzz")])
    message = error_of(DataConfig(train=train, validation=valid))
    assert message.startswith(f"{valid} line 3: label 'zzz' is not among the labels")

    assert "twice" in error_of(DataConfig(train=train, labels=["a", "a"]))
    one = write_csv(tmp_path / "one.csv", [(f"x{i}", "a") for i in range(10)])
    assert "only one label ('a')" in error_of(DataConfig(train=one))


def test_rare_classes_fall_back_without_error_and_stay_in_train(tmp_path):
    rows = labelled({"a": 30, "b": 30}) + [("lonely c", "c"), ("lonely d", "d")]
    path = write_csv(tmp_path / "rare.csv", rows)
    for seed in range(5):
        splits = make_splits(DataConfig(train=path), seed)
        assert {e.label for e in splits.train} == {"a", "b", "c", "d"}
        assert len(splits.validation) == 6 and len(splits.test) == 12
        assert splits.labels == ["a", "b", "c", "d"]


def test_max_examples_subsamples_train_stratified(skewed):
    full = make_splits(DataConfig(train=skewed), seed=0)
    small = make_splits(DataConfig(train=skewed, max_examples=20), seed=0)
    assert len(small.train) == 20
    assert Counter(e.label for e in small.train) == {"a": 12, "b": 6, "c": 2}
    assert keys(small.train) <= keys(full.train)
    assert [e.source for e in small.test] == [e.source for e in full.test]
    tiny = make_splits(DataConfig(train=skewed, max_examples=3), seed=0)
    assert {e.label for e in tiny.train} == {"a", "b", "c"}


def test_quickstart_dataset_splits():
    cfg = DataConfig(train=str(QUICKSTART / "train.csv"), test=str(QUICKSTART / "test.csv"))
    splits = make_splits(cfg, seed=0)
    assert splits.labels == sorted(
        [
            "card_arrival",
            "card_delivery_estimate",
            "pending_top_up",
            "top_up_failed",
            "exchange_rate",
            "exchange_charge",
        ]
    )
    assert len(splits.test) == 240 and Counter(e.label for e in splits.test)["card_arrival"] == 40
    # 792 distinct rows are split 713 + 79; then 8 training and 2 validation rows go because
    # they equal a test row up to case and punctuation ("My top-up didn't work." and the like).
    assert (len(splits.train), len(splits.validation)) == (705, 77)
    leakage = [s for s in splits.steps if s["step"] == "leakage"]
    assert [(s["split"], s["exact"], s["near"]) for s in leakage] == [
        ("train", 0, 8),
        ("validation", 0, 2),
    ]
    assert not keys(splits.train) & keys(splits.test)


def test_instruction_splits_are_unstratified(tmp_path):
    path = tmp_path / "inst.jsonl"
    lines = [json.dumps({"instruction": f"do {i}", "output": str(i)}) for i in range(50)]
    path.write_text("\n".join(lines))
    splits = make_splits(DataConfig(train=str(path)), seed=0)
    assert splits.task == "instruction" and splits.labels is None
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (35, 5, 10)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"train": None}, "data.train is not set"),
        ({"validation_fraction": 1.5}, "data.validation_fraction is 1.5"),
        ({"test_fraction": -0.1}, "data.test_fraction is -0.1"),
        ({"validation_fraction": 0.5, "test_fraction": 0.5}, "leave nothing to train on"),
        ({"max_examples": 0}, "data.max_examples is 0"),
    ],
)
def test_config_errors(skewed, overrides, expected):
    cfg = DataConfig(train=skewed)
    for name, value in overrides.items():
        setattr(cfg, name, value)
    assert expected in error_of(cfg)


def test_too_few_examples(tmp_path):
    path = write_csv(tmp_path / "few.csv", [("x", "a"), ("y", "b")])
    message = error_of(DataConfig(train=path))
    assert message.startswith(f"{path}: only 2 distinct examples")


def test_train_entirely_contained_in_validation(tmp_path):
    rows = labelled({"a": 3, "b": 3})
    train = write_csv(tmp_path / "train.csv", rows)
    valid = write_csv(tmp_path / "valid.csv", rows)
    assert "nothing is left to train on" in error_of(DataConfig(train=train, validation=valid))
