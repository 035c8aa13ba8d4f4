"""The base-vs-tuned comparison as a console table and a one-line verdict.

The formatting helpers here are shared by the HTML report and the model card so that the
three views of a run always show the same numbers the same way.
"""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from tunesmith.evaluate.metrics import comparison_rows, is_improvement

#: How each headline metric is named for people.
DISPLAY_NAMES = {
    "accuracy": "accuracy",
    "precision_macro": "macro-precision",
    "recall_macro": "macro-recall",
    "f1_macro": "macro-F1",
    "loss": "loss",
    "perplexity": "perplexity",
}

MISSING = "-"


def display_name(name: str) -> str:
    """The human name of metric key ``name`` (``f1_macro`` -> ``macro-F1``)."""
    return DISPLAY_NAMES.get(name, name)


def format_value(value: float | None, digits: int = 4) -> str:
    """A metric value with ``digits`` decimals; ``-`` when missing."""
    if value is None:
        return MISSING
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def format_delta(delta: float | None, digits: int = 4) -> str:
    """A change with an explicit sign (``+0.4710``, ``-3.2000``); ``-`` when missing."""
    if delta is None:
        return MISSING
    if math.isinf(delta):
        return "+inf" if delta > 0 else "-inf"
    return f"{delta:+.{digits}f}"


def delta_style(name: str, delta: float | None) -> str:
    """Rich colour for a change: green when the tuned model is better, red when worse."""
    better = is_improvement(name, delta)
    if better is None:
        return ""
    return "green" if better else "red"


def verdict(metrics: dict) -> str:
    """One plain-language sentence saying whether fine-tuning helped, with the key number.

    Classification runs are judged on macro-F1, other tasks on perplexity (lower is better).
    """
    key = "f1_macro" if metrics.get("task") == "classification" else "perplexity"
    row = next(r for r in comparison_rows(metrics) if r[0] == key)
    _, before, after, delta = row
    name = display_name(key)
    if after is None:
        return "No evaluation results for the tuned model."
    if before is None:
        return f"Tuned model: {name} {format_value(after, 3)} (base model not evaluated)."
    helped = is_improvement(key, delta) is True
    opening = "Fine-tuning helped" if helped else "Fine-tuning did not help"
    change = f"{format_value(before, 3)} -> {format_value(after, 3)}"
    if delta is not None:
        change += f" ({format_delta(delta, 3)})"
    return f"{opening}: {name} {change}."


def print_comparison(metrics: dict, console: Console | None = None) -> None:
    """Print the base-vs-tuned table of headline metrics, then the verdict."""
    console = console or Console()
    table = Table(title="base vs tuned")
    table.add_column("metric")
    for column in ("base", "tuned", "delta"):
        table.add_column(column, justify="right")
    for name, before, after, delta in comparison_rows(metrics):
        style = delta_style(name, delta)
        shown_delta = f"[{style}]{format_delta(delta)}[/]" if style else format_delta(delta)
        table.add_row(display_name(name), format_value(before), format_value(after), shown_delta)
    console.print(table)
    console.print(verdict(metrics), markup=False, highlight=False)
