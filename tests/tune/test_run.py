"""The study's length: stated before it starts, and the timeout respected."""

from __future__ import annotations

import time

from rich.console import Console

from tunesmith.tune.run import Hooks, tune
from tunesmith.tune.spec import load_study

SPACE = {"train.learning_rate": {"type": "loguniform", "low": 1e-5, "high": 1e-3}}


def test_the_expected_length_is_stated_before_the_first_trial(tmp_path, synthetic):
    estimated = []

    def estimate(cfg):
        estimated.append(cfg.output)
        return 600.0  # ten minutes of training a trial

    path = synthetic.write_study(tmp_path / "s.yaml", SPACE, trials=4, timeout="30m")
    console = Console(record=True, width=200)
    tune(load_study(path), console, Hooks(synthetic.synthetic_train, estimate), "classification")
    text = console.export_text()
    assert estimated == [str(tmp_path / "study")]  # the base config, once
    assert "expected: about 40 min (4 trials x ~10 min" in text
    assert "the 30m timeout allows about 3 of them" in text
    assert text.index("expected:") < text.index("trial 0")


def test_no_trial_starts_after_the_timeout(tmp_path, synthetic, monkeypatch):
    monkeypatch.setenv("TUNESMITH_TEST_SLEEP", "1.0")
    path = synthetic.write_study(tmp_path / "s.yaml", SPACE, trials=50, timeout="2s")
    started = time.time()
    study = tune(load_study(path), Console(quiet=True), synthetic.hooks(), "classification")
    assert 1 <= len(study.trials) <= 3
    assert time.time() - started < 30
    assert (tmp_path / "study" / "trials.csv").is_file()
