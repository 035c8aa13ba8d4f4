"""The command line end to end on the tiny model: train, eval, predict, generate, and error paths.

Three runs are trained once per module (LoRA and full classification, LoRA instruction) and shared
by the tests that inspect them; each takes a few seconds.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tunesmith.cli import app

CLASS_METRICS = {
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "per_class",
    "confusion_matrix",
}
TRAIN_FIGURES = {"train_tokens", "train_runtime_s", "train_tokens_per_s", "peak_rss_bytes"}
LABELS = {"positive", "negative"}


def invoke(*args):
    """Run the CLI in-process; an exception other than an exit fails the test itself."""
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def assert_one_line_error(result, *fragments: str) -> str:
    """Exit status 2 and stderr is exactly one 'error:' line (no traceback) naming ``fragments``."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def write_config(path: Path, model: Path | str, **sections) -> Path:
    """A config on ``model`` (tiny or a bad spec); ``sections`` merge over fast fp32 settings."""
    cfg = {
        "model": str(model),
        "method": "lora",
        "output": str(path.parent / "runs" / "latest"),
        "data": {},
        "train": {
            "epochs": 6,
            "batch_size": 8,
            "learning_rate": 5e-3,
            "max_length": 64,
            "precision": "fp32",
            "log_every": 2,
        },
        "eval": {"batch_size": 16, "max_new_tokens": 8},
    }
    for key, value in sections.items():
        if isinstance(value, dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def write_instruction_jsonl(path: Path, n: int) -> Path:
    """Alpaca-style rows of different lengths whose answer follows the input's sentiment word."""
    answers = {"good": "great film", "bad": "awful film"}
    fillers = ["the movie", "the plot", "the actor", "a film", "the film"]
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            word = ["good", "bad"][i % 2]
            text = f"{fillers[i % 5]} was {'very ' * (i % 7)}{word}"
            row = {"instruction": "describe", "input": text, "output": answers[word]}
            handle.write(json.dumps(row) + "\n")
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A module-wide directory with TUNESMITH_HOME inside it (nothing touches ~/.cache)."""
    path = tmp_path_factory.mktemp("cli")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNESMITH_HOME", str(path / "home"))
        mp.delenv("TUNESMITH_MODEL_CACHE", raising=False)
        yield path


@pytest.fixture(autouse=True)
def _home(tunesmith_home):
    """Per-test TUNESMITH_HOME as well (the module runs above set their own)."""


@pytest.fixture(scope="module")
def train_csv(workdir, write_sentiment):
    return write_sentiment(workdir / "train.csv", 120)


def train_run(workdir: Path, model_dir: Path, name: str, **sections) -> Path:
    config = write_config(
        workdir / f"{name}.yaml", model_dir, output=str(workdir / "runs" / name), **sections
    )
    result = invoke("train", config)
    assert result.exit_code == 0, result.output
    return workdir / "runs" / name


@pytest.fixture(scope="module")
def lora_run(workdir, tiny_model_dir, train_csv):
    return train_run(workdir, tiny_model_dir, "lora", data={"train": str(train_csv)})


@pytest.fixture(scope="module")
def full_run(workdir, tiny_model_dir, train_csv):
    return train_run(
        workdir,
        tiny_model_dir,
        "full",
        method="full",
        data={"train": str(train_csv)},
        train={"learning_rate": 2e-3},
    )


@pytest.fixture(scope="module")
def instruction_run(workdir, tiny_model_dir):
    data = write_instruction_jsonl(workdir / "instruct.jsonl", 60)
    return train_run(
        workdir, tiny_model_dir, "instruct", data={"train": str(data)}, train={"epochs": 8}
    )


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# -- classification runs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run", "weights"),
    [("lora_run", "adapter_model.safetensors"), ("full_run", "model.safetensors")],
)
def test_train_writes_a_complete_run_directory(run, weights, request):
    run_dir = request.getfixturevalue(run)
    for name in ("config.yaml", "run.json", "metrics.json", "train_log.jsonl", "report.html"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "final" / weights).stat().st_size > 0
    assert (run_dir / "final" / "README.md").read_text(encoding="utf-8").strip()
    other = {"adapter_model.safetensors", "model.safetensors"} - {weights}
    assert not (run_dir / "final" / other.pop()).exists()

    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    assert config["train"]["warmup_ratio"] == 0.06  # every default is filled in
    manifest = read_json(run_dir / "run.json")
    assert manifest["task"] == "classification"
    assert set(manifest["labels"]) == LABELS

    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in log if "loss" in row]
    assert losses and losses[-1] < losses[0]
    assert any("val_loss" in row for row in log)


@pytest.mark.parametrize("run", ["lora_run", "full_run"])
def test_fine_tuning_beats_the_base_model(run, request):
    metrics = read_json(request.getfixturevalue(run) / "metrics.json")
    for section in ("base", "tuned"):
        assert metrics[section].keys() >= CLASS_METRICS
        assert set(metrics[section]["per_class"]) == LABELS
        matrix = metrics[section]["confusion_matrix"]  # rows: true label, in label order
        assert [sum(row) for row in matrix] == [12, 12] == [metrics["eval_examples"] // 2] * 2
    assert metrics.keys() >= TRAIN_FIGURES
    assert metrics["train_tokens"] > 0 and metrics["train_tokens_per_s"] > 0
    assert metrics["peak_rss_bytes"] > 50 * 2**20
    base, tuned = metrics["base"]["f1_macro"], metrics["tuned"]["f1_macro"]
    assert tuned >= 0.9, (base, tuned)
    assert tuned > base + 0.25, (base, tuned)


def test_eval_writes_eval_json(lora_run):
    result = invoke("eval", lora_run)
    assert result.exit_code == 0, result.output
    stored = read_json(lora_run / "metrics.json")
    evaluated = read_json(lora_run / "eval.json")
    assert evaluated["tuned"]["f1_macro"] == pytest.approx(stored["tuned"]["f1_macro"])
    assert evaluated["eval_examples"] == stored["eval_examples"]


def test_eval_on_another_file(lora_run, tmp_path, write_sentiment):
    data = write_sentiment(tmp_path / "extra.csv", 12, seed=9)
    result = invoke("eval", lora_run, "--data", data)
    assert result.exit_code == 0, result.output
    evaluated = read_json(lora_run / "eval_extra.json")
    assert evaluated["base"] is None  # the stored base figures belong to the run's own split
    assert evaluated["eval_examples"] == 12
    assert evaluated["tuned"]["f1_macro"] >= 0.8


def test_predict_labels_every_row(lora_run, tmp_path, write_sentiment):
    source = write_sentiment(tmp_path / "input.csv", 10, seed=5)
    out = tmp_path / "out" / "predictions.csv"
    result = invoke("predict", lora_run, source, "-o", out)
    assert result.exit_code == 0, result.output
    with source.open(encoding="utf-8") as f_in, out.open(encoding="utf-8") as f_out:
        inputs, rows = list(csv.DictReader(f_in)), list(csv.DictReader(f_out))
    assert [r["text"] for r in rows] == [r["text"] for r in inputs]
    assert {r["prediction"] for r in rows} <= LABELS
    correct = sum(r["prediction"] == r["label"] for r in rows)
    assert correct >= 8
    assert all(0.5 <= float(r["confidence"]) <= 1 for r in rows)


def test_generate_prints_a_label(lora_run):
    # Texts shaped like the training rows: three sentiment words and two fillers.
    result = invoke("generate", lora_run, "bad the awful poor film")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "negative"
    result = invoke("generate", lora_run, "good great plot fine the")
    assert result.stdout.strip() == "positive"


# -- instruction run ---------------------------------------------------------------------------


def test_instruction_run_reports_loss_and_perplexity(instruction_run):
    metrics = read_json(instruction_run / "metrics.json")
    assert metrics["task"] == "instruction"
    for section in ("base", "tuned"):
        assert {"loss", "perplexity"} <= metrics[section].keys()
        assert metrics[section]["perplexity"] == pytest.approx(
            2.718281828 ** metrics[section]["loss"], rel=1e-3
        )
    # LoRA on a random tiny model is capped by its frozen (tied) embeddings: ~3.4 -> ~2.3 nats.
    assert metrics["tuned"]["loss"] < 0.8 * metrics["base"]["loss"]
    assert (instruction_run / "final" / "adapter_model.safetensors").is_file()


def test_instruction_generate_prints_text(instruction_run):
    result = invoke("generate", instruction_run, "describe\n\nthe movie was very good")
    assert result.exit_code == 0, result.output
    text = result.stdout.strip()
    assert text in {"great film", "awful film"}, text


def test_instruction_predict_completes_every_row(instruction_run, tmp_path):
    source = tmp_path / "prompts.jsonl"
    rows = [
        {"instruction": "describe", "input": f"the movie was very {w}"} for w in ("good", "bad")
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.csv"
    result = invoke("predict", instruction_run, source, "-o", out)
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as handle:
        predicted = [r["prediction"] for r in csv.DictReader(handle)]
    assert len(predicted) == 2
    assert set(predicted) <= {"great film", "awful film"}, predicted


# -- error paths -------------------------------------------------------------------------------


def test_missing_config_file(tmp_path):
    assert_one_line_error(invoke("train", tmp_path / "nope.yaml"), "nope.yaml", "not found")


def test_unknown_config_key(tmp_path, tiny_model_dir):
    config = write_config(tmp_path / "c.yaml", tiny_model_dir, data={"train": "x.csv"})
    text = config.read_text(encoding="utf-8") + "trian:\n  epochs: 1\n"
    config.write_text(text, encoding="utf-8")
    assert_one_line_error(invoke("train", config), "'trian'", "train")


def test_unknown_set_key(tmp_path, tiny_model_dir, sentiment_csv):
    config = write_config(tmp_path / "c.yaml", tiny_model_dir, data={"train": str(sentiment_csv)})
    line = assert_one_line_error(invoke("train", config, "--set", "train.epoch=1"), "train.epoch")
    assert "train.epochs" in line


def test_missing_data_file(tmp_path, tiny_model_dir):
    missing = tmp_path / "missing.csv"
    config = write_config(tmp_path / "c.yaml", tiny_model_dir, data={"train": str(missing)})
    assert_one_line_error(invoke("train", config), "missing.csv")
    assert not (tmp_path / "runs").exists()  # bad data fails before a run directory exists


def test_existing_output_needs_overwrite(tmp_path, tiny_model_dir, sentiment_csv):
    output = tmp_path / "runs" / "old"
    output.mkdir(parents=True)
    (output / "notes.txt").write_text("keep me", encoding="utf-8")
    config = write_config(
        tmp_path / "c.yaml", tiny_model_dir, output=str(output), data={"train": str(sentiment_csv)}
    )
    assert_one_line_error(invoke("train", config), str(output), "--overwrite")
    assert [p.name for p in output.iterdir()] == ["notes.txt"]
    assert (output / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_predict_on_a_directory_that_is_not_a_run(tmp_path, sentiment_csv):
    (tmp_path / "not_a_run").mkdir()
    result = invoke("predict", tmp_path / "not_a_run", sentiment_csv, "-o", tmp_path / "o.csv")
    assert_one_line_error(result, "not_a_run", "not a finished tunesmith run")
    assert not (tmp_path / "o.csv").exists()


def test_predict_refuses_to_overwrite_its_input(lora_run, tmp_path, write_sentiment):
    source = write_sentiment(tmp_path / "input.csv", 4)
    before = source.read_bytes()
    assert_one_line_error(invoke("predict", lora_run, source, "-o", source), "input.csv")
    assert source.read_bytes() == before


def test_uncached_hub_model_offline(tmp_path, sentiment_csv, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read once, at import
    config = write_config(
        tmp_path / "c.yaml", "nobody-here/no-such-model", data={"train": str(sentiment_csv)}
    )
    result = invoke("train", config)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("error:")] == lines[-1:]
    assert "nobody-here/no-such-model" in lines[-1] and "hub" in lines[-1]
    assert "Traceback" not in result.output


def test_failed_model_load_leaves_no_run_directory(tmp_path, sentiment_csv, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    config = write_config(
        tmp_path / "c.yaml", "nobody-here/no-such-model", data={"train": str(sentiment_csv)}
    )
    assert invoke("train", config).exit_code == 2
    assert not (tmp_path / "runs" / "latest").exists()


def test_console_script_reports_errors_without_traceback(tmp_path):
    """The installed entry point, in a real process: exit status and stderr as a user sees them."""
    script = Path(sys.executable).with_name("tunesmith")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tunesmith.cli"]
    env = {**os.environ, "TUNESMITH_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [*command, "train", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {tmp_path / 'nope.yaml'}: ") and "not found" in line
    assert done.stdout == ""


def test_every_run_lands_in_the_registry(lora_run, registry_home, tmp_path):
    from tunesmith.registry import Registry

    rows = Registry().list(limit=100)
    done = [r for r in rows if r.status == "completed" and Path(r.run_dir) == lora_run.resolve()]
    assert done and done[0].tuned  # its metrics were recorded
    listing = invoke("runs", "list", "--limit", "100")
    assert listing.exit_code == 0 and "completed" in listing.stdout
    shown = invoke("runs", "show", str(done[0].id))
    assert shown.exit_code == 0 and lora_run.name in shown.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(f"data:\n  train: {tmp_path / 'missing.csv'}\noutput: {tmp_path / 'r'}\n")
    assert invoke("train", str(bad)).exit_code == 2
    failed = Registry().list(limit=1)[0]
    assert failed.status == "failed" and "missing.csv" in (failed.reason or "")
    assert invoke("runs", "compare", str(done[0].id), str(failed.id)).exit_code == 0


def test_resume_continues_a_run_in_place(workdir, tiny_model_dir, train_csv):
    run_dir = train_run(
        workdir, tiny_model_dir, "resumed", data={"train": str(train_csv)},
        train={"checkpoint_every": 2, "max_steps": 6},
    )  # fmt: skip
    first = (run_dir / "final" / "adapter_model.safetensors").read_bytes()
    base = json.loads((run_dir / "base_metrics.json").read_text())
    assert (run_dir / "checkpoints").is_dir()

    again = invoke("train", run_dir / "config.yaml", "--resume")
    assert again.exit_code == 0, again.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resumed_from"] == 6 and metrics["base"] == base  # base measured once
    assert (run_dir / "final" / "adapter_model.safetensors").read_bytes() == first


def test_resume_without_checkpoints_is_one_line_error(tmp_path, tiny_model_dir, train_csv):
    config = tmp_path / "config.yaml"
    config.write_text(
        f"model: {tiny_model_dir}\ndata:\n  train: {train_csv}\noutput: {tmp_path / 'nothing'}\n"
    )
    assert_one_line_error(invoke("train", config, "--resume"), "no checkpoints", "--resume")
