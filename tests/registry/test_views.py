"""The registry's console views: they render, and show the figures and differences that matter."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from tunesmith.registry import Registry
from tunesmith.registry.rows import RunRow
from tunesmith.registry.views import config_differences, print_compare, print_run, print_runs

CONFIG: dict[str, Any] = {
    "model": "tiny",
    "method": "lora",
    "output": "runs/a",
    "data": {"train": "train.csv", "task": "classification"},
    "lora": {"r": 16, "target_modules": "all-linear"},
    "train": {"seed": 0, "batch_size": 16, "learning_rate": None},
}
METRICS = {
    "task": "classification",
    "base": {"f1_macro": 0.5, "accuracy": 0.6},
    "tuned": {"f1_macro": 0.8, "accuracy": 0.9},
    "train_runtime_s": 75.0,
    "train_steps": 40,
}


def _text(render, *args) -> str:
    console = Console(record=True, width=200)
    render(*args, console)
    return console.export_text()


@pytest.fixture
def runs(tmp_path) -> dict[str, RunRow]:
    registry = Registry(tmp_path / "runs.sqlite")
    done = registry.start(tmp_path / "good-run", CONFIG, [])
    registry.finish(done, METRICS)
    tweaked = {**CONFIG, "train": {**CONFIG["train"], "seed": 1, "learning_rate": 1e-4}}
    other = registry.start(tmp_path / "other-run", tweaked, [])
    registry.finish(other, {**METRICS, "tuned": {"f1_macro": 0.7, "accuracy": 0.85}})
    broken = registry.start(tmp_path / "bad-run", CONFIG, [])
    registry.fail(broken, "failed", "data: train.csv has no label column")
    return {row.name: row for row in registry.list()}


def test_print_runs_shows_status_and_headline_figures(runs):
    text = _text(print_runs, list(runs.values()))
    assert "macro-F1 0.800" in text and "0.500" in text and "+0.300" in text
    assert "1m15s" in text
    assert "failed" in text and "completed" in text
    assert str(runs["bad-run"].run_dir) in text


def test_print_runs_without_runs_says_so():
    assert "no runs recorded yet" in _text(print_runs, [])


def test_print_run_shows_reason_figures_and_config(runs):
    failed = _text(print_run, runs["bad-run"])
    assert "data: train.csv has no label column" in failed
    assert "train.seed" in failed and "lora.r" in failed
    done = _text(print_run, runs["good-run"])
    assert "macro-F1" in done and "0.8000" in done and "+0.3000" in done
    assert not any(line.startswith("reason") for line in done.splitlines())


def test_config_differences_lists_only_differing_dotted_keys():
    other = {**CONFIG, "train": {**CONFIG["train"], "seed": 1}, "extra": {"x": [1, 2]}}
    differences = config_differences(CONFIG, other)
    assert [key for key, _, _ in differences] == ["extra.x", "train.seed"]
    assert differences[1][1:] == (0, 1)
    assert config_differences(CONFIG, CONFIG) == []


def test_print_compare_shows_config_and_metric_differences(runs):
    text = _text(print_compare, runs["good-run"], runs["other-run"])
    assert "train.seed" in text and "train.learning_rate" in text and "0.0001" in text
    assert "train.batch_size" not in text and "lora.r" not in text
    assert "tuned macro-F1" in text and "-0.1000" in text


def test_print_compare_of_identical_configs_says_so(runs):
    text = _text(print_compare, runs["good-run"], runs["bad-run"])
    assert "same config and data" in text
