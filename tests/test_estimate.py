"""The time estimate: its step plan is the loop's, and timing steps leaves the model untouched."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.config_io import load_config
from tunesmith.data.encode import encode_examples
from tunesmith.methods import get_method
from tunesmith.models.load import load_model
from tunesmith.train.estimate import estimate_training, step_plan
from tunesmith.train.loop import train
from tunesmith.train.monitor import RunLog

CPU = torch.device("cpu")


@pytest.mark.parametrize("overrides", [["train.epochs=1.5"], ["train.max_steps=7"]])
def test_plan_matches_what_the_loop_trains(
    overrides, tiny_model_dir, tiny_tokenizer, sentiment_examples, tmp_path
):
    cfg = load_config(None, ["method=full", "train.batch_size=8", "train.grad_accum=2", *overrides])
    items = encode_examples(sentiment_examples(40), tiny_tokenizer, 64)
    plan = step_plan(items, cfg)
    model = load_model(tiny_model_dir, torch.float32, CPU)
    log = RunLog(tmp_path / "log.jsonl")
    result = train(model, items, [], cfg, pad_id=0, device=CPU, dtype=torch.float32, log=log)
    log.close()
    assert len(plan) == result.steps
    assert sum(step.tokens for step in plan) == result.train_tokens
    assert all(step.padded >= step.tokens > step.targets > 0 for step in plan)


def test_estimate_leaves_the_weights_as_they_were(
    tiny_model_dir, tiny_tokenizer, sentiment_examples
):
    cfg = load_config(None, ["method=lora", "train.batch_size=4", "train.max_steps=20"])
    lora = get_method("lora")
    model = lora.prepare(load_model(tiny_model_dir, torch.float32, CPU), cfg)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    items = encode_examples(sentiment_examples(24), tiny_tokenizer, 64)
    result = estimate_training(model, items, cfg, pad_id=0, device=CPU, dtype=torch.float32)
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
    assert all(p.grad is None for p in model.parameters())
    assert result.train_steps == 20
    assert result.predicted_train_runtime_s > 0
    assert result.predicted_peak_rss_bytes > 0


def test_estimate_command_prints_json(
    tiny_model_dir, sentiment_csv, tmp_path, tunesmith_home, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the default output, runs/latest, would land here
    config = tmp_path / "config.yaml"
    config.write_text(f"model: {tiny_model_dir}\ndata:\n  train: {sentiment_csv}\n")
    result = CliRunner().invoke(app, ["estimate", str(config), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"train_tokens", "predicted_train_runtime_s", "predicted_peak_rss_bytes"} <= set(figures)
    assert not (tmp_path / "runs").exists()  # estimating writes no run


def test_fit_separates_the_fixed_part_of_a_step_from_its_flops():
    from tunesmith.train.estimate import fit_step_time

    timed = [(g, 0.5 + 0.02 * g) for g in (10.0, 40.0, 100.0, 25.0)]
    rate, overhead = fit_step_time(timed)
    assert rate == pytest.approx(0.02) and overhead == pytest.approx(0.5)


@pytest.mark.parametrize(
    "timed",
    [
        [(50.0, 2.0), (50.5, 2.1), (49.8, 1.9)],  # too alike to tell the parts apart
        [(10.0, 3.0), (100.0, 1.0)],  # bigger step faster (noise): no negative rate
        [(10.0, 0.1), (100.0, 5.0)],  # the line would cross below zero: no negative overhead
    ],
)
def test_fit_falls_back_to_time_per_flop(timed):
    from tunesmith.train.estimate import fit_step_time

    rate, overhead = fit_step_time(timed)
    assert overhead == 0.0
    assert rate == pytest.approx(sum(t for _, t in timed) / sum(g for g, _ in timed))


def test_train_says_how_long_before_it_starts_and_keeps_the_prediction(
    tiny_model_dir, sentiment_csv, tmp_path, tunesmith_home
):
    from tunesmith.pipeline import run_training

    cfg = load_config(
        None,
        [f"model={tiny_model_dir}", f"data.train={sentiment_csv}", f"output={tmp_path / 'run'}"],
    )
    log = tmp_path / "console.txt"
    from rich.console import Console

    with log.open("w", encoding="utf-8") as handle:
        run_dir = run_training(cfg, console=Console(file=handle, width=300))
    printed = log.read_text(encoding="utf-8")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["predicted_train_runtime_s"] > 0 and metrics["predicted_peak_rss_bytes"] > 0
    line = next(x for x in printed.splitlines() if x.startswith("training: "))
    assert f"{metrics['train_steps']} steps over {metrics['train_tokens']:,}" in line
    assert "min of training, peak memory about" in line
