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
from tunesmith.data.augment import augment_train
from tunesmith.data.cache import encode_cached
from tunesmith.data.encode import Encoded
from tunesmith.data.examples import Splits
from tunesmith.data.gate import DataCheck, check_data
from tunesmith.data.preprocess import describe_steps
from tunesmith.data.split import make_splits, subsample
from tunesmith.errors import TunesmithError
from tunesmith.evaluate.run import evaluate
from tunesmith.methods import check_method, count_parameters, get_method
from tunesmith.models.load import compute_dtype, load_model, load_tokenizer, pick_device
from tunesmith.models.resolve import resolve_model
from tunesmith.registry.record import RunRecord, recorded_run
from tunesmith.report.card import write_model_card
from tunesmith.report.html import write_report
from tunesmith.report.table import print_comparison
from tunesmith.rundir import check_run_dir, create_run_dir, write_json
from tunesmith.train.estimate import Estimate, estimate_training, step_plan
from tunesmith.train.loop import TrainResult, seed_everything, train
from tunesmith.train.memory import pin_mmap_threshold
from tunesmith.train.monitor import RunLog, peak_rss_bytes
from tunesmith.train.trackers import check_installed, config_params, ending_status, open_trackers


def run_training(
    cfg: Config,
    *,
    overwrite: bool = False,
    resume: bool = False,
    force: bool = False,
    console: Console | None = None,
    on_validation: Callable[[int, dict], None] | None = None,
    score_validation: bool = False,
) -> Path:
    """Fine-tune ``cfg.model`` on ``cfg.data``, write the run directory, record it in the registry.

    The data check runs first (``force``: train past its blocking findings, recorded). Every
    ending is recorded: completed with its metrics, or failed/interrupted with the one-line
    reason (the exception is re-raised unchanged). ``on_validation`` goes to the training loop;
    ``score_validation`` also scores the tuned model on the validation split (metrics.json
    ``validation``), which a tuner chooses by, keeping the test split unseen.
    """
    console = console or Console(stderr=True)
    options = RunOptions(overwrite, resume, force, on_validation, score_validation)
    job = _feature_run if cfg.method == "feature_extraction" else _train_run
    with recorded_run(cfg, console) as record:
        run_dir = job(cfg, options, console, record)
        record.finish(json.loads((run_dir / "metrics.json").read_text(encoding="utf-8")))
    return run_dir


def _train_run(cfg: Config, options: RunOptions, console: Console, record: RunRecord) -> Path:
    """The job, top to bottom: data, model, base eval, train, tuned eval, save, report."""
    method = get_method(cfg.method)
    checked, splits = checked_splits(cfg, options, console, record)
    env = load_environment(cfg, method, console, splits.labels)  # a bad model fails here
    augment_train(splits, cfg, env.model, env.tokenizer)  # train split only, before any write
    for line in describe_steps(splits.steps, changed_only=True):
        console.print(f"data: {line}", highlight=False, soft_wrap=True)
    run_dir = (
        Path(cfg.output)
        if options.resume
        else start_run_dir(cfg, splits, env, options.overwrite, console, checked)
    )

    base = base_metrics(env, splits, cfg, run_dir)
    seed_everything(cfg.train.seed)  # adapters draw their initial weights from torch's RNG
    env.model = method.prepare(env.model, cfg)
    trainable, total = count_parameters(env.model)
    console.print(f"method {cfg.method}: {trainable:,} trainable of {total:,} parameters")
    train_set = encode_for(method, splits.train, env.tokenizer, cfg, splits.labels)
    val_set = encode_for(method, splits.validation, env.tokenizer, cfg, splits.labels)
    predicted = predict_training(env, train_set, cfg, options, console)
    trackers = open_trackers(cfg, run_dir)
    trackers.log_params(config_params(cfg))
    log = RunLog(run_dir / "train_log.jsonl", trackers)
    status = "FINISHED"
    try:
        result = train(
            env.model, train_set, val_set, cfg,
            pad_id=env.tokenizer.pad_token_id, device=env.device, dtype=env.dtype, log=log,
            checkpoint_dir=run_dir / "checkpoints", resume=options.resume,
            on_validation=options.on_validation,
        )  # fmt: skip
    except BaseException as exc:
        status = ending_status(exc)
        raise
    finally:
        log.close()
        trackers.close(status)
    figures = {
        **_training_figures(result, train_set),
        **predicted,
        "trainable_params": trainable,
        "total_params": total,
    }
    finish_run(cfg, env, splits, options, run_dir, figures, base, console)
    if result.diagnosis.get("message"):
        console.print(result.diagnosis["message"])
    console.print(f"run saved to {run_dir} (report: {run_dir / 'report.html'})")
    return run_dir


def finish_run(
    cfg: Config,
    env: Environment,
    splits,
    options: RunOptions,
    run_dir: Path,
    figures: dict,
    base: dict | None,
    console: Console,
) -> None:
    """After training: score the tuned model, save it, write metrics, model card and report."""
    tuned = held_out_metrics(env, splits, cfg, "tuned")
    validation = validation_metrics(env, splits, cfg, options)
    get_method(cfg.method).save(env.model, env.tokenizer, run_dir / "final")
    metrics = {
        **_manifest(cfg, splits, env.location),
        "eval_split": "test",
        "eval_examples": len(splits.test),
        "base": base,
        "tuned": tuned,
        **validation,
        **figures,
    }
    write_json(run_dir / "metrics.json", metrics)
    write_model_card(run_dir)
    write_report(run_dir)
    if tuned is not None:
        print_comparison(metrics, console)


def predict_training(
    env: Environment, train_set: list[Encoded], cfg: Config, options: RunOptions, console
) -> dict:
    """Say how long training will take before it starts, by timing a few real steps (weights,
    RNG and data order are left as they were); the figures go into metrics.json too."""
    plan = step_plan(train_set, cfg)
    tokens = sum(s.tokens for s in plan)
    if not cfg.train.estimate_first or options.resume:
        console.print(f"training: {len(plan)} steps over {tokens:,} tokens")
        return {}
    estimate = estimate_training(
        env.model, train_set, cfg, pad_id=env.tokenizer.pad_token_id, device=env.device,
        dtype=env.dtype,
    )  # fmt: skip
    console.print(f"training: {estimate.describe()}")
    return {
        "predicted_train_runtime_s": estimate.predicted_train_runtime_s,
        "predicted_peak_rss_bytes": estimate.predicted_peak_rss_bytes,
    }


def checked_splits(
    cfg: Config, options: RunOptions, console: Console, record: RunRecord
) -> tuple[DataCheck, Splits]:
    """Every check that needs no model, cheapest first, then the splits a run trains on."""
    if options.resume:  # output problems first: found in a blink, the data check takes longer
        resumable_run_dir(cfg.output)
    else:
        check_run_dir(cfg.output, options.overwrite)
    checked = check_data(cfg, options.force, console)  # bad data stops here, before any model loads
    record.forced_past(checked.forced_past)
    # Forced past the data check: the rows it found unusable are left out rather than fatal.
    splits = make_splits(cfg.data, cfg.train.seed, skip_bad=bool(checked.forced_past))
    check_method(cfg, splits.task)  # as does a method that doesn't fit the task or machine
    check_installed(cfg.monitor)  # or a tracker switched on without its package
    splits.test = subsample(
        splits.test, cfg.eval.max_examples, cfg.train.seed, stratify=splits.labels is not None
    )
    return checked, splits


def _feature_run(cfg: Config, options: RunOptions, console: Console, record: RunRecord) -> Path:
    """feature_extraction, top to bottom: data, model, base eval, features + head, tuned eval,
    save, report. The same run directory as ``_train_run``; no training loop, no checkpoints."""
    from tunesmith.methods import feature_extraction as method

    if options.resume:
        raise TunesmithError(
            "--resume: feature_extraction keeps no checkpoints; run again without --resume "
            "(its features are cached, so that is quick)"
        )
    checked, splits = checked_splits(cfg, options, console, record)
    method.check_task(splits.task)  # before any model loads
    env = load_environment(cfg, method, console, splits.labels)
    run_dir = start_run_dir(cfg, splits, env, options.overwrite, console, checked)
    base = base_metrics(env, splits, cfg, run_dir)
    env.model = method.prepare(env.model, cfg)
    fitted = method.fit(env, splits, cfg)
    env.model = fitted.classifier
    trainable, total = count_parameters(env.model)
    console.print(f"method {cfg.method}: a {cfg.features.head} head of {trainable:,} parameters")
    figures = {**fitted.figures, "trainable_params": trainable, "total_params": total}
    finish_run(cfg, env, splits, options, run_dir, figures, base, console)
    console.print(f"run saved to {run_dir} (report: {run_dir / 'report.html'})")
    return run_dir


def estimate_run(cfg: Config, console: Console | None = None) -> Estimate:
    """Predict training time and memory by timing a few real steps; writes nothing."""
    console = console or Console(stderr=True)
    method = get_method(cfg.method)
    if cfg.method == "feature_extraction":
        raise TunesmithError(
            "method feature_extraction takes no training steps to time; its cost is one forward "
            "pass per example (run it: features are cached for the next run)"
        )
    splits = make_splits(cfg.data, cfg.train.seed)
    check_method(cfg, splits.task)
    env = load_environment(cfg, method, console, splits.labels)
    augment_train(splits, cfg, env.model, env.tokenizer)
    model = method.prepare(env.model, cfg)
    train_set = encode_for(method, splits.train, env.tokenizer, cfg, splits.labels)
    return estimate_training(
        model, train_set, cfg, pad_id=env.tokenizer.pad_token_id, device=env.device, dtype=env.dtype
    )


@dataclass
class RunOptions:
    """How ``run_training`` was asked to run (the CLI flags, and a tuner's hooks)."""

    overwrite: bool = False
    resume: bool = False
    force: bool = False
    on_validation: Callable[[int, dict], None] | None = None
    score_validation: bool = False


@dataclass
class Environment:
    """The loaded model and tokenizer, and where and how they compute."""

    location: Path | str
    device: torch.device
    dtype: torch.dtype
    tokenizer: Any
    model: Any


def load_environment(
    cfg: Config, method, console: Console, labels: list[str] | None = None
) -> Environment:
    """Resolve and load the base model the way and in the precision the method wants."""
    if cfg.train.release_memory:  # before the first big tensor
        pin_mmap_threshold()
    location = resolve_model(cfg.model, console.print)
    device = pick_device()
    dtype = compute_dtype(cfg.train.precision, device)
    tokenizer = load_tokenizer(location)
    seed_everything(cfg.train.seed)  # a method's fresh head draws its weights on loading
    load_base = getattr(method, "load_base", None)
    if load_base is not None:
        model = load_base(location, method.frozen_dtype(dtype), device, tokenizer, labels)
    else:
        model = load_model(location, method.frozen_dtype(dtype), device)
    return Environment(location, device, dtype, tokenizer, model)


def encode_for(method, examples, tokenizer, cfg: Config, labels: list[str] | None):
    """Training/validation items the way the method wants them (default: prompt + target,
    through the token cache)."""
    encode = getattr(method, "encode", None)
    if encode is not None:
        return encode(examples, tokenizer, cfg.train.max_length, labels)
    return encode_cached(examples, tokenizer, cfg.train.max_length, cfg.data.cache_tokens)


def start_run_dir(
    cfg: Config, splits, env: Environment, overwrite: bool, console, checked: DataCheck
) -> Path:
    """Create the run directory with its config and manifest; say what is about to happen."""
    run_dir = create_run_dir(cfg.output, overwrite)
    dump_config(cfg, run_dir / "config.yaml")
    manifest = {**_manifest(cfg, splits, env.location), "data_check": checked.as_dict()}
    write_json(run_dir / "run.json", manifest)
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


def validation_metrics(env: Environment, splits, cfg: Config, options: RunOptions) -> dict:
    """``{"validation": metrics}`` of the tuned model when asked for (a tuner's objective)."""
    if not (options.score_validation and splits.validation):
        return {}
    scored = evaluate(
        env.model, env.tokenizer, splits.validation, splits.labels, cfg,
        device=env.device, dtype=env.dtype, name="validation",
    )  # fmt: skip
    return {"validation": scored}


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
        "data_steps": splits.steps,  # what preprocessing, de-duplication and augmentation did
    }
