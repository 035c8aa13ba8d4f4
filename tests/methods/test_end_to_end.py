"""Every method end to end on the tiny model: ``run_training``, then ``tunesmith eval`` and
``tunesmith predict`` on the run directory it wrote (which loads the run back per method)."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.config_io import load_config
from tunesmith.pipeline import run_training

# (method, task, extra overrides); learning rates: the tiny model needs bigger steps
RUNS = [
    ("lora", "classification", ["train.learning_rate=5e-3"]),
    ("dora", "classification", ["train.learning_rate=5e-3"]),
    ("full", "classification", ["train.learning_rate=2e-3"]),
    ("freeze", "classification", ["train.learning_rate=2e-3", "layers.train_top=1"]),
    ("gradual_unfreeze", "classification",
     ["train.learning_rate=2e-3", "layers.unfreeze_every=2", "layers.lr_decay=0.8"]),
    ("prompt_tuning", "classification", ["prompt.num_virtual_tokens=4"]),
    ("prefix_tuning", "classification", ["prompt.num_virtual_tokens=4"]),
    ("cls_head", "classification", ["train.learning_rate=5e-3"]),
    ("cls_head", "classification", ["cls_head.train=full", "train.learning_rate=1e-3"]),
    ("prompt_tuning", "text", ["prompt.num_virtual_tokens=4"]),
    ("prefix_tuning", "text", ["prompt.num_virtual_tokens=4"]),
    ("gradual_unfreeze", "text", ["train.learning_rate=2e-3"]),
]  # fmt: skip
TEXT_WORDS = ["the", "movie", "was", "very", "good", "plot", "fine", "actor"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def data_files(tmp_path_factory, write_sentiment):
    path = tmp_path_factory.mktemp("e2e-data")
    text = path / "text.txt"
    lines = [" ".join(TEXT_WORDS[i % 8 :] + TEXT_WORDS[: i % 8]) for i in range(40)]
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"classification": write_sentiment(path / "train.csv", 60), "text": text}


@pytest.mark.parametrize(("method", "task", "overrides"), RUNS)
def test_method_trains_saves_evaluates_and_predicts(
    method, task, overrides, data_files, tiny_model_dir, tmp_path, tunesmith_home
):
    output = tmp_path / "run"
    cfg = load_config(None, [
        f"model={tiny_model_dir}", f"method={method}", f"data.train={data_files[task]}",
        f"output={output}", "train.max_steps=8", "train.batch_size=8", "train.max_length=48",
        "train.precision=fp32", "train.log_every=1", "train.checkpoint_every=4",
        "eval.max_new_tokens=3", *overrides,
    ])  # fmt: skip
    run_dir = run_training(cfg)

    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["method"] == method and metrics["train_steps"] == 8
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in log if row.get("loss") is not None]
    if method != "prompt_tuning":  # a soft prompt barely moves a random 2-layer model in 8
        # steps (test_prompt_learning checks that its steps lower the loss of their batch)
        assert sum(losses[-3:]) < sum(losses[:3]), losses
    weights = {p.name for p in (run_dir / "final").glob("*.safetensors")}
    assert weights & {"model.safetensors", "adapter_model.safetensors"}

    evaluated = invoke("eval", run_dir)
    assert evaluated.exit_code == 0, evaluated.output
    again = json.loads((run_dir / "eval.json").read_text(encoding="utf-8"))["tuned"]
    key = "f1_macro" if task == "classification" else "loss"
    assert again[key] == pytest.approx(metrics["tuned"][key], abs=1e-6)  # the saved model

    source = data_files[task]
    predicted = invoke("predict", run_dir, source, "--output", tmp_path / "out.csv")
    assert predicted.exit_code == 0, predicted.output
    with (tmp_path / "out.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(row["prediction"] for row in rows if task == "classification")
    if task == "classification":
        assert {row["prediction"] for row in rows} <= {"positive", "negative"}
        assert all(0.5 <= float(row["confidence"]) <= 1 for row in rows)
    answered = invoke("generate", run_dir, "good movie")
    assert answered.exit_code == 0, answered.output
