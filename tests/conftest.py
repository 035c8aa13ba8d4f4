"""Shared fixtures: a tiny GPT-2 (2 layers, hidden 64) with a word-level tokenizer trained here.

Nothing is fetched from a hub; the model directory is built once per test session.

Why hidden 64 / 4 heads and three sentiment words per text: with hidden 32 / 2 heads and a single
sentiment word among fillers, full fine-tuning at lr 2e-3 sits on a plateau (train loss ~ln2/2:
EOS learned, the label a coin flip) for more than 170 steps; the same happens with HF's own loss
on the same batches, so it is the task's difficulty, not a bug. With the label carried by most
words, the model learns it in ~60 steps for every seed tried.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
WORDS = [
    *("good", "great", "fine", "bad", "awful", "poor", "movie", "film"),
    *("plot", "actor", "the", "a", "was", "is", "very", "not"),
]
GOOD, BAD = ["good", "great", "fine"], ["bad", "awful", "poor"]
FILLER = ["the", "movie", "film", "was", "very", "plot", "actor"]


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """One intra-op thread: the tiny model gains nothing from more, and on a busy 2-core machine
    two spinning OpenMP threads made a training step ~40x slower (8 ms -> 330 ms)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session", autouse=True)
def registry_home(tmp_path_factory):
    """Runs trained by tests (module fixtures too) go to a registry of their own, not the user's."""
    home = tmp_path_factory.mktemp("registry-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tunesmith.registry.store.tunesmith_home", lambda: home)
        yield home


@pytest.fixture(scope="session", autouse=True)
def token_cache_home(tmp_path_factory):
    """Tokenized splits cached by tests go to a directory of their own, not the user's."""
    home = tmp_path_factory.mktemp("token-cache-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tunesmith.data.cache.tunesmith_home", lambda: home)
        yield home


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A freshly initialised 2-layer GPT-2 and its tokenizer (no chat template), saved to disk."""
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
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    fast.save_pretrained(path)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(fast),
        n_positions=128,
        n_embd=64,
        n_layer=2,
        n_head=4,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(path)
    return path


def sentiment_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Learnable toy (text, label) rows: three of five words carry the label's sentiment."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        words = [rng.choice(GOOD if positive else BAD) for _ in range(3)]
        words += rng.sample(FILLER, 2)
        rng.shuffle(words)
        rows.append((" ".join(words), "positive" if positive else "negative"))
    return rows


def write_sentiment_csv(path: Path, n: int, seed: int = 0) -> Path:
    """A text,label CSV file of ``sentiment_rows``."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(sentiment_rows(n, seed))
    return path


@pytest.fixture
def sentiment_csv(tmp_path) -> Path:
    return write_sentiment_csv(tmp_path / "train.csv", 120)


@pytest.fixture(scope="session")
def write_sentiment():
    """``write_sentiment_csv`` for test modules (conftest is not importable under importlib)."""
    return write_sentiment_csv


@pytest.fixture(scope="session")
def sentiment_examples():
    """A function (n, seed=0) -> classification Examples of ``sentiment_rows``."""
    from tunesmith.data.examples import Example

    def make(n: int, seed: int = 0) -> list:
        return [Example("classification", text=t, label=y) for t, y in sentiment_rows(n, seed)]

    return make


@pytest.fixture
def tunesmith_home(tmp_path, monkeypatch) -> Path:
    """Point every per-user cache at a temporary directory so no test touches ~/.cache."""
    home = tmp_path / "home"
    monkeypatch.setenv("TUNESMITH_HOME", str(home))
    monkeypatch.delenv("TUNESMITH_MODEL_CACHE", raising=False)
    return home


@pytest.fixture
def tiny_model(tiny_model_dir):
    """A fresh fp32 copy of the tiny model on the CPU, in eval mode."""
    import torch

    from tunesmith.models.load import load_model

    return load_model(tiny_model_dir, torch.float32, torch.device("cpu"))


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir):
    from tunesmith.models.load import load_tokenizer

    return load_tokenizer(tiny_model_dir)
