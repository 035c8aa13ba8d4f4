"""Shared fixtures: a tiny GPT-2 (2 layers, hidden 32) with a word-level tokenizer trained here.

Nothing is fetched from a hub; the model directory is built once per test session.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
WORDS = "good great fine bad awful poor movie film plot actor the a was is very not".split()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A directory holding a freshly initialised 2-layer GPT-2 and its tokenizer."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-gpt2")
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = [" ".join(WORDS), "Text : Label : positive negative ### User Assistant"] * 4
    trainer = trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>", "<bos>", "<eos>"])
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
        unk_token="<unk>",
    )
    fast.save_pretrained(path)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(fast), n_positions=128, n_embd=32, n_layer=2, n_head=2,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(path)
    return path


def write_sentiment_csv(path: Path, n: int, seed: int = 0) -> Path:
    """A learnable toy classification file: the label follows the sentiment words."""
    rng = random.Random(seed)
    good, bad = ["good", "great", "fine"], ["bad", "awful", "poor"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(n):
            positive = i % 2 == 0
            word = rng.choice(good if positive else bad)
            filler = " ".join(rng.choice(["the", "movie", "film", "was", "very"]) for _ in range(3))
            writer.writerow([f"{filler} {word} {rng.choice(['plot', 'actor'])}", "positive" if positive else "negative"])
    return path


@pytest.fixture
def sentiment_csv(tmp_path) -> Path:
    return write_sentiment_csv(tmp_path / "train.csv", 120)
