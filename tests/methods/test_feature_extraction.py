"""feature_extraction on the tiny model: a head that learns, a cache that is reused, a saved
head that reloads to the same predictions, and the one-line error for non-classification data."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import tunesmith.methods.features as features
from tunesmith.cli import app
from tunesmith.config_io import load_config
from tunesmith.errors import TunesmithError
from tunesmith.evaluate.run import predict_labels
from tunesmith.pipeline import run_training
from tunesmith.rundir import load_run


def fe_config(model, train_csv, output, *extra: str):
    """A fast feature_extraction config on ``train_csv`` (fp32, cache in a test directory)."""
    return load_config(
        None,
        [
            f"model={model}",
            "method=feature_extraction",
            f"data.train={train_csv}",
            f"output={output}",
            "train.precision=fp32",
            "train.max_length=64",
            f"features.cache_dir={output.parent / 'feature-cache'}",
            *extra,
        ],
    )


@pytest.fixture
def backbone_calls(monkeypatch) -> list[int]:
    """Rows passed to the backbone, one entry per call."""
    calls: list[int] = []
    real = features.pooled_batch

    def counting(backbone, rows, *args, **kwargs):
        calls.append(len(rows))
        return real(backbone, rows, *args, **kwargs)

    monkeypatch.setattr(features, "pooled_batch", counting)
    return calls


@pytest.fixture(scope="module")
def fe_run(tmp_path_factory, tiny_model_dir, write_sentiment):
    """One logistic-head run on 200 separable sentences (no base eval: not what is tested)."""
    work = tmp_path_factory.mktemp("fe")
    train_csv = write_sentiment(work / "train.csv", 200)
    cfg = fe_config(tiny_model_dir, train_csv, work / "run", "eval.base=false")
    return run_training(cfg)


def test_head_beats_chance_and_reports_like_other_runs(fe_run):
    metrics = json.loads((fe_run / "metrics.json").read_text(encoding="utf-8"))
    tuned = metrics["tuned"]
    assert tuned["accuracy"] >= 0.9, tuned
    assert tuned["f1_macro"] >= 0.9
    assert len(tuned["confusion_matrix"]) == 2
    assert metrics["method"] == "feature_extraction"
    assert 0 < metrics["trainable_params"] < metrics["total_params"]
    assert metrics["trainable_params"] == 2 * 64 + 2  # a linear layer: 64 features -> 2 labels
    assert metrics["final_val_loss"] is not None and metrics["final_val_loss"] < 0.69
    assert metrics["features"]["pooling"] == "mean" and metrics["features"]["layer"] == -1
    assert (fe_run / "report.html").is_file() and (fe_run / "final" / "README.md").is_file()


def test_final_holds_no_pickle(fe_run):
    names = {p.name for p in (fe_run / "final").iterdir()}
    assert {"head.safetensors", "head.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl", ".pickle")) for n in names)
    described = json.loads((fe_run / "final" / "head.json").read_text(encoding="utf-8"))
    assert described["pooling"] == "mean" and described["layer"] == -1


def test_reloaded_head_predicts_as_the_run_scored(fe_run, tmp_path, write_sentiment):
    run = load_run(fe_run)
    result = CliRunner().invoke(app, ["eval", str(fe_run)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    stored = json.loads((fe_run / "metrics.json").read_text(encoding="utf-8"))["tuned"]
    again = json.loads((fe_run / "eval.json").read_text(encoding="utf-8"))["tuned"]
    assert again["confusion_matrix"] == stored["confusion_matrix"]
    texts = ["good great fine", "bad awful poor the", "the movie was very good"]
    first = predict_labels(run.model, run.tokenizer, texts, run.labels, run.cfg, run.device,
                           run.dtype)  # fmt: skip
    second_run = load_run(fe_run)
    second = predict_labels(second_run.model, second_run.tokenizer, texts, second_run.labels,
                            second_run.cfg, second_run.device, second_run.dtype)  # fmt: skip
    assert first[0] == second[0]
    assert torch.equal(first[1], second[1])
    source = write_sentiment(tmp_path / "new.csv", 10, seed=5)
    out = tmp_path / "pred.csv"
    result = CliRunner().invoke(app, ["predict", str(fe_run), str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = out.read_text(encoding="utf-8").splitlines()
    assert len(rows) == 11 and rows[0].endswith("prediction,confidence")


def test_features_are_cached_across_runs(tmp_path, tiny_model_dir, sentiment_csv, backbone_calls):
    cfg = fe_config(tiny_model_dir, sentiment_csv, tmp_path / "first", "eval.base=false")
    run_training(cfg)
    first = len(backbone_calls)
    assert first > 0
    cfg.output = str(tmp_path / "second")
    second = run_training(cfg)
    assert len(backbone_calls) == first  # train, validation and test all came from the cache
    metrics = json.loads((second / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["features"]["cached"] == {"train": True, "validation": True}
    cfg.output, cfg.features.pooling = str(tmp_path / "third"), "last"
    run_training(cfg)
    assert len(backbone_calls) > first  # another pooling is another key


def test_mlp_head_learns(tmp_path, tiny_model_dir, write_sentiment):
    train_csv = write_sentiment(tmp_path / "train.csv", 200)
    cfg = fe_config(
        tiny_model_dir, train_csv, tmp_path / "run", "eval.base=false", "features.head=mlp",
        "features.mlp_hidden=16", "features.pooling=last", "features.layer=1",
    )  # fmt: skip
    metrics = json.loads((run_training(cfg) / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["tuned"]["accuracy"] >= 0.8, metrics["tuned"]
    assert metrics["trainable_params"] == 64 * 16 + 16 + 16 * 2 + 2


def test_text_task_is_refused_before_the_model_loads(tmp_path, sentiment_csv):
    cfg = fe_config(tmp_path / "no-such-model", sentiment_csv, tmp_path / "run", "data.task=text")
    with pytest.raises(TunesmithError, match="feature_extraction: classifies only") as caught:
        run_training(cfg)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "run").exists()


def test_a_layer_the_model_lacks_is_one_line_error(tmp_path, tiny_model_dir, sentiment_csv):
    cfg = fe_config(tiny_model_dir, sentiment_csv, tmp_path / "run", "features.layer=5")
    with pytest.raises(TunesmithError, match=r"features.layer = 5, but the model has 2 layers"):
        run_training(cfg)
