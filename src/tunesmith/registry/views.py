"""The registry on the console: a table of runs, one run in full, and two runs side by side.

Numbers are formatted by ``tunesmith.report.table`` so they read the same here as in the
comparison table, the HTML report and the model card.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from tunesmith.registry.rows import RunRow
from tunesmith.report.table import (
    MISSING,
    delta_style,
    display_name,
    format_delta,
    format_value,
)

STATUS_STYLES = {
    "running": "cyan",
    "completed": "green",
    "failed": "red",
    "interrupted": "yellow",
    "diverged": "magenta",
    "pruned": "blue",
}

#: Config keys worth a glance in ``runs show``; the rest is in RUN/config.yaml.
#: Methods whose ``lora.*`` settings matter (cls_head only with train: lora, shown anyway).
LORA_METHODS = ("lora", "dora", "qlora", "cls_head")
CONFIG_HIGHLIGHTS = (
    "model",
    "method",
    "data.train",
    "data.validation",
    "data.test",
    "data.task",
    "train.epochs",
    "train.max_steps",
    "train.batch_size",
    "train.learning_rate",
    "train.max_length",
    "train.seed",
    "lora.r",
    "lora.alpha",
)

#: Training figures from metrics.json compared by ``runs compare``.
TRAINING_FIGURES = ("train_steps", "train_runtime_s", "train_tokens_per_s", "final_train_loss")
_ABSENT = object()  # a config key one run has and the other lacks


def print_runs(rows: list[RunRow], console: Console) -> None:
    """A table of runs, newest first, with each run's headline figure, base and change."""
    # Light borders, and only the names wrap: eleven columns must still read in 80 columns.
    table = Table(title="runs", box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), show_edge=False)
    for column in ("id", "status", "started", "model", "method", "task"):
        table.add_column(
            column,
            no_wrap=column in ("id", "status"),
            justify="right" if column == "id" else "left",
        )
    for column in ("tuned", "base", "delta", "runtime"):
        table.add_column(column, no_wrap=column != "tuned", justify="right")
    table.add_column("run dir", overflow="fold")
    for row in rows:
        before, after = row.base.get(row.headline), row.tuned.get(row.headline)
        tuned = MISSING if after is None else f"{display_name(row.headline)} {_figure(after)}"
        table.add_row(
            str(row.id),
            _status(row.status),
            _when(row.started_at, "%m-%d %H:%M"),
            row.model or MISSING,
            row.method or MISSING,
            row.task or MISSING,
            tuned,
            _figure(before),
            _delta(row.headline, before, after, digits=3),
            _duration(row.train_runtime_s),
            _relative(row.run_dir),
        )
    console.print(table if rows else "no runs recorded yet")


def print_run(row: RunRow, console: Console) -> None:
    """One run in full: how it ended and why, its provenance, figures and config highlights."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    facts.add_row("run", f"{row.id}  {row.run_dir}")
    facts.add_row("status", _status(row.status))
    if row.reason:
        facts.add_row("reason", row.reason)
    facts.add_row("started", _when(row.started_at))
    facts.add_row("finished", _when(row.finished_at))
    facts.add_row("host / pid", f"{row.host} / {row.pid}")
    facts.add_row("tunesmith", row.version)
    facts.add_row("data sha256", row.data_hash or MISSING)
    facts.add_row("model / method / task", f"{row.model} / {row.method} / {row.task}")
    facts.add_row("train runtime", _duration(row.train_runtime_s))
    if row.forced_past:
        problems = "; ".join(f["message"] for f in row.forced_past)
        facts.add_row("forced past", f"{len(row.forced_past)} blocking data problems: {problems}")
    console.print(facts, highlight=False)
    if row.metrics is not None:
        console.print(_headline_table(row))
    settings = flatten(row.config)
    config = Table(title="config highlights", show_header=False)
    for key in CONFIG_HIGHLIGHTS:
        if key in settings and not (key.startswith("lora.") and row.method not in LORA_METHODS):
            config.add_row(key, _show(settings[key]))
    console.print(config)


def print_compare(a: RunRow, b: RunRow, console: Console) -> None:
    """Two runs side by side: the config keys that differ, then their figures and changes."""
    console.print(f"comparing run {a.id} ({a.name}) with run {b.id} ({b.name})", highlight=False)
    differences = config_differences(a.config, b.config)
    if a.data_hash != b.data_hash:
        differences.insert(0, ("(data sha256)", _short(a.data_hash), _short(b.data_hash)))
    if differences:
        table = Table(title="config differences")
        for column in ("key", f"run {a.id}", f"run {b.id}"):
            table.add_column(column, overflow="fold")
        for key, left, right in differences:
            table.add_row(key, _show(left), _show(right))
        console.print(table)
    else:
        console.print("same config and data")
    table = Table(title="figures")
    table.add_column("figure")
    for column in (f"run {a.id}", f"run {b.id}", "change"):
        table.add_column(column, justify="right")
    for label, name, left, right in _figures(a, b):
        table.add_row(label, format_value(left), format_value(right), _delta(name, left, right))
    console.print(table)


def config_differences(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(dotted key, value in a, value in b) for every key whose values differ, sorted by key."""
    left, right = flatten(a), flatten(b)
    keys = sorted(set(left) | set(right))
    pairs = [(key, left.get(key, _ABSENT), right.get(key, _ABSENT)) for key in keys]
    return [(key, x, y) for key, x, y in pairs if x != y]


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one dict with dotted keys ({"train": {"seed": 0}} -> {"train.seed": 0})."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _headline_table(row: RunRow) -> Table:
    table = Table(title="base vs tuned")
    table.add_column("metric")
    for column in ("base", "tuned", "delta"):
        table.add_column(column, justify="right")
    names = ("f1_macro", "accuracy") if row.task == "classification" else ("loss", "perplexity")
    for name in names:
        before, after = row.base.get(name), row.tuned.get(name)
        table.add_row(
            display_name(name), format_value(before), format_value(after),
            _delta(name, before, after),
        )  # fmt: skip
    return table


def _figures(a: RunRow, b: RunRow) -> list[tuple[str, str, float | None, float | None]]:
    """(label, metric key, a's value, b's value) for the figures either run has."""
    figures = []
    for side, values_a, values_b in (("tuned", a.tuned, b.tuned), ("base", a.base, b.base)):
        for name in values_a:
            figures.append((f"{side} {display_name(name)}", name, values_a[name], values_b[name]))
    metrics_a, metrics_b = a.metrics or {}, b.metrics or {}
    for name in TRAINING_FIGURES:
        figures.append((name, name, _number(metrics_a.get(name)), _number(metrics_b.get(name))))
    return [figure for figure in figures if figure[2] is not None or figure[3] is not None]


def _figure(value: float | None) -> str:
    """Three decimals in the runs table, as in the report's verdict line: room for more columns."""
    return format_value(value, 3)


def _delta(name: str, before: float | None, after: float | None, digits: int = 4) -> str:
    """``after - before`` with a sign, green when better for metric ``name`` and red when worse."""
    if before is None or after is None or math.isnan(after - before):  # inf - inf says nothing
        return MISSING
    change = after - before
    style = delta_style(name, change)
    shown = format_delta(change, digits)
    return f"[{style}]{shown}[/]" if style else shown


def _status(status: str) -> str:
    style = STATUS_STYLES.get(status, "")
    return f"[{style}]{status}[/]" if style else status


def _when(timestamp: float | None, layout: str = "%Y-%m-%d %H:%M") -> str:
    """Local time to the minute; runs are told apart by id, not by the second."""
    if timestamp is None:
        return MISSING
    return time.strftime(layout, time.localtime(timestamp))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _relative(run_dir: str) -> str:
    """``run_dir`` relative to the working directory when inside it (the path people typed)."""
    path = Path(run_dir)
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else run_dir


def _short(data_hash: str | None) -> str:
    return data_hash[:12] if data_hash else MISSING


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
