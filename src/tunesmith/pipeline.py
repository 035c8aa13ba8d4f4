"""The main job, top to bottom: data, model, base eval, train, tuned eval, save, report."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from tunesmith.config import Config
from tunesmith.config_io import dump_config
from tunesmith.data.encode import Encoded, encode_examples
from tunesmith.data.split import make_splits, subsample
from tunesmith.errors import TunesmithError
from tunesmith.evaluate.run import evaluate
from tunesmith.methods import count_parameters, get_method
from tunesmith.models.load import compute_dtype, load_model, load_tokenizer, pick_device
from tunesmith.models.resolve import resolve_model
from tunesmith.registry.record import recorded_run
from tunesmith.report.card import write_model_card
from tunesmith.report.html import write_report
from tunesmith.report.table import print_comparison
from tunesmith.rundir import check_run_dir, create_run_dir, write_json
from tunesmith.train.estimate import Estimate, estimate_training, step_plan
from tunesmith.train.loop import TrainResult, seed_everything, train
from tunesmith.train.monitor import RunLog, peak_rss_bytes
from tunesmith.train.trackers import check_installed, config_params, ending_status, open_trackers


def run_training(
    cfg: Config,
    *,
    overwrite: bool = False,
    resume: bool = False,
    console: Console | None = None,
    on_validation: Callable[[int, dict], None] | None = None,
    score_validation: bool = False,
) -> Path:
    """Fine-tune ``cfg.model`` on ``cfg.data``, write the run directory, record it in the registry.

    Every ending is recorded: completed with its metrics, or failed/interrupted with the
    one-line reason (the exception is re-raised unchanged). ``on_validation`` goes to the
    training loop; ``score_validation`` also scores the tuned model on the validation split
    (metrics.json ``validation``), which a tuner chooses by, keeping the test split unseen.
    """
    console = console or Console(stderr=True)
    with recorded_run(cfg, console) as record:
        run_dir = _train_run(cfg, overwrite, resume, console, on_validation, score_validation)
        record.finish(json.loads((run_dir / "metrics.json").read_text(encoding="utf-8")))
    return run_dir


def _train_run(
    cfg: Config, overwrite: bool, resume: bool, console: Console, on_validation, score_validation
) -> Path:
    """The job, top to bottom: data, model, base eval, train, tuned eval, save, report."""
    method = get_method(cfg.method)
    splits = make_splits(cfg.data, cfg.train.seed)  # bad data fails here, before any model loads
    check_installed(cfg.monitor)  # as does a tracker switched on without its package
    splits.test = subsample(
        splits.test, cfg.eval.max_examples, cfg.train.seed, stratify=splits.labels is not None
    )
    if resume:
        resumable_run_dir(cfg.output)
    else:
        check_run_dir(cfg.output, overwrite)
    env = load_environment(cfg, method, console)  # a bad model fails here, before any write
    run_dir = Path(cfg.output) if resume else start_run_dir(cfg, splits, env, overwrite, console)

    base = base_metrics(env, splits, cfg, run_dir)
    seed_everything(cfg.train.seed)  # adapters draw their initial weights from torch's RNG
    env.model = method.prepare(env.model, cfg)
    trainable, total = count_parameters(env.model)
    console.print(f"method {cfg.method}: {trainable:,} trainable of {total:,} parameters")
    train_set = encode_examples(splits.train, env.tokenizer, cfg.train.max_length)
    val_set = encode_examples(splits.validation, env.tokenizer, cfg.train.max_length)
    plan = step_plan(train_set, cfg)
    console.print(
        f"training: {len(plan)} steps over {sum(s.tokens for s in plan):,} tokens "
        "(the bar's ETA is timed on this machine; `tunesmith estimate` predicts it beforehand)"
    )
    trackers = open_trackers(cfg, run_dir)
    trackers.log_params(config_params(cfg))
    log = RunLog(run_dir / "train_log.jsonl", trackers)
    status = "FINISHED"
    try:
        result = train(
            env.model, train_set, val_set, cfg,
            pad_id=env.tokenizer.pad_token_id, device=env.device, dtype=env.dtype, log=log,
            checkpoint_dir=run_dir / "checkpoints", resume=resume, on_validation=on_validation,
        )  # fmt: skip
    except BaseException as exc:
        status = ending_status(exc)
        raise
    finally:
        log.close()
        trackers.close(status)
    tuned = held_out_metrics(env, splits, cfg, "tuned")
    validation = None
    if score_validation and splits.validation:
        validation = evaluate(
            env.model, env.tokenizer, splits.validation, splits.labels, cfg,
            device=env.device, dtype=env.dtype, name="validation",
        )  # fmt: skip

    method.save(env.model, env.tokenizer, run_dir / "final")
    metrics = {
        **_manifest(cfg, splits, env.location),
        "eval_split": "test",
        "eval_examples": len(splits.test),
        "base": base,
        "tuned": tuned,
        **({"validation": validation} if validation is not None else {}),
        **_training_figures(result, train_set),
        "trainable_params": trainable,
        "total_params": total,
    }
    write_json(run_dir / "metrics.json", metrics)
    write_model_card(run_dir)
    write_report(run_dir)
    if tuned is not None:
        print_comparison(metrics, console)
    if result.diagnosis.get("message"):
        console.print(result.diagnosis["message"])
    console.print(f"run saved to {run_dir} (report: {run_dir / 'report.html'})")
    return run_dir


def estimate_run(cfg: Config, console: Console | None = None) -> Estimate:
    """Predict training time and memory by timing a few real steps; writes nothing."""
    console = console or Console(stderr=True)
    method = get_method(cfg.method)
    splits = make_splits(cfg.data, cfg.train.seed)
    env = load_environment(cfg, method, console)
    model = method.prepare(env.model, cfg)
    train_set = encode_examples(splits.train, env.tokenizer, cfg.train.max_length)
    return estimate_training(
        model, train_set, cfg, pad_id=env.tokenizer.pad_token_id, device=env.device, dtype=env.dtype
    )


@dataclass
class Environment:
    """The loaded model and tokenizer, and where and how they compute."""

    location: Path | str
    device: torch.device
    dtype: torch.dtype
    tokenizer: Any
    model: Any


def load_environment(cfg: Config, method, console: Console) -> Environment:
    """Resolve and load the base model in the precision the method wants."""
    location = resolve_model(cfg.model, console.print)
    device = pick_device()
    dtype = compute_dtype(cfg.train.precision, device)
    tokenizer = load_tokenizer(location)
    model = load_model(location, method.frozen_dtype(dtype), device)
    return Environment(location, device, dtype, tokenizer, model)


def start_run_dir(cfg: Config, splits, env: Environment, overwrite: bool, console) -> Path:
    """Create the run directory with its config and manifest; say what is about to happen."""
    run_dir = create_run_dir(cfg.output, overwrite)
    dump_config(cfg, run_dir / "config.yaml")
    write_json(run_dir / "run.json", _manifest(cfg, splits, env.location))
    console.print(
        f"[bold]{splits.task}[/]: {len(splits.train)} train / {len(splits.validation)} "
        f"validation / {len(splits.test)} test examples -> {run_dir}\n"
        f"model {env.location} on {env.device.type}, compute {str(env.dtype).split('.')[-1]}"
    )
    return run_dir


def resumable_run_dir(output: str) -> Path:
    """The run directory to continue; it must hold checkpoints from an earlier start."""
    path = Path(output)
    if not (path / "checkpoints").is_dir():
        raise TunesmithError(
            f"output: {path} has no checkpoints to resume from; run without --resume"
        )
    return path


def base_metrics(env: Environment, splits, cfg: Config, run_dir: Path) -> dict | None:
    """The base model's figures, measured once: a resumed run reads them back."""
    if not cfg.eval.base:
        return None
    saved = run_dir / "base_metrics.json"
    if saved.is_file():
        return json.loads(saved.read_text(encoding="utf-8"))
    base = held_out_metrics(env, splits, cfg, "base")
    if base is not None:
        write_json(saved, base)
    return base


def held_out_metrics(env: Environment, splits, cfg: Config, name: str) -> dict | None:
    """Metrics of the model as it is now on the test split (None without a test split)."""
    if not splits.test:
        return None
    return evaluate(
        env.model, env.tokenizer, splits.test, splits.labels, cfg,
        device=env.device, dtype=env.dtype, name=name,
    )  # fmt: skip


def _training_figures(result: TrainResult, train_set: list[Encoded]) -> dict:
    return {
        "train_examples": len(train_set),
        "train_truncated": sum(item.truncated for item in train_set),
        "train_steps": result.steps,
        "train_tokens": result.train_tokens,
        "train_runtime_s": round(result.runtime_s, 3),
        "train_tokens_per_s": round(result.tokens_per_s, 2),
        "final_train_loss": next((x for x in reversed(result.losses) if math.isfinite(x)), None),
        "final_val_loss": result.val_losses[-1][1] if result.val_losses else None,
        "peak_rss_bytes": peak_rss_bytes(),
        "skipped_steps": result.skipped_steps,
        "best_step": result.best_step,
        "best_val_loss": result.best_val_loss,
        "stopped_early": result.stopped_early,
        "resumed_from": result.resumed_from,
        "diagnosis": result.diagnosis,
    }


def _manifest(cfg: Config, splits, location) -> dict:
    return {
        "task": splits.task,
        "labels": splits.labels,
        "model": cfg.model,
        "model_location": str(location),
        "method": cfg.method,
    }
