"""Augmentation: word operations and model paraphrases, train split only, seeded, labels kept."""

from __future__ import annotations

import dataclasses
import random

import pytest

from tunesmith.config import AugmentConfig, Config, DataConfig
from tunesmith.data.augment import augment_train, paraphrase, perturb_words, word_copies
from tunesmith.data.examples import Example, Message, Splits
from tunesmith.errors import TunesmithError

TEXT = "the movie was very good and the plot was not bad at all"


def config(**augment) -> Config:
    return Config(data=DataConfig(augment=AugmentConfig(**augment)))


def classified(n: int, prefix: str = "train") -> list[Example]:
    words = ["good", "bad", "movie", "plot", "actor", "film", "very", "not"]
    return [
        Example(
            "classification",
            text=f"{prefix} {i} " + " ".join(random.Random(i).sample(words, 6)),
            label="ab"[i % 2],
            source=f"{prefix}.csv:{i + 2}",
        )
        for i in range(n)
    ]


def splits_of(train: list[Example]) -> Splits:
    return Splits(
        "classification", train, classified(3, "valid"), classified(3, "test"), ["a", "b"]
    )


def test_perturb_words_is_seeded_and_follows_the_rates():
    cfg = AugmentConfig(delete_rate=0.2, swap_rate=0.2, insert_rate=0.2)
    one = perturb_words(TEXT, random.Random(1), cfg)
    assert one == perturb_words(TEXT, random.Random(1), cfg)
    assert one != perturb_words(TEXT, random.Random(2), cfg) and one != TEXT
    off = AugmentConfig(delete_rate=0, swap_rate=0, insert_rate=0)
    assert perturb_words(TEXT, random.Random(1), off) == TEXT
    deleted = perturb_words(TEXT, random.Random(1), dataclasses.replace(off, delete_rate=0.5))
    assert len(deleted.split()) < len(TEXT.split())
    assert set(deleted.split()) <= set(TEXT.split())
    inserted = perturb_words(TEXT, random.Random(1), dataclasses.replace(off, insert_rate=0.25))
    assert len(inserted.split()) == len(TEXT.split()) + 3  # round(0.25 * 13)
    swapped = perturb_words(TEXT, random.Random(1), dataclasses.replace(off, swap_rate=0.1))
    assert sorted(swapped.split()) == sorted(TEXT.split())
    assert perturb_words("one", random.Random(1), cfg) == "one"  # nothing to reorder


def test_word_copies_make_n_per_original_and_keep_labels():
    originals = classified(10)
    made = word_copies(originals, AugmentConfig(copies=3), seed=0)
    assert len(made) == 30
    for i, original in enumerate(originals):
        mine = made[3 * i : 3 * i + 3]
        assert {e.label for e in mine} == {original.label}
        assert [e.source for e in mine] == [f"{original.source}#words{k}" for k in (1, 2, 3)]
    assert made == word_copies(originals, AugmentConfig(copies=3), seed=0)
    assert made != word_copies(originals, AugmentConfig(copies=3), seed=1)


def test_augment_train_touches_only_train_and_logs_counts():
    splits = splits_of(classified(10))
    held_out = (list(splits.validation), list(splits.test))
    augment_train(splits, config(copies=2))
    assert (splits.validation, splits.test) == held_out
    assert len(splits.train) == 30
    assert splits.train[:10] == classified(10)  # originals first, unchanged
    (entry,) = splits.steps
    assert entry == {
        "step": "augment_words", "split": "train", "before": 10, "after": 30,
        "made": 20, "duplicates": 0, "leaks": 0,
    }  # fmt: skip


def test_copies_that_repeat_or_leak_are_dropped():
    train = [Example("classification", text="short", label="a")] + classified(4)
    splits = splits_of(train)
    made = word_copies(train, AugmentConfig(copies=1), seed=0)
    splits.test.append(made[2])  # what the third example's copy will be is now a test example
    augment_train(splits, config(copies=1))
    (entry,) = splits.steps
    # "short" has one word: its copy equals it; the third copy would leak into test
    assert (entry["made"], entry["duplicates"], entry["leaks"]) == (5, 1, 1)
    assert entry["after"] == len(splits.train) == 5 + 3
    assert made[2].text not in {e.text for e in splits.train}


def test_instruction_and_chat_augment_the_prompt_side_only():
    instruction = Example(
        "instruction", instruction=TEXT, input="and some more input words here", output="keep me"
    )
    chat = Example(
        "chat",
        messages=(
            Message("system", "system words stay as they are"),
            Message("user", TEXT),
            Message("assistant", "the answer stays"),
        ),
    )
    made = word_copies([instruction, chat], AugmentConfig(copies=1), seed=0)
    assert made[0].output == "keep me" and made[0].instruction != TEXT
    assert made[0].input != instruction.input
    assert made[1].messages is not None and chat.messages is not None
    assert made[1].messages[0] == chat.messages[0] and made[1].messages[2] == chat.messages[2]
    assert made[1].messages[1].content != TEXT


def test_paraphrase_needs_the_model():
    with pytest.raises(TunesmithError, match="paraphrases needs the model"):
        augment_train(splits_of(classified(2)), config(paraphrases=1))


def test_paraphrase_with_the_tiny_model_is_seeded(tiny_model, tiny_tokenizer):
    texts = ["the movie was good", "the plot was bad", "a very fine film"]
    kwargs = {"seed": 3, "max_new_tokens": 6, "prompt_budget": 64, "batch_size": 2}
    first = paraphrase(texts, tiny_model, tiny_tokenizer, 2, **kwargs)
    assert len(first) == 3 and all(len(options) == 2 for options in first)
    assert first == paraphrase(texts, tiny_model, tiny_tokenizer, 2, **kwargs)
    assert first != paraphrase(texts, tiny_model, tiny_tokenizer, 2, **{**kwargs, "seed": 4})
    vocabulary = set(tiny_tokenizer.get_vocab())
    # gibberish from a random model, but only its own words and no special tokens
    assert {w for options in first for p in options for w in p.split()} <= vocabulary - {
        "<pad>", "<unk>", "<bos>", "<eos>",
    }  # fmt: skip


def test_augment_train_with_paraphrases_keeps_labels(tiny_model, tiny_tokenizer):
    splits = splits_of(classified(4))
    held_out = (list(splits.validation), list(splits.test))
    cfg = config(paraphrases=2, paraphrase_max_new_tokens=6)
    cfg.train.max_length = 64
    augment_train(splits, cfg, tiny_model, tiny_tokenizer)
    (entry,) = splits.steps
    assert entry["step"] == "augment_paraphrase" and entry["before"] == 4
    assert 0 < entry["made"] <= 8 and entry["after"] == len(splits.train) > 4
    by_source = {e.source: e for e in classified(4)}
    for new in splits.train[4:]:
        source, tag = new.source.split("#")
        assert tag in ("paraphrase1", "paraphrase2")
        assert new.label == by_source[source].label and new.text != by_source[source].text
    assert (splits.validation, splits.test) == held_out
