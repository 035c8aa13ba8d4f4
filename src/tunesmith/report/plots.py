"""PNG charts for the HTML reports: loss curve, confusion matrices, data-inspection charts.

Figures are built with ``matplotlib.figure.Figure`` rather than ``pyplot``: no global
backend switch, no figure registry to leak into, and it works on machines without a display.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure

_TICK_CHARS = 18


def loss_curve_png(log_rows: list[dict]) -> bytes | None:
    """Training loss vs optimizer step, with validation-loss points; None if nothing to plot."""
    train = [(r["step"], r["loss"]) for r in log_rows if _has(r, "step", "loss")]
    val = [(r["step"], r["val_loss"]) for r in log_rows if _has(r, "step", "val_loss")]
    if not train and not val:
        return None
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    if train:
        ax.plot([s for s, _ in train], [v for _, v in train], label="training loss")
    if val:
        ax.plot([s for s, _ in val], [v for _, v in val], "o--", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats / token)")
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(fig)


def confusion_png(matrix: list[list[int]], labels: list[str], title: str) -> bytes:
    """A confusion-matrix heat map (rows = true, columns = predicted) with counts in the cells."""
    size = max(4.5, 0.5 * len(labels) + 2.5)
    fig = Figure(figsize=(size, size), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(matrix, cmap="Blues", vmin=0)
    _annotate_counts(ax, matrix)
    ticks = list(range(len(labels)))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    # parse_math=False: a label such as "$5 off" must show literally, not as TeX.
    short = [_shorten(str(label)) for label in labels]
    ax.set_xticklabels(short, rotation=45, ha="right", parse_math=False)
    ax.set_yticklabels(short, parse_math=False)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, parse_math=False)
    return _png(fig)


def length_histogram_png(histogram: dict, max_length: int, unit: str) -> bytes:
    """Example lengths as a bar histogram, with a dashed line where max_length cuts."""
    width, counts = histogram["bin_width"], histogram["counts"]
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    ax = fig.add_subplot()
    ax.bar([i * width for i in range(len(counts))], counts, width=width, align="edge")
    ax.axvline(max_length, color="#c62828", linestyle="--", label=f"max_length = {max_length}")
    ax.set_xlabel(f"length ({unit})")
    ax.set_ylabel("examples")
    ax.legend()
    return _png(fig)


def label_balance_png(counts: dict[str, int], shown: int = 40) -> bytes:
    """Rows per label, most common first (at most ``shown`` bars: the rest are in the table)."""
    items = list(counts.items())[:shown]
    fig = Figure(figsize=(6.4, max(2.5, 0.25 * len(items) + 1)), layout="constrained")
    ax = fig.add_subplot()
    ax.barh(range(len(items)), [n for _, n in items])
    ax.set_yticks(range(len(items)))
    # repr: a label's stray spaces ("positive ") are the very thing to see.
    ax.set_yticklabels([_shorten(repr(label)) for label, _ in items], parse_math=False)
    ax.invert_yaxis()
    ax.set_xlabel("rows")
    return _png(fig)


def method_bars_png(
    names: list[str], scores: list[float | None], score_name: str, seconds: list[float | None]
) -> bytes:
    """Side-by-side bars per method: its headline score and its training time (None = no bar)."""
    fig = Figure(figsize=(9.0, max(2.5, 0.45 * len(names) + 1.2)), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    ticks = list(range(len(names)))
    for ax, values, label in ((left, scores, score_name), (right, seconds, "training time (s)")):
        # The base model's bar in grey: the reference the methods are read against.
        colours = ["#9e9e9e" if n == "base" else "#4a7bd0" for n in names]
        ax.barh(ticks, [v or 0.0 for v in values], color=colours)
        for i, value in enumerate(values):
            text = "-" if value is None else f"{value:.3g}"
            ax.text(value or 0.0, i, f" {text}", va="center")
        ax.set_xlim(0, 1.2 * max((v for v in values if v), default=1.0))
        ax.set_xlabel(label, parse_math=False)
        ax.grid(axis="x", alpha=0.3)
    left.set_yticks(ticks)
    left.set_yticklabels([_shorten(n) for n in names], parse_math=False)
    left.invert_yaxis()
    return _png(fig)


def _annotate_counts(ax, matrix: list[list[int]]) -> None:
    peak = max((n for row in matrix for n in row), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            # White text on the dark cells keeps the count readable.
            colour = "white" if peak and count > peak / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=colour)


def _shorten(label: str, limit: int = _TICK_CHARS) -> str:
    # Long labels would squeeze the matrix to nothing; the full names are in the per-class table.
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


def _has(row: dict, *keys: str) -> bool:
    return all(isinstance(row.get(k), (int, float)) for k in keys)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
