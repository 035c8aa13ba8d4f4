"""QLoRA needs a CUDA GPU and bitsandbytes; without them, one clear line before anything loads."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.config_io import load_config
from tunesmith.errors import TunesmithError
from tunesmith.methods import check_method


def test_no_gpu_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(TunesmithError) as error:
        check_method(load_config(None, ["method=qlora"]), "classification")
    assert "qlora needs a CUDA GPU" in str(error.value) and "\n" not in str(error.value)


def test_missing_bitsandbytes_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "bitsandbytes" else real(name, *a),
    )
    with pytest.raises(TunesmithError) as error:
        check_method(load_config(None, ["method=qlora"]), "text")
    assert "needs the bitsandbytes package, which is not installed" in str(error.value)


def test_train_fails_before_loading_the_model_or_creating_the_run(
    tmp_path, tiny_model_dir, sentiment_csv, monkeypatch, tunesmith_home
):
    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("tunesmith.pipeline.load_environment", no_load)
    config = tmp_path / "qlora.yaml"
    config.write_text("method: qlora\n", encoding="utf-8")
    output = tmp_path / "runs" / "q"
    settings = [f"model={tiny_model_dir}", f"data.train={sentiment_csv}", f"output={output}"]
    args = ["train", str(config)] + [part for s in settings for part in ("--set", s)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 2
    # The data check may say what it repaired reading the file; the error itself is one line.
    lines = [x for x in result.stderr.strip().splitlines() if not x.startswith("repaired ")]
    assert len(lines) == 1 and "qlora needs a CUDA GPU" in lines[0]
    assert not output.exists()
