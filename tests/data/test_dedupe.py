"""No leakage between splits after de-duplication: exact and near copies of held-out examples."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from tunesmith.config import DataConfig, PreprocessConfig
from tunesmith.data.dedupe import leaks, near_dedupe
from tunesmith.data.examples import Example
from tunesmith.data.split import make_splits
from tunesmith.errors import TunesmithError

WORDS = [
    *("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"),
    *("iota", "kappa", "lambda", "mu", "nu", "xi", "omicron"),
]


def write_csv(path: Path, rows: list[tuple[str, str]]) -> str:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return str(path)


def sentence(seed: int, n: int = 14) -> str:
    """A long random sentence: two different seeds share almost no word 3-shingles."""
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n)) + f" s{seed}"


def nearly(text: str) -> str:
    """``text`` with its last word changed: Jaccard 12/14 = 0.86 on word 3-shingles."""
    return text.rsplit(" ", 1)[0] + " changed"


def example(text: str, label: str = "a") -> Example:
    return Example("classification", text=text, label=label)


def step(splits, split: str) -> dict:
    (found,) = [s for s in splits.steps if s["step"] == "leakage" and s["split"] == split]
    return found


def test_leaks_tells_exact_from_near():
    held = [example(sentence(1)), example(sentence(2))]
    candidates = [
        example(sentence(1), "b"),  # same text, other label: still the same example
        example(nearly(sentence(2))),
        example(sentence(2).upper() + "!"),  # equal after normalization
        example(sentence(3)),
    ]
    assert leaks(candidates, held, threshold=0.8) == ["exact", "near", "near", ""]
    assert leaks(candidates, held, threshold=0.9)[1] == ""


def test_near_dedupe_keeps_the_first_of_each_group():
    texts = [sentence(1), nearly(sentence(1)), sentence(2), sentence(1).upper()]
    kept = near_dedupe([example(t) for t in texts], threshold=0.8)
    assert [e.text for e in kept] == [sentence(1), sentence(2)]


@pytest.fixture
def files(tmp_path) -> dict[str, str]:
    """Train holds exact and near copies of validation and test rows."""
    train = [(sentence(i), "ab"[i % 2]) for i in range(40)]
    validation = [(sentence(100), "a"), (sentence(101), "b")]
    test = [(sentence(200), "a"), (sentence(201), "b"), (nearly(sentence(100)), "a")]
    train += [validation[0], (nearly(validation[1][0]), "b"), test[0], (sentence(201) + ".", "b")]
    return {
        "train": write_csv(tmp_path / "train.csv", train),
        "validation": write_csv(tmp_path / "valid.csv", validation),
        "test": write_csv(tmp_path / "test.csv", test),
    }


def test_given_files_remove_copies_from_train_and_report_them(files):
    splits = make_splits(DataConfig(**files), seed=0)
    assert len(splits.train) == 40
    assert step(splits, "train") == {
        "step": "leakage", "split": "train", "before": 44, "after": 40, "exact": 2, "near": 2,
    }  # fmt: skip
    # validation's first row nearly repeats test's third: held out from validation too
    assert step(splits, "validation") == {
        "step": "leakage", "split": "validation", "before": 2, "after": 1, "exact": 0, "near": 1,
    }  # fmt: skip
    assert len(splits.test) == 3
    assert not any(leaks(splits.train, splits.validation + splits.test, 0.8))


def test_switching_leakage_removal_off_keeps_the_copies(files):
    cfg = DataConfig(**files, preprocess=PreprocessConfig(remove_leakage=False))
    splits = make_splits(cfg, seed=0)
    assert len(splits.train) == 44 and not [s for s in splits.steps if s["step"] == "leakage"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_splits_cut_from_train_share_no_near_duplicates(tmp_path, seed):
    # 30 groups of three near-copies: without near de-duplication a random split puts members
    # of one group on both sides; the leakage step must take them out of train.
    rows = [(t, "ab"[i % 2]) for i in range(30) for t in (sentence(i), nearly(sentence(i)))]
    rows += [(sentence(i).upper(), "ab"[i % 2]) for i in range(30)]
    path = write_csv(tmp_path / "t.csv", rows)
    splits = make_splits(DataConfig(train=path), seed)
    held_out = splits.validation + splits.test
    assert not any(leaks(splits.train, held_out, 0.8))
    assert step(splits, "train")["near"] > 0
    total = len(splits.train) + len(held_out)
    assert total < 90


def test_exact_copies_are_removed_even_with_exact_dedupe_off(tmp_path):
    rows = [(sentence(i), "ab"[i % 2]) for i in range(20)] * 2
    path = write_csv(tmp_path / "t.csv", rows)
    cfg = DataConfig(train=path, preprocess=PreprocessConfig(exact_dedupe=False))
    splits = make_splits(cfg, seed=0)
    keys = {e.key() for e in splits.validation + splits.test}
    assert not keys & {e.key() for e in splits.train}
    assert step(splits, "train")["exact"] == len(keys)  # each held-out row had one twin


def test_nothing_left_after_leakage_is_an_error(tmp_path):
    rows = [(sentence(i), "ab"[i % 2]) for i in range(4)]
    train = write_csv(tmp_path / "train.csv", rows)
    test = write_csv(tmp_path / "test.csv", [(nearly(t), y) for t, y in rows])
    with pytest.raises(TunesmithError, match="nothing is left to train on"):
        make_splits(DataConfig(train=train, test=test, validation_fraction=0), seed=0)
