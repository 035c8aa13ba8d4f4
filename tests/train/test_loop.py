"""The training loop on the tiny model: pinned losses, determinism, accumulation, batching."""

from __future__ import annotations

import json

import pytest
import torch

from tunesmith.config_io import load_config
from tunesmith.data.encode import IGNORE, encode_examples
from tunesmith.data.examples import Example
from tunesmith.models.load import load_model
from tunesmith.train.batches import endless_batches, epoch_batches, split_micro
from tunesmith.train.loop import train
from tunesmith.train.monitor import RunLog

CPU = torch.device("cpu")
WORDS = [
    *("the", "movie", "was", "very", "good", "but", "the", "plot", "and"),
    *("the", "actor", "were", "awful", "not", "great", "fine", "bad"),
]
#: Losses of the first 6 steps of ``run(..., max_steps=6)`` below (fp32, CPU, seed 0).
PINNED = [3.367853, 3.074944, 2.829930, 2.494668, 2.834795, 2.321667]


@pytest.fixture(scope="module")
def train_set(tiny_tokenizer, sentiment_examples):
    """64 examples of different lengths and target counts (classification and plain text), so
    padding and the per-batch normalisation of the loss both matter."""
    examples = [
        Example(e.task, text=e.text + " very" * (i % 4), label=e.label)
        for i, e in enumerate(sentiment_examples(48))
    ]
    examples += [Example("text", text=" ".join(WORDS[: 3 + i])) for i in range(16)]
    encoded = encode_examples(examples, tiny_tokenizer, 64)
    assert len({sum(y != IGNORE for y in e.labels) for e in encoded}) > 10
    return encoded


def run(model_dir, train_set, tmp_path, *overrides: str, val_set=(), checkpoint_dir=None):
    """Train a fresh copy of the tiny model; returns (TrainResult, rows of the JSONL log)."""
    cfg = load_config(
        None,
        [
            "method=full",
            "train.learning_rate=2e-3",
            "train.batch_size=8",
            "train.precision=fp32",
            "train.log_every=1",
            *overrides,
        ],
    )
    model = load_model(model_dir, torch.float32, CPU)
    path = tmp_path / "log.jsonl"
    path.unlink(missing_ok=True)
    log = RunLog(path)
    try:
        result = train(
            model, train_set, list(val_set), cfg, pad_id=0, device=CPU, dtype=torch.float32,
            log=log, checkpoint_dir=checkpoint_dir,
        )  # fmt: skip
    finally:
        log.close()
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return result, rows


def test_seeded_run_reproduces_pinned_losses(tiny_model_dir, train_set, tmp_path):
    result, _ = run(tiny_model_dir, train_set, tmp_path, "train.max_steps=6")
    assert result.steps == 6
    assert result.losses == pytest.approx(PINNED, rel=1e-4)


def test_checkpointing_every_step_leaves_the_pinned_losses_alone(
    tiny_model_dir, train_set, tmp_path
):
    ckpt = tmp_path / "checkpoints"
    result, _ = run(tiny_model_dir, train_set, tmp_path, "train.max_steps=6",
                    "train.checkpoint_every=1", checkpoint_dir=ckpt)  # fmt: skip
    assert result.losses == pytest.approx(PINNED, rel=1e-4)
    assert sorted(p.name for p in ckpt.iterdir()) == ["step-000005", "step-000006"]


def test_same_seed_same_losses_other_seed_other_losses(tiny_model_dir, train_set, tmp_path):
    first, _ = run(tiny_model_dir, train_set, tmp_path, "train.max_steps=4")
    second, _ = run(tiny_model_dir, train_set, tmp_path, "train.max_steps=4")
    other, _ = run(tiny_model_dir, train_set, tmp_path, "train.max_steps=4", "train.seed=1")
    assert first.losses == second.losses
    assert other.losses != first.losses  # the seed reaches the batch order


def test_gradient_accumulation_matches_one_big_batch(tiny_model_dir, train_set, tmp_path):
    common = ("train.batch_size=16", "train.max_steps=6")
    whole, _ = run(tiny_model_dir, train_set, tmp_path, *common, "train.grad_accum=1")
    parts, _ = run(tiny_model_dir, train_set, tmp_path, *common, "train.grad_accum=4")
    assert parts.losses == pytest.approx(whole.losses, rel=1e-4)
    assert parts.train_tokens == whole.train_tokens


def test_loss_goes_down(tiny_model_dir, train_set, tmp_path):
    result, _ = run(tiny_model_dir, train_set, tmp_path, "train.epochs=4")
    assert result.steps == 4 * 8
    first, last = sum(result.losses[:4]) / 4, sum(result.losses[-4:]) / 4
    assert last < 0.6 * first


def test_log_tokens_and_validation(tiny_model_dir, train_set, tmp_path):
    val_set = train_set[:8]
    result, rows = run(
        tiny_model_dir, train_set, tmp_path, "train.epochs=2", "train.log_every=3", val_set=val_set
    )
    steps_per_epoch = len(train_set) // 8
    assert result.steps == 2 * steps_per_epoch
    train_rows = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train_rows] == [3, 6, 9, 12, 15, 16]  # every 3, and the last
    assert [r["loss"] for r in train_rows] == pytest.approx(
        [result.losses[s - 1] for s in (3, 6, 9, 12, 15, 16)], abs=1e-6
    )
    lrs = [r["lr"] for r in train_rows]
    assert max(lrs) <= 2e-3 and lrs[-1] < lrs[1]  # cosine decay towards the end
    assert [step for step, _ in result.val_losses] == [steps_per_epoch, 2 * steps_per_epoch]
    assert [r["step"] for r in rows if "val_loss" in r] == [steps_per_epoch, 2 * steps_per_epoch]
    # Every example seen exactly twice: tokens count real (non-padding) tokens only.
    assert result.train_tokens == 2 * sum(len(e.input_ids) for e in train_set)


def test_validation_rows_log_the_same_epoch_as_training_rows(tiny_model_dir, train_set, tmp_path):
    _, rows = run(tiny_model_dir, train_set, tmp_path, "train.epochs=1", val_set=train_set[:4])
    by_step = {r["step"]: r["epoch"] for r in rows if "loss" in r}
    for row in (r for r in rows if "val_loss" in r):
        assert row["epoch"] == by_step[row["step"]]


def test_max_steps_overrides_epochs_and_fractional_epochs(tiny_model_dir, train_set, tmp_path):
    limited, _ = run(tiny_model_dir, train_set, tmp_path, "train.epochs=5", "train.max_steps=3")
    assert limited.steps == 3 and len(limited.losses) == 3
    half, _ = run(tiny_model_dir, train_set, tmp_path, "train.epochs=0.5")
    assert half.steps == 4


@pytest.mark.parametrize("n", [1, 7, 64, 1000])
@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_epoch_batches_cover_every_index_once(n, batch_size):
    lengths = [(i * 7919) % 50 + 1 for i in range(n)]
    batches = epoch_batches(lengths, batch_size, seed=0, epoch=0)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(n))
    # The loop counts ceil(n / batch_size) steps per epoch: only one batch may be short.
    assert len(batches) == -(-n // batch_size)
    assert sum(len(b) < batch_size for b in batches) <= 1


def test_epoch_batches_are_deterministic_by_seed_and_epoch():
    lengths = list(range(100))
    assert epoch_batches(lengths, 4, 0, 0) == epoch_batches(lengths, 4, 0, 0)
    assert epoch_batches(lengths, 4, 0, 0) != epoch_batches(lengths, 4, 1, 0)
    assert epoch_batches(lengths, 4, 0, 0) != epoch_batches(lengths, 4, 0, 1)


def test_epoch_batches_group_similar_lengths():
    lengths = [(i * 37) % 100 for i in range(64)]  # all in one window
    batches = epoch_batches(lengths, 8, seed=3, epoch=0)
    spans = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in batches)
    for (_, high), (low, _) in zip(spans, spans[1:], strict=False):
        assert high <= low  # batches are consecutive slices of the length order


def test_endless_batches_number_the_epochs():
    stream = endless_batches([1] * 10, 4, seed=0)
    pairs = [next(stream) for _ in range(6)]
    assert [epoch for epoch, _, _ in pairs] == [0, 0, 0, 1, 1, 1]
    assert sorted(i for _, _, b in pairs[3:] for i in b) == list(range(10))


@pytest.mark.parametrize(("size", "parts"), [(16, 4), (16, 1), (5, 2), (3, 4)])
def test_split_micro_keeps_order_and_every_index(size, parts):
    micro = split_micro(list(range(size)), parts)
    assert [i for part in micro for i in part] == list(range(size))
    assert len(micro) <= parts and all(micro)
