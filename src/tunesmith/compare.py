"""``tunesmith compare``: several methods on the same data, split and seed, in one table.

Each method is a normal run in OUT/<method>/ from the same resolved config (only ``method`` and
``output`` differ), so its report, model card and registry record are the usual ones. By default
each run is its own process (``python -m tunesmith.cli train OUT/configs/<method>.yaml``): its
peak memory (RSS) is then its own, not the high-water mark of every method before it, and a
crash takes down one row, not the comparison. With ``isolate=False`` the runs share this process
and no peak memory is reported.

The base model is evaluated once, inside the first run (later runs skip it); its figures are
the table's ``base`` row. A method that fails gets ``status: failed`` and its one-line reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import cast

from rich.console import Console

import tunesmith
from tunesmith.config import Config, MethodName
from tunesmith.config_io import dump_config, to_dict
from tunesmith.errors import TunesmithError
from tunesmith.evaluate.metrics import CLASSIFICATION_HEADLINE, LM_HEADLINE, headline_metrics
from tunesmith.methods import METHODS
from tunesmith.registry.record import failure_of
from tunesmith.report.method_table import print_method_table, write_compare_html
from tunesmith.report.run_files import read_metrics
from tunesmith.rundir import create_run_dir, write_json

HEADLINES = (*CLASSIFICATION_HEADLINE, *LM_HEADLINE)


def parse_methods(text: str) -> list[str]:
    """Method names from "a,b,c": each known to the registry, none twice; else one line."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise TunesmithError("--methods is empty; name methods like --methods lora,full")
    unknown = [name for name in names if name not in METHODS]
    if unknown:
        raise TunesmithError(
            f"--methods: unknown method {', '.join(unknown)}; choose from: {', '.join(METHODS)}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise TunesmithError(f"--methods: {', '.join(repeated)} named twice; name each once")
    return names


def compare_methods(
    cfg: Config,
    methods: list[str],
    out: Path,
    *,
    overwrite: bool = False,
    isolate: bool = True,
    console: Console | None = None,
) -> dict:
    """Run each of ``methods`` as ``cfg`` says into OUT/<method>/; write and print the table."""
    console = console or Console(stderr=True)
    methods = parse_methods(",".join(methods))
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise TunesmithError(
            f"--out: {out} is not empty; choose another --out or pass --overwrite to replace it"
        )
    out = create_run_dir(str(out), overwrite=True)
    started = time.perf_counter()
    base: dict | None = None
    rows = []
    for name in methods:
        measure_base = cfg.eval.base and base is None
        run_cfg = replace(
            cfg,
            method=cast(MethodName, name),  # parse_methods checked it against the registry
            output=str(out / name),
            eval=replace(cfg.eval, base=measure_base),
        )
        console.rule(f"compare: {name}")
        began = time.perf_counter()
        reason = run_isolated(run_cfg, out, console) if isolate else run_here(run_cfg, console)
        rows.append(method_row(name, out / name, reason, time.perf_counter() - began, isolate))
        base = base or _read_base(out / name)
    result = {
        "methods": methods,
        "task": _task(rows, base),
        "rows": [base_row(base), *rows] if base else rows,
        "total_wall_s": round(time.perf_counter() - started, 3),
        "isolated": isolate,
        "config": to_dict(cfg),
    }
    write_json(out / "compare.json", result)
    write_compare_html(result, out / "compare.html")
    print_method_table(result, console)
    console.print(f"written {out / 'compare.json'} and {out / 'compare.html'}")
    return result


def run_isolated(cfg: Config, out: Path, console: Console) -> str | None:
    """``tunesmith train`` on ``cfg`` in a child process; None when it completed, else why not.

    The child's output goes to the console and to OUT/logs/<method>.log.
    """
    config_path = out / "configs" / f"{cfg.method}.yaml"
    config_path.parent.mkdir(exist_ok=True)
    dump_config(cfg, config_path)
    log_path = out / "logs" / f"{cfg.method}.log"
    log_path.parent.mkdir(exist_ok=True)
    env = dict(os.environ)
    # The child must import this very tunesmith, also when it runs from a source tree.
    source = str(Path(tunesmith.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "tunesmith.cli", "train", str(config_path)]
    lines: list[str] = []
    with (
        log_path.open("w", encoding="utf-8") as log,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        ) as child,
    ):
        assert child.stdout is not None
        for line in child.stdout:
            log.write(line)
            console.file.write(line)
            lines.append(line)
    if child.returncode == 0:
        return None
    return _reason(lines, child.returncode)


def run_here(cfg: Config, console: Console) -> str | None:
    """``run_training`` in this process; None when it completed, else the one-line reason."""
    from tunesmith.pipeline import run_training

    try:
        run_training(cfg, console=console)
    except Exception as exc:  # noqa: BLE001 - any failure becomes the method's row
        return failure_of(exc)[1]
    return None


def method_row(name: str, run_dir: Path, reason: str | None, wall_s: float, isolated: bool):
    """One row of the table from the run's metrics.json (or its failure)."""
    row: dict = {"method": name, "run_dir": str(run_dir), "run_wall_s": round(wall_s, 3)}
    if reason is not None:
        return {**row, "status": "failed", "reason": reason}
    metrics = read_metrics(run_dir)
    tuned = metrics.get("tuned") or {}
    row.update(
        status="completed",
        task=metrics.get("task"),
        trainable_params=metrics.get("trainable_params"),
        total_params=metrics.get("total_params"),
        train_runtime_s=metrics.get("train_runtime_s"),
        train_tokens_per_s=metrics.get("train_tokens_per_s"),
        # In one shared process the peak is every earlier method's too: not this method's.
        peak_rss_bytes=metrics.get("peak_rss_bytes") if isolated else None,
        val_loss=metrics.get("final_val_loss"),
    )
    row.update({key: tuned.get(key) for key in headline_metrics(metrics.get("task"))})
    return row


def base_row(base: dict) -> dict:
    """The untouched model's row: its held-out figures, nothing trained."""
    # Its wall time is that of its evaluation: nothing was loaded or trained for it alone.
    row = {"method": "base", "status": "completed", "trainable_params": 0}
    row["run_wall_s"] = base.get("runtime_s")
    return {**row, **{k: v for k, v in base.items() if k in HEADLINES}}


def _read_base(run_dir: Path) -> dict | None:
    """The base figures a run measured (kept in base_metrics.json even if it failed later)."""
    path = run_dir / "base_metrics.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _task(rows: list[dict], base: dict | None) -> str | None:
    """The data's task, from a completed run or else from what the base model was scored on."""
    task = next((r["task"] for r in rows if r.get("task")), None)
    if task is None and base is not None:
        task = "classification" if "accuracy" in base else "text"
    return task


def _reason(lines: list[str], returncode: int) -> str:
    """The child's one-line error, or the last line of its traceback."""
    text = [line.strip() for line in lines if line.strip()]
    errors = [line for line in text if line.startswith("error:")]
    if errors:
        return errors[-1].removeprefix("error:").strip()
    return text[-1] if text else f"exited with status {returncode}"
