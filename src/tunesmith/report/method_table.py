"""The table of ``tunesmith compare``: in the console (rich) and as ``compare.html``.

One row per method plus the base model's row; a failed method shows its reason instead of
figures. Column values come from ``compare.json`` rows, unchanged.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from rich import box
from rich.console import Console
from rich.markup import escape as escape_markup
from rich.table import Table

from tunesmith.evaluate.metrics import headline_metrics
from tunesmith.report.html import PAGE_CSS, Cell, embedded_png, html_table
from tunesmith.report.plots import method_bars_png
from tunesmith.report.table import MISSING, display_name, format_value

#: Short headings for the console, where eleven columns share 80 characters.
SHORT = {
    "trainable_params": "trainable",
    "train_runtime_s": "train s",
    "run_wall_s": "wall s",
    "train_tokens_per_s": "tok/s",
    "peak_rss_bytes": "peak MiB",
    "val_loss": "val loss",
    "accuracy": "acc",
    "precision_macro": "prec",
    "recall_macro": "recall",
    "f1_macro": "macro-F1",
    "perplexity": "ppl",
}


def columns(task: str | None) -> list[tuple[str, str]]:
    """(row key, heading) of every column, the task's headline metrics last."""
    fixed = [
        ("method", "method"),
        ("status", "status"),
        ("trainable_params", "trainable params"),
        ("train_runtime_s", "train time (s)"),
        ("run_wall_s", "run wall time (s)"),
        ("train_tokens_per_s", "tokens/s"),
        ("peak_rss_bytes", "peak memory (MiB)"),
        ("val_loss", "val loss"),
    ]
    return fixed + [(key, display_name(key)) for key in headline_metrics(task)]


def cell(key: str, row: dict, digits: int = 4) -> str:
    """One value as shown: counts with separators, seconds, MiB, metrics to ``digits``."""
    value = row.get(key)
    if value is None:
        return MISSING
    if key == "trainable_params":
        return f"{value:,}"
    if key in ("train_runtime_s", "run_wall_s"):
        return f"{value:.1f}"
    if key in ("train_tokens_per_s", "peak_rss_bytes"):
        return f"{value / (2**20 if key == 'peak_rss_bytes' else 1):,.0f}"
    if isinstance(value, float):
        return format_value(value, digits)
    return str(value)


def print_method_table(result: dict, console: Console | None = None) -> None:
    """Print the comparison table, why each failed method failed, and the total wall time."""
    console = console or Console()
    table = Table(title="methods compared on the held-out split", box=box.SIMPLE_HEAD)
    heads = columns(result.get("task"))
    for i, (key, _) in enumerate(heads):
        table.add_column(SHORT.get(key, key), justify="left" if i < 2 else "right")
    for row in result["rows"]:
        style = "red" if row.get("status") == "failed" else ""
        shown = {**row, "status": "ok" if row.get("status") == "completed" else row.get("status")}
        table.add_row(*(escape_markup(cell(key, shown, 3)) for key, _ in heads), style=style)
    # A terminal gets its own width; a log file or pipe gets room for every column unsquashed.
    wide = console if console.is_terminal else Console(file=console.file, width=132)
    wide.print(table)
    for row in result["rows"]:
        if row.get("status") == "failed":
            console.print(f"{row['method']} failed: {row.get('reason')}", markup=False)
    console.print(f"total wall time {result['total_wall_s']:.1f} s", highlight=False)


def write_compare_html(result: dict, path: Path) -> Path:
    """Write ``compare.html``: the table and bars of the headline score and training time."""
    heads = columns(result.get("task"))
    rows: list[list[Cell]] = [[_html_cell(key, row) for key, _ in heads] for row in result["rows"]]
    score = "f1_macro" if result.get("task") == "classification" else "perplexity"
    png = method_bars_png(
        [row["method"] for row in result["rows"]],
        [row.get(score) for row in result["rows"]],
        display_name(score),
        [row.get("train_runtime_s") for row in result["rows"]],
    )
    peak = "own process" if result.get("isolated") else "not measured (one shared process)"
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>tunesmith compare</title>\n<style>{PAGE_CSS}</style>\n</head>\n<body>\n"
        f'<h1>tunesmith compare</h1>\n<p class="meta">{escape(", ".join(result["methods"]))}'
        f" · total wall time {result['total_wall_s']:.1f} s · peak memory: {peak}</p>\n"
        + html_table([heading for _, heading in heads], rows)
        + "\n"
        + embedded_png(png, f"{display_name(score)} and training time per method")
        + "\n</body>\n</html>\n"
    )
    path.write_text(page, encoding="utf-8")
    return path


def _html_cell(key: str, row: dict) -> str:
    if key == "status" and row.get("status") == "failed":
        return f"failed: {row.get('reason', '')}"
    return cell(key, row)
