"""The main job, top to bottom: data, model, base eval, train, tuned eval, save, report."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

from rich.console import Console

from tunesmith.config import Config
from tunesmith.config_io import dump_config
from tunesmith.data.encode import encode_examples
from tunesmith.data.split import make_splits, subsample
from tunesmith.evaluate.run import evaluate
from tunesmith.methods import count_parameters, get_method
from tunesmith.models.load import compute_dtype, load_model, load_tokenizer, pick_device
from tunesmith.models.resolve import resolve_model
from tunesmith.report.card import write_model_card
from tunesmith.report.html import write_report
from tunesmith.report.table import print_comparison
from tunesmith.rundir import check_run_dir, create_run_dir, write_json
from tunesmith.train.loop import train
from tunesmith.train.monitor import RunLog


def run_training(cfg: Config, *, overwrite: bool = False, console: Console | None = None) -> Path:
    """Fine-tune ``cfg.model`` on ``cfg.data`` and write a complete run directory; returns it."""
    console = console or Console(stderr=True)
    method = get_method(cfg.method)
    splits = make_splits(cfg.data, cfg.train.seed)  # bad data fails here, before any model loads
    splits.test = subsample(
        splits.test, cfg.eval.max_examples, cfg.train.seed, stratify=splits.labels is not None
    )
    check_run_dir(cfg.output, overwrite)
    location = resolve_model(cfg.model, console.print)  # a bad model fails before any write
    device = pick_device()
    dtype = compute_dtype(cfg.train.precision, device)
    tokenizer = load_tokenizer(location)
    model = load_model(location, method.frozen_dtype(dtype), device)

    run_dir = create_run_dir(cfg.output, overwrite)
    dump_config(cfg, run_dir / "config.yaml")
    write_json(run_dir / "run.json", _manifest(cfg, splits, location))
    console.print(
        f"[bold]{splits.task}[/]: {len(splits.train)} train / {len(splits.validation)} "
        f"validation / {len(splits.test)} test examples -> {run_dir}\n"
        f"model {location} on {device.type}, compute {str(dtype).split('.')[-1]}"
    )

    def evaluate_now(name: str) -> dict | None:
        if not splits.test:
            return None
        return evaluate(
            model, tokenizer, splits.test, splits.labels, cfg, device=device, dtype=dtype, name=name
        )

    base = evaluate_now("base") if cfg.eval.base else None
    model = method.prepare(model, cfg)
    trainable, total = count_parameters(model)
    console.print(f"method {cfg.method}: {trainable:,} trainable of {total:,} parameters")
    length = cfg.train.max_length
    train_set = encode_examples(splits.train, tokenizer, length)
    val_set = encode_examples(splits.validation, tokenizer, length)
    log = RunLog(run_dir / "train_log.jsonl")
    try:
        result = train(
            model,
            train_set,
            val_set,
            cfg,
            pad_id=tokenizer.pad_token_id,
            device=device,
            dtype=dtype,
            log=log,
        )
    finally:
        log.close()
    tuned = evaluate_now("tuned")

    method.save(model, tokenizer, run_dir / "final")
    metrics = {
        "task": splits.task,
        "model": cfg.model,
        "model_location": str(location),
        "method": cfg.method,
        "labels": splits.labels,
        "eval_split": "test",
        "eval_examples": len(splits.test),
        "base": base,
        "tuned": tuned,
        "train_examples": len(train_set),
        "train_truncated": sum(item.truncated for item in train_set),
        "train_steps": result.steps,
        "train_tokens": result.train_tokens,
        "train_runtime_s": round(result.runtime_s, 3),
        "train_tokens_per_s": round(result.tokens_per_s, 2),
        "final_train_loss": result.losses[-1] if result.losses else None,
        "final_val_loss": result.val_losses[-1][1] if result.val_losses else None,
        "peak_rss_bytes": peak_rss_bytes(),
        "trainable_params": trainable,
        "total_params": total,
    }
    write_json(run_dir / "metrics.json", metrics)
    write_model_card(run_dir)
    write_report(run_dir)
    if tuned is not None:
        print_comparison(metrics, console)
    console.print(f"run saved to {run_dir} (report: {run_dir / 'report.html'})")
    return run_dir


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # Linux reports KiB


def _manifest(cfg: Config, splits, location) -> dict:
    return {
        "task": splits.task,
        "labels": splits.labels,
        "model": cfg.model,
        "model_location": str(location),
        "method": cfg.method,
    }
