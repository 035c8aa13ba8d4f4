"""tunesmith compare on the tiny model: a table with a base row, a failing method reported in
its row while the others complete, one process per method, and names checked before any run."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import tunesmith.methods.full as full
from tunesmith.cli import app
from tunesmith.compare import compare_methods
from tunesmith.config_io import load_config


def tiny_config(model, train_csv, tmp_path):
    """Two optimizer steps per method, fp32, no checkpoints, feature cache in ``tmp_path``."""
    return [
        f"model={model}",
        f"data.train={train_csv}",
        "train.max_steps=2",
        "train.batch_size=8",
        "train.precision=fp32",
        "train.max_length=64",
        "train.checkpoint_every=0",
        f"features.cache_dir={tmp_path / 'feature-cache'}",
    ]


def test_a_failing_method_is_a_row_and_the_others_complete(
    tmp_path, tiny_model_dir, sentiment_csv, monkeypatch
):
    def broken(model, cfg):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(full, "prepare", broken)
    cfg = load_config(None, tiny_config(tiny_model_dir, sentiment_csv, tmp_path))
    out = tmp_path / "cmp"
    # full runs first: it measures the base model, then fails; the base row must survive that.
    result = compare_methods(cfg, ["full", "lora", "feature_extraction"], out, isolate=False)
    rows = {row["method"]: row for row in result["rows"]}
    assert [row["method"] for row in result["rows"]] == [
        "base", "full", "lora", "feature_extraction"
    ]  # fmt: skip
    assert rows["full"]["status"] == "failed"
    assert rows["full"]["reason"] == "RuntimeError: injected failure"
    for name in ("lora", "feature_extraction"):
        assert rows[name]["status"] == "completed"
        assert 0 <= rows[name]["f1_macro"] <= 1
        assert rows[name]["trainable_params"] > 0
        assert rows[name]["run_wall_s"] >= rows[name]["train_runtime_s"] > 0
        assert rows[name]["peak_rss_bytes"] is None  # one shared process: not its own peak
        metrics = json.loads((out / name / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["base"] is None  # the base model was evaluated once, in full's run
    assert rows["base"]["trainable_params"] == 0
    assert 0 <= rows["base"]["f1_macro"] <= 1
    assert rows["lora"]["trainable_params"] > rows["feature_extraction"]["trainable_params"]
    assert json.loads((out / "compare.json").read_text(encoding="utf-8")) == result
    page = (out / "compare.html").read_text(encoding="utf-8")
    assert "failed: RuntimeError: injected failure" in page and "data:image/png" in page


def test_cli_runs_each_method_in_its_own_process(
    tmp_path, tiny_model_dir, sentiment_csv, tunesmith_home, monkeypatch
):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the children share two busy cores
    config = tmp_path / "config.yaml"
    config.write_text("method: lora\n", encoding="utf-8")
    sets = [a for item in tiny_config(tiny_model_dir, sentiment_csv, tmp_path)
            for a in ("--set", item)]  # fmt: skip
    out = tmp_path / "cmp"
    # One method: a child process spends ~7 s of CPU importing torch and transformers.
    args = ["compare", str(config), "--methods", "feature_extraction", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, *sets], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    compared = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert compared["isolated"] is True
    assert [r["method"] for r in compared["rows"]] == ["base", "feature_extraction"]
    row = compared["rows"][1]
    assert row["status"] == "completed", row
    assert row["peak_rss_bytes"] > 0
    assert (out / "feature_extraction" / "final" / "head.safetensors").is_file()
    assert "run saved to" in (out / "logs" / "feature_extraction.log").read_text(encoding="utf-8")
    assert "macro-F1" in result.stderr and "total wall time" in result.stderr


@pytest.mark.parametrize("methods", ["lora,nope", "lora,lora", " , "])
def test_bad_method_lists_fail_before_anything_runs(tmp_path, tiny_model_dir, methods):
    config = tmp_path / "config.yaml"
    config.write_text(f"model: {tiny_model_dir}\n", encoding="utf-8")
    out = tmp_path / "cmp"
    result = CliRunner().invoke(
        app, ["compare", str(config), "--methods", methods, "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --methods"), result.stderr
    assert not out.exists()


def test_an_existing_out_directory_is_not_overwritten(tmp_path, tiny_model_dir, sentiment_csv):
    out = tmp_path / "cmp"
    (out / "lora").mkdir(parents=True)
    (out / "lora" / "keep.txt").write_text("mine", encoding="utf-8")
    cfg = load_config(None, tiny_config(tiny_model_dir, sentiment_csv, tmp_path))
    from tunesmith.errors import TunesmithError

    with pytest.raises(TunesmithError, match="--out: .* is not empty"):
        compare_methods(cfg, ["lora"], out, isolate=False)
    assert (out / "lora" / "keep.txt").read_text(encoding="utf-8") == "mine"
