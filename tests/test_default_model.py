"""The real default model (Gemma 3 270M): resolve, score labels, and take a few LoRA steps.

Slow: the first run on a machine converts the GGUF model into the model cache (about a minute);
later runs load the cached safetensors. Uses the real cache (~/.cache/tunesmith, or wherever
TUNESMITH_HOME / TUNESMITH_MODEL_CACHE point), so it is converted once, not once per test run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tunesmith.config_io import load_config
from tunesmith.data.encode import encode_examples
from tunesmith.data.examples import Example
from tunesmith.data.templates import classification_prompt
from tunesmith.evaluate.classify import label_scores
from tunesmith.methods import count_parameters, get_method
from tunesmith.models.load import compute_dtype, load_model, load_tokenizer, pick_device
from tunesmith.models.resolve import resolve_model
from tunesmith.train.loop import train
from tunesmith.train.monitor import RunLog

pytestmark = pytest.mark.slow

LABELS = ["positive", "negative", "neutral"]
TEXTS = [
    "I loved this film, the acting was wonderful.",
    "Terrible plot and even worse dialogue.",
    "It was a movie.",
    "The best thing I have seen all year!",
]


@pytest.fixture(scope="module")
def location() -> Path:
    path = resolve_model("default")
    assert isinstance(path, Path)
    return path


@pytest.fixture(scope="module")
def device_dtype():
    device = pick_device()
    return device, compute_dtype("auto", device)


def test_default_model_resolves_to_a_safetensors_directory(location):
    assert (location / "model.safetensors").is_file()
    assert (location / "config.json").is_file()
    assert resolve_model("default") == location  # cached: the second call converts nothing


def test_label_scores_on_the_default_model(location, device_dtype):
    device, dtype = device_dtype
    tokenizer = load_tokenizer(location)
    model = load_model(location, get_method("lora").frozen_dtype(dtype), device)
    prompts = [classification_prompt(t) for t in TEXTS]
    scores = label_scores(
        model, tokenizer, prompts, LABELS, batch_size=3, max_length=64, device=device, dtype=dtype
    )
    assert scores.shape == (len(TEXTS), len(LABELS))
    assert torch.isfinite(scores).all()
    assert (scores < 0).all()
    assert scores.std() > 0  # the prompts and labels really reach the model


def test_three_lora_steps_on_the_default_model(location, device_dtype, tmp_path):
    device, dtype = device_dtype
    cfg = load_config(
        None,
        ["train.max_steps=3", "train.batch_size=4", "train.max_length=64", "train.log_every=1"],
    )
    method = get_method("lora")
    tokenizer = load_tokenizer(location)
    model = method.prepare(load_model(location, method.frozen_dtype(dtype), device), cfg)
    trainable, total = count_parameters(model)
    assert 0 < trainable < total / 10
    examples = [
        Example("classification", text=t, label=y)
        for t, y in zip(TEXTS * 2, ["positive", "negative", "neutral", "positive"] * 2, strict=True)
    ]
    train_set = encode_examples(examples, tokenizer, cfg.train.max_length)
    assert all(len(e.input_ids) <= 64 for e in train_set)
    log = RunLog(tmp_path / "train_log.jsonl")
    try:
        pad_id = tokenizer.pad_token_id
        result = train(
            model, train_set, [], cfg, pad_id=pad_id, device=device, dtype=dtype, log=log
        )
    finally:
        log.close()
    assert result.steps == 3 and len(result.losses) == 3
    assert all(torch.isfinite(torch.tensor(result.losses)))
    assert result.train_tokens > 0
    moved = [p.detach().abs().max().item() for n, p in model.named_parameters() if "lora_B" in n]
    assert moved and max(moved) > 0  # the adapters left their zero initialisation


def test_compare_runs_every_method_family_on_the_default_model(location, tmp_path):
    """A few steps per method on the real model: each completes and gets a full table row."""
    from tunesmith.compare import compare_methods

    quickstart = Path(__file__).parents[1] / "src" / "tunesmith" / "quickstart"
    cfg = load_config(
        None,
        [
            f"data.train={quickstart / 'train.csv'}",
            f"data.test={quickstart / 'test.csv'}",
            "data.max_examples=48",
            "eval.max_examples=24",
            "train.max_steps=2",
            "train.batch_size=8",
            "train.max_length=64",
            "train.estimate_first=false",
            "train.checkpoint_every=0",
        ],
    )
    methods = ["lora", "freeze", "feature_extraction", "cls_head"]
    result = compare_methods(cfg, methods, tmp_path / "cmp", isolate=False)
    rows = {row["method"]: row for row in result["rows"]}
    assert list(rows) == ["base", *methods]
    for name in methods:
        assert rows[name]["status"] == "completed", rows[name]
        assert 0 < rows[name]["trainable_params"] < rows[name]["total_params"]
        assert 0.0 <= rows[name]["f1_macro"] <= 1.0
    assert (tmp_path / "cmp" / "compare.html").is_file()
