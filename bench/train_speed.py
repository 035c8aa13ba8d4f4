"""Training speed and memory: tunesmith's loop vs HF Trainer + PEFT on the same LoRA job.

The reference job: LoRA r=16 alpha=32 on all linear layers of the default model (Gemma 3 270M),
the first N sentences of SST-2 as "Review: <sentence>\\nSentiment: <negative|positive>", max length
128, batch 16, lr 2e-4, one epoch, seed 0, dynamic padding; HF Trainer with use_cpu=True and
bf16 where this CPU has native bf16. Each side runs in its own subprocess so peak RSS is its own.

    .venv/bin/python bench/train_speed.py [--examples 512] [--repeats 1]

Prints one JSON object: each side's real (non-pad) training tokens/s, peak RSS and final loss,
and the ratios tunesmith / reference, for tunesmith's defaults, with train.release_memory, and
with the exact output-layer gradient (train.loss_grad_filter=0). With --repeats the sides take
turns and each side's median run (by tokens/s) is reported.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

from tunesmith.train.monitor import peak_rss_bytes

SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "sst2" / "train.tsv"
NAMES = {"0": "negative", "1": "positive"}
#: tunesmith's sides: its defaults, with train.release_memory (a lower peak), and with the exact
#: output-layer gradient (no vocabulary filtering). The reference is HF Trainer + PEFT.
VARIANTS = {
    "tunesmith": [],
    "tunesmith_release_memory": ["train.release_memory=true"],
    "tunesmith_exact_gradient": ["train.loss_grad_filter=0"],
}
SIDES = ("reference", *VARIANTS)


def rows(n: int) -> list[tuple[str, str]]:
    """The first n (sentence, label word) pairs of SST-2."""
    with SST2.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [
            (r["sentence"].strip(), NAMES[r["label"]])
            for _, r in zip(range(n), reader, strict=False)
        ]


def run_reference(n: int) -> dict:
    """HF Trainer + PEFT, loss on the whole sequence as a plain Trainer user would set it up."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
    )

    from tunesmith.models.load import compute_dtype, load_tokenizer
    from tunesmith.models.resolve import resolve_model

    location = resolve_model("default")
    tok = load_tokenizer(location)
    bf16 = compute_dtype("auto", torch.device("cpu")) == torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(str(location))
    model = get_peft_model(
        model,
        LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    texts = [f"Review: {s}\nSentiment: {label}" for s, label in rows(n)]
    data = [tok(t, truncation=True, max_length=128) for t in texts]
    real_tokens = sum(len(d["input_ids"]) for d in data)
    args = TrainingArguments(
        output_dir="/tmp/tunesmith-bench-reference",
        per_device_train_batch_size=16,
        learning_rate=2e-4,
        num_train_epochs=1,
        seed=0,
        bf16=bf16,
        use_cpu=True,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        dataloader_num_workers=0,
    )
    collator = DataCollatorForLanguageModeling(tok, mlm=False)
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collator)
    started = time.perf_counter()
    trainer.train()
    runtime = time.perf_counter() - started
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "tokens_per_s": real_tokens / runtime,
        "runtime_s": runtime,
        "train_tokens": real_tokens,
        "final_loss": losses[-1],
        "peak_rss_bytes": peak_rss_bytes(),
    }


def run_tunesmith(n: int, workdir: Path, variant: list[str]) -> dict:
    """The same job through tunesmith's own loop (text task: loss on every token, like above)."""
    from tunesmith.config_io import load_config
    from tunesmith.pipeline import run_training

    data = workdir / "sst2.jsonl"
    with data.open("w", encoding="utf-8") as handle:
        for sentence, label in rows(n):
            handle.write(json.dumps({"text": f"Review: {sentence}\nSentiment: {label}"}) + "\n")
    cfg = load_config(
        None,
        [
            f"data.train={data}",
            "data.task=text",
            "data.validation_fraction=0",
            "data.test_fraction=0",
            "train.epochs=1",
            "train.batch_size=16",
            "train.learning_rate=2e-4",
            "train.max_length=128",
            "train.lr_schedule=linear",
            "train.warmup_ratio=0",
            "lora.dropout=0",
            "eval.base=false",
            "train.estimate_first=false",
            f"output={workdir / 'run'}",
            *variant,
        ],
    )
    run_dir = run_training(cfg, overwrite=True)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "tokens_per_s": metrics["train_tokens_per_s"],
        "runtime_s": metrics["train_runtime_s"],
        "train_tokens": metrics["train_tokens"],
        "final_loss": metrics["final_train_loss"],
        "peak_rss_bytes": peak_rss_bytes(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each side (median kept)")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "reference":
        print(json.dumps(run_reference(args.examples)))
        return
    if args.side in VARIANTS:
        work = Path("/tmp/tunesmith-bench-ours")
        work.mkdir(parents=True, exist_ok=True)
        print(json.dumps(run_tunesmith(args.examples, work, VARIANTS[args.side])))
        return
    result: dict = {"examples": args.examples, "repeats": args.repeats}
    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    for _ in range(args.repeats):  # sides alternate, so a slow spell of the machine hits all
        for side in SIDES:
            out = subprocess.run(
                [sys.executable, __file__, "--examples", str(args.examples), "--side", side],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs[side].append(json.loads(out.strip().splitlines()[-1]))
    for side in SIDES:
        result[side] = median_run(runs[side])
    ref = result["reference"]
    for side in SIDES[1:]:
        ours = result[side]
        ours["speedup_tokens_per_s"] = ours["tokens_per_s"] / ref["tokens_per_s"]
        ours["rss_ratio"] = ours["peak_rss_bytes"] / ref["peak_rss_bytes"]
        ours["final_loss_ratio"] = ours["final_loss"] / ref["final_loss"]
    print(json.dumps(result, indent=2))


def median_run(runs: list[dict]) -> dict:
    """The run with the median tokens/s, plus every run's tokens/s (timings here are noisy)."""
    ranked = sorted(runs, key=lambda r: r["tokens_per_s"])
    middle = dict(ranked[(len(ranked) - 1) // 2])
    middle["tokens_per_s_each"] = [round(r["tokens_per_s"], 1) for r in runs]
    return middle


if __name__ == "__main__":
    main()
