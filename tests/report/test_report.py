"""Console table, verdict, HTML report and model card, from synthetic run directories."""

import base64
import json
import re

import pytest
import yaml
from rich.console import Console

from tunesmith.errors import TunesmithError
from tunesmith.report.card import write_model_card
from tunesmith.report.html import write_report
from tunesmith.report.plots import confusion_png, loss_curve_png
from tunesmith.report.table import delta_style, print_comparison, verdict

LABELS = ["negative", "<script>alert(1)</script>"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _class_section(f1: float, matrix: list[list[int]]) -> dict:
    per_class = {
        label: {"precision": f1, "recall": f1, "f1": f1, "support": sum(matrix[i])}
        for i, label in enumerate(LABELS)
    }
    return {
        "accuracy": f1,
        "precision_macro": f1,
        "recall_macro": f1,
        "f1_macro": f1,
        "per_class": per_class,
        "confusion_matrix": matrix,
        "labels": LABELS,
        "runtime_s": 1.0,
    }


def make_metrics(task="classification", base=True, method="lora", before=0.441, after=0.912):
    """A metrics.json dict shaped like the trainer's; ``before``/``after`` are the key number."""
    if task == "classification":
        sections = (
            _class_section(before, [[3, 2], [4, 1]]),
            _class_section(after, [[5, 0], [1, 4]]),
        )
    else:
        sections = tuple(
            {"loss": v, "perplexity": v, "tokens": 500, "runtime_s": 1.0} for v in (before, after)
        )
    return {
        "task": task,
        "model": "default",
        "method": method,
        "labels": LABELS,
        "eval_split": "test",
        "eval_examples": 10,
        "base": sections[0] if base else None,
        "tuned": sections[1],
        "train_tokens": 123456,
        "train_runtime_s": 100.0,
        "train_tokens_per_s": 1234.5,
        "peak_rss_bytes": 512 * 2**20,
        "trainable_params": 100,
        "total_params": 1000,
    }


def make_run(tmp_path, metrics=None, log=True, config=True):
    """Write a run directory holding metrics.json and optionally a train log and config."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps(metrics or make_metrics()))
    if log:
        rows = [
            {
                "step": s,
                "epoch": s / 40,
                "loss": 3 - s / 20,
                "lr": 1e-4,
                "tokens_per_s": 250.0,
                "elapsed_s": s,
            }
            for s in range(5, 41, 5)
        ]
        rows.insert(4, {"step": 20, "val_loss": 1.9})
        text = "\n".join(json.dumps(r) for r in rows) + '\n{"step": 45, "lo'  # killed mid-write
        (run / "train_log.jsonl").write_text(text)
    if config:
        cfg = {
            "model": "default",
            "method": "lora",
            "data": {"train": "/home/me/data/reviews_train.csv", "validation": None},
            "lora": {"r": 16, "alpha": 32, "dropout": 0.05},
            "train": {"epochs": 2.0, "learning_rate": None, "batch_size": 16, "seed": 0},
        }
        (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    return run


def front_matter(card_text: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", card_text, re.DOTALL)
    assert match, "card must start with YAML front matter"
    return yaml.safe_load(match.group(1))


# --- verdict and console table ---------------------------------------------------------------


def test_verdict_helped_classification():
    assert verdict(make_metrics()) == "Fine-tuning helped: macro-F1 0.441 -> 0.912 (+0.471)."


def test_verdict_did_not_help_classification():
    text = verdict(make_metrics(before=0.9, after=0.8))
    assert text == "Fine-tuning did not help: macro-F1 0.900 -> 0.800 (-0.100)."


def test_verdict_perplexity_lower_is_better():
    helped = verdict(make_metrics(task="text", before=20.0, after=8.0))
    worse = verdict(make_metrics(task="text", before=8.0, after=20.0))
    assert helped == "Fine-tuning helped: perplexity 20.000 -> 8.000 (-12.000)."
    assert worse.startswith("Fine-tuning did not help: perplexity")


def test_verdict_without_base_states_tuned_figure_only():
    text = verdict(make_metrics(base=False))
    assert text == "Tuned model: macro-F1 0.912 (base model not evaluated)."


def test_delta_colour_follows_metric_direction():
    assert delta_style("f1_macro", 0.1) == "green"
    assert delta_style("loss", 0.1) == "red"
    assert delta_style("perplexity", -2.0) == "green"
    assert delta_style("loss", None) == ""


def test_print_comparison_shows_signed_deltas_and_verdict():
    console = Console(record=True, width=120)
    print_comparison(make_metrics(), console)
    out = console.export_text()
    assert "base vs tuned" in out
    assert "macro-F1" in out and "+0.4710" in out
    assert "Fine-tuning helped: macro-F1 0.441 -> 0.912 (+0.471)." in out


def test_print_comparison_without_base():
    console = Console(record=True, width=120)
    print_comparison(make_metrics(task="chat", base=False, after=5.0), console)
    out = console.export_text()
    assert "perplexity" in out and "5.0000" in out
    assert "base model not evaluated" in out


# --- HTML report ------------------------------------------------------------------------------


def _images(html: str) -> list[bytes]:
    found = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    return [base64.b64decode(data) for data in found]


def test_report_is_self_contained_with_verdict_and_images(tmp_path):
    path = write_report(make_run(tmp_path))
    html = path.read_text()
    assert path == tmp_path / "run" / "report.html"
    assert "Fine-tuning helped: macro-F1 0.441 -&gt; 0.912 (+0.471)." in html
    images = _images(html)
    assert len(images) == 3  # loss curve + two confusion matrices
    assert all(png.startswith(PNG_MAGIC) for png in images)
    assert "http://" not in html and "https://" not in html and "<link" not in html
    assert "reviews_train.csv" in html  # the config is shown
    assert "512 MiB" in html and "123,456" in html


def test_report_escapes_user_labels(tmp_path):
    html = write_report(make_run(tmp_path)).read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_report_without_train_log_or_config(tmp_path):
    html = write_report(make_run(tmp_path, log=False, config=False)).read_text()
    assert "No training log was recorded." in html
    assert "No config.yaml" in html
    assert len(_images(html)) == 2


def test_report_with_empty_train_log(tmp_path):
    run = make_run(tmp_path, log=False)
    (run / "train_log.jsonl").write_text("")
    assert "No training log was recorded." in write_report(run).read_text()


def test_report_without_base(tmp_path):
    html = write_report(make_run(tmp_path, make_metrics(base=False))).read_text()
    assert "base model not evaluated" in html
    assert len(_images(html)) == 2  # loss curve + tuned confusion matrix only
    assert "base F1" not in html


def test_report_language_model_task_has_no_confusion_matrix(tmp_path):
    metrics = make_metrics(task="instruction", before=9.0, after=4.0)
    html = write_report(make_run(tmp_path, metrics)).read_text()
    assert "Fine-tuning helped: perplexity 9.000 -&gt; 4.000" in html
    assert "Confusion" not in html
    assert len(_images(html)) == 1


def test_report_needs_metrics(tmp_path):
    with pytest.raises(TunesmithError, match="metrics.json"):
        write_report(tmp_path)


def test_plots_take_tex_like_labels_literally_and_skip_empty_logs():
    png = confusion_png([[1, 0], [0, 1]], ["$5 off", "x_1^$"], "base model")
    assert png.startswith(PNG_MAGIC)
    assert loss_curve_png([]) is None
    assert loss_curve_png([{"step": 5, "lr": 0.1}]) is None
    assert loss_curve_png([{"step": 20, "val_loss": 1.9}]).startswith(PNG_MAGIC)


# --- model card -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "library"),
    [("lora", "peft"), ("full", "transformers"), ("prefix_tuning", "peft"),
     ("freeze", "transformers")],
)  # fmt: skip
def test_model_card_front_matter(tmp_path, method, library):
    path = write_model_card(make_run(tmp_path, make_metrics(method=method)))
    text = path.read_text()
    assert path == tmp_path / "run" / "final" / "README.md"
    meta = front_matter(text)
    assert meta["library_name"] == library
    assert meta["base_model"] == "default"
    assert meta["tags"] == ["tunesmith", "classification"]
    assert ('PeftModel.from_pretrained(base, "final")' in text) == (library == "peft")
    assert ('AutoModelForCausalLM.from_pretrained("final")' in text) == (library != "peft")


@pytest.mark.parametrize(
    ("method", "section", "described"),
    [
        ("dora", {"lora": {"r": 8}}, "DoRA adapters (r=8)"),
        ("freeze", {"layers": {"train_top": 3}}, "the top 3 transformer blocks"),
        ("prompt_tuning", {"prompt": {"num_virtual_tokens": 7}}, "prompt tuning (7 virtual"),
        ("cls_head", {"cls_head": {"train": "full"}}, "classification head, trained with every"),
    ],
)
def test_model_card_names_the_method(tmp_path, method, section, described):
    run = make_run(tmp_path, make_metrics(method=method))
    config = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**config, "method": method, **section}))
    text = write_model_card(run).read_text()
    assert described in text
    assert "every weight updated" not in text


def test_model_card_describes_training_and_results(tmp_path):
    text = write_model_card(make_run(tmp_path)).read_text()
    assert "Fine-tuning helped: macro-F1 0.441 -> 0.912 (+0.471)." in text
    assert "reviews\\_train.csv" in text and "/home/me" not in text
    assert "learning rate 0.0002" in text  # the lora default fills an empty learning_rate
    assert "| macro-F1 | 0.4410 | 0.9120 | +0.4710 |" in text
    assert "tunesmith predict RUN_DIR input.csv" in text
    assert "<script>" not in text


def test_model_card_without_config_or_base(tmp_path):
    run = make_run(tmp_path, make_metrics(task="text", base=False), config=False)
    text = write_model_card(run).read_text()
    assert front_matter(text)["tags"] == ["tunesmith", "text"]
    assert "| perplexity | - | 0.9120 | - |" in text


def test_report_shows_the_training_diagnosis(tmp_path):
    metrics = make_metrics()
    metrics["diagnosis"] = {
        "status": "overfitting",
        "message": "validation loss rose after step 120 while training loss kept falling",
    }
    html = write_report(make_run(tmp_path, metrics)).read_text(encoding="utf-8")
    assert "Diagnosis: overfitting" in html and "rose after step 120" in html
    (tmp_path / "b").mkdir()
    assert "Diagnosis" not in write_report(make_run(tmp_path / "b", make_metrics())).read_text()
