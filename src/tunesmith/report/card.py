"""``final/README.md``: a Hugging Face style model card for the trained weights.

The card travels with ``final/`` when it is uploaded or copied, so it says what the model is,
how it was trained, how it scored against its base and how to load it.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tunesmith.config import DEFAULT_LEARNING_RATE
from tunesmith.evaluate.metrics import comparison_rows
from tunesmith.report.run_files import read_config, read_metrics
from tunesmith.report.table import display_name, format_delta, format_value, verdict

# Characters that would change the meaning of user text inside Markdown (tables, emphasis,
# links, raw HTML) when a label or file name happens to contain them.
_MARKDOWN_SPECIAL = "\\`*_[]<>|#"


def write_model_card(run_dir: Path) -> Path:
    """Write ``run_dir/final/README.md`` (creating ``final/``) from the run's metrics and config."""
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    config = read_config(run_dir) or {}
    parts = [
        _front_matter(metrics),
        f"# {_md(run_dir.name)}\n\n"
        f"{_md(metrics.get('model', '?'))} fine-tuned with "
        f"tunesmith for {_md(_task(metrics))}.\n\n"
        f"**{verdict(metrics)}**",  # our own words and numbers: nothing to escape
        _training_section(metrics, config),
        _evaluation_section(metrics),
        _usage_section(metrics),
    ]
    final = run_dir / "final"
    final.mkdir(parents=True, exist_ok=True)
    path = final / "README.md"
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return path


#: Methods whose ``final/`` is a peft adapter on the base model (cls_head: with train: lora).
PEFT_METHODS = ("lora", "dora", "qlora", "prompt_tuning", "prefix_tuning")


def _base_model(metrics: dict) -> str:
    """Where the base weights can be loaded from: the resolved location, else the spec."""
    return str(metrics.get("model_location") or metrics.get("model", ""))


def _front_matter(metrics: dict) -> str:
    meta = {
        "library_name": "peft" if metrics.get("method") in PEFT_METHODS else "transformers",
        "base_model": _base_model(metrics),
        "tags": ["tunesmith", _task(metrics)],
        "pipeline_tag": "text-generation",
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---"


def _training_section(metrics: dict, config: dict) -> str:
    method = metrics.get("method", "?")
    lines = ["## Training", "", f"- Method: {_method_text(method, config)}"]
    data = config.get("data") or {}
    if data.get("train"):
        lines.append(f"- Training data: {_data_text(data)}")
    if metrics.get("labels"):
        lines.append(f"- Labels: {', '.join(_md(str(x)) for x in metrics['labels'])}")
    train = config.get("train") or {}
    if train:
        head = (config.get("cls_head") or {}).get("train", "lora")
        lines.append(
            f"- Schedule: {_schedule_text(train, head if method == 'cls_head' else method)}"
        )
    if metrics.get("train_tokens") is not None:
        lines.append(f"- {_throughput_text(metrics)}")
    if metrics.get("trainable_params") is not None:
        lines.append(f"- Trainable parameters: {_params_text(metrics)}")
    return "\n".join(lines)


def _method_text(method: str, config: dict) -> str:
    lora, layers = config.get("lora") or {}, config.get("layers") or {}
    prompt = config.get("prompt") or {}
    detail = ", ".join(f"{k}={lora[k]}" for k in ("r", "alpha", "dropout") if k in lora)
    adapters = f" ({_md(detail)})" if detail else ""
    head = (
        "LoRA" if (config.get("cls_head") or {}).get("train", "lora") == "lora" else "every weight"
    )
    texts = {
        "lora": f"LoRA adapters{adapters}",
        "dora": f"DoRA adapters{adapters}",
        "qlora": f"LoRA adapters{adapters} on a 4-bit base (QLoRA)",
        "full": "full fine-tuning (every weight updated)",
        "freeze": f"the top {layers.get('train_top', '?')} transformer blocks (the rest frozen)",
        "gradual_unfreeze": "gradual unfreezing, top block first (ULMFiT)",
        "prompt_tuning": f"prompt tuning ({prompt.get('num_virtual_tokens', '?')} virtual tokens)",
        "prefix_tuning": f"prefix tuning ({prompt.get('num_virtual_tokens', '?')} virtual tokens)",
        "cls_head": f"a classification head, trained with {head}",
        "feature_extraction": "feature extraction (the model frozen; a classifier head on its "
        "pooled features)",
    }
    return texts.get(method, _md(method))


def _data_text(data: dict) -> str:
    # File names only: the absolute paths on the training machine mean nothing to a reader.
    text = _md(Path(str(data["train"])).name)
    for split in ("validation", "test"):
        if data.get(split):
            text += f"; {split}: {_md(Path(str(data[split])).name)}"
    return text


def _schedule_text(train: dict, method: str) -> str:
    if train.get("max_steps"):
        length = f"{train['max_steps']} steps"
    else:
        length = f"{train.get('epochs', '?')} epochs"
    lr = train.get("learning_rate") or DEFAULT_LEARNING_RATE.get(method)
    schedule = f" ({train['lr_schedule']} decay)" if train.get("lr_schedule") else ""
    facts = [length, f"learning rate {lr}{schedule}"]
    for key, name in (
        ("batch_size", "batch size"),
        ("grad_accum", "gradient accumulation"),
        ("max_length", "max length"),
        ("seed", "seed"),
    ):
        if key in train:
            facts.append(f"{name} {train[key]}")
    return _md(", ".join(str(f) for f in facts))


def _throughput_text(metrics: dict) -> str:
    text = f"Trained on {metrics['train_tokens']:,} tokens"
    if metrics.get("train_runtime_s") is not None:
        text += f" in {metrics['train_runtime_s']:.0f} s"
    if metrics.get("train_tokens_per_s") is not None:
        text += f" ({metrics['train_tokens_per_s']:,.0f} tokens/s)"
    return text


def _params_text(metrics: dict) -> str:
    trainable, total = metrics["trainable_params"], metrics.get("total_params")
    if not total:
        return f"{trainable:,}"
    return f"{trainable:,} of {total:,} ({100 * trainable / total:.2f}%)"


def _evaluation_section(metrics: dict) -> str:
    where = ""
    if metrics.get("eval_examples") is not None:
        split = _md(str(metrics.get("eval_split", "held-out")))
        where = f"Scored on {metrics['eval_examples']} {split} examples.\n\n"
    lines = ["| metric | base | tuned | change |", "|---|---:|---:|---:|"]
    for name, before, after, delta in comparison_rows(metrics):
        lines.append(
            f"| {display_name(name)} | {format_value(before)} | {format_value(after)} "
            f"| {format_delta(delta)} |"
        )
    return "## Evaluation\n\n" + where + "\n".join(lines)


def _usage_section(metrics: dict) -> str:
    model = json.dumps(_base_model(metrics))
    if metrics.get("method") == "feature_extraction":
        code = (
            "# head.safetensors + head.json: a classifier on the base model's pooled features\n"
            "from tunesmith.rundir import load_run\n\n"
            'run = load_run("RUN_DIR")  # run.model.score_labels(...) gives label log-probabilities'
        )
    elif metrics.get("method") == "cls_head":
        code = (
            "from transformers import AutoModelForSequenceClassification\n\n"
            "# train: full; with train: lora load the base with num_labels and\n"
            '# PeftModel.from_pretrained(base, "final") (labels in final/head.json)\n'
            'model = AutoModelForSequenceClassification.from_pretrained("final")'
        )
    elif metrics.get("method") in PEFT_METHODS:
        code = (
            "from peft import PeftModel\n"
            "from transformers import AutoModelForCausalLM\n\n"
            f"base = AutoModelForCausalLM.from_pretrained({model})\n"
            'model = PeftModel.from_pretrained(base, "final")'
        )
    else:
        code = (
            "from transformers import AutoModelForCausalLM\n\n"
            'model = AutoModelForCausalLM.from_pretrained("final")'
        )
    return (
        "## How to use\n\n"
        "Predictions for a file of new examples, from the directory holding the run:\n\n"
        "```bash\ntunesmith predict RUN_DIR input.csv\n```\n\n"
        "In Python, from inside the run directory:\n\n"
        f"```python\n{code}\n```"
    )


def _task(metrics: dict) -> str:
    return str(metrics.get("task") or "text")


def _md(text: str) -> str:
    """``text`` with Markdown's special characters backslash-escaped."""
    return "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in str(text))
