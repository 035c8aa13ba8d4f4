"""Gradual unfreezing: the schedule step by step, what actually moves, the log, exact resume."""

from __future__ import annotations

import json

import pytest
import torch

from tunesmith.config_io import load_config
from tunesmith.data.encode import encode_examples
from tunesmith.methods import gradual_unfreeze
from tunesmith.methods.layers import find_layers
from tunesmith.models.load import load_model
from tunesmith.train.loop import train
from tunesmith.train.monitor import RunLog

CPU = torch.device("cpu")


def config(*overrides: str):
    return load_config(
        None,
        [
            "method=gradual_unfreeze",
            "train.learning_rate=1e-2",
            "train.batch_size=4",
            "train.precision=fp32",
            "train.warmup_ratio=0",
            "train.lr_schedule=constant",
            *overrides,
        ],
    )


@pytest.mark.parametrize(
    ("every", "steps_per_epoch", "expected"),
    [
        (2, 10, [1, 1, 2, 2, 3, 3, 3]),
        (None, 3, [1, 1, 1, 2, 2, 2, 3]),  # empty: one more block each epoch
        (1, 10, [1, 2, 3, 3, 3, 3, 3]),
    ],
)
def test_schedule_step_by_step(every, steps_per_epoch, expected, tiny_llama_dir):
    overrides = [f"layers.unfreeze_every={every}"] if every else []
    cfg = config(*overrides)
    model = gradual_unfreeze.prepare(load_model(tiny_llama_dir, torch.float32, CPU), cfg)
    layers = find_layers(model)
    seen, rows = [], []
    for step in range(1, len(expected) + 1):
        rows.append(gradual_unfreeze.on_step(model, step, steps_per_epoch, cfg))
        training = [all(p.requires_grad for p in b.values()) for b in layers.blocks]
        frozen = [not any(p.requires_grad for p in b.values()) for b in layers.blocks]
        count = sum(training)
        assert training[3 - count :] == [True] * count  # the top ones, contiguous
        assert sum(frozen) == 3 - count
        assert all(p.requires_grad for p in layers.norm.values())  # train_norm: from the start
        assert not any(p.requires_grad for p in layers.embeddings.values())
        seen.append(count)
    assert seen == expected
    changes = [(i + 1, row) for i, row in enumerate(rows) if row]
    firsts = [(i + 1, n) for i, n in enumerate(expected) if i == 0 or expected[i - 1] != n]
    assert changes == [(step, {"unfrozen_blocks": n}) for step, n in firsts]


def test_embeddings_unfreeze_with_the_last_block(tiny_llama_dir):
    cfg = config("layers.unfreeze_every=1", "layers.train_embeddings=true")
    model = gradual_unfreeze.prepare(load_model(tiny_llama_dir, torch.float32, CPU), cfg)
    embeddings = find_layers(model).embeddings["model.embed_tokens.weight"]
    assert embeddings.requires_grad  # in the optimizer from the start
    states = []
    for step in (1, 2, 3):
        gradual_unfreeze.on_step(model, step, 10, cfg)
        states.append(embeddings.requires_grad)
    assert states == [False, False, True]


def run(model_dir, items, tmp_path, cfg, checkpoint_dir=None, resume=False):
    model = gradual_unfreeze.prepare(load_model(model_dir, torch.float32, CPU), cfg)
    path = tmp_path / "log.jsonl"
    path.unlink(missing_ok=True)
    log = RunLog(path)
    try:
        train(model, items, [], cfg, pad_id=0, device=CPU, dtype=torch.float32, log=log,
              checkpoint_dir=checkpoint_dir, resume=resume)  # fmt: skip
    finally:
        log.close()
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return model, rows


def unfreezing(rows: list[dict]) -> list[dict]:
    """The schedule rows of a training log, without their timestamps."""
    return [{k: row[k] for k in ("step", "unfrozen_blocks")} for row in rows
            if "unfrozen_blocks" in row]  # fmt: skip


@pytest.fixture(scope="module")
def items(tiny_tokenizer, sentiment_examples):
    return encode_examples(sentiment_examples(16), tiny_tokenizer, 32)


def test_training_moves_only_unfrozen_blocks_and_logs_the_schedule(tiny_llama_dir, items, tmp_path):
    initial = load_model(tiny_llama_dir, torch.float32, CPU).state_dict()
    cfg = config("layers.unfreeze_every=2", "train.max_steps=2")
    model, rows = run(tiny_llama_dir, items, tmp_path, cfg)
    after = model.state_dict()
    moved = {n for n in initial if not torch.equal(initial[n], after[n])}
    assert moved and all(n.startswith(("model.layers.2.", "model.norm.")) for n in moved)

    cfg = config("layers.unfreeze_every=2", "train.max_steps=5")
    model, rows = run(tiny_llama_dir, items, tmp_path, cfg)
    schedule = unfreezing(rows)
    assert schedule == [
        {"step": 1, "unfrozen_blocks": 1},
        {"step": 3, "unfrozen_blocks": 2},
        {"step": 5, "unfrozen_blocks": 3},
    ]
    after = model.state_dict()
    assert not torch.equal(initial["model.layers.0.mlp.up_proj.weight"],
                           after["model.layers.0.mlp.up_proj.weight"])  # fmt: skip
    assert torch.equal(initial["model.embed_tokens.weight"], after["model.embed_tokens.weight"])


class Crash(Exception):
    pass


def test_interrupted_then_resumed_gives_identical_weights(
    tiny_llama_dir, items, tmp_path, monkeypatch
):
    cfg = config("layers.unfreeze_every=2", "train.max_steps=6", "train.checkpoint_every=1")
    whole, _ = run(tiny_llama_dir, items, tmp_path, cfg, checkpoint_dir=tmp_path / "a")

    real = gradual_unfreeze.on_step

    def crash_at_4(model, step, steps_per_epoch, cfg):
        if step == 4:
            raise Crash
        return real(model, step, steps_per_epoch, cfg)

    monkeypatch.setattr(gradual_unfreeze, "on_step", crash_at_4)
    with pytest.raises(Crash):
        run(tiny_llama_dir, items, tmp_path, cfg, checkpoint_dir=tmp_path / "b")
    monkeypatch.setattr(gradual_unfreeze, "on_step", real)
    resumed, rows = run(tiny_llama_dir, items, tmp_path, cfg, tmp_path / "b", resume=True)

    assert unfreezing(rows) == [  # the schedule is re-applied on resume
        {"step": 4, "unfrozen_blocks": 2},
        {"step": 5, "unfrozen_blocks": 3},
    ]
    expected, got = whole.state_dict(), resumed.state_dict()
    for name, tensor in expected.items():
        assert torch.equal(tensor, got[name]), name
