"""``report.html`` of a study: progress, the best trial, Optuna's charts, every trial.

The charts come from ``optuna.visualization.matplotlib`` (plotly isn't needed) and are embedded as
PNGs like the run report's, so the page is one self-contained file.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from html import escape
from pathlib import Path

import optuna
from optuna.trial import TrialState

from tunesmith.report.html import PAGE_CSS, Cell, embedded_png, html_table

#: (title, Optuna plotting function, what the chart shows) in page order.
CHARTS: list[tuple[str, str, str]] = [
    ("Optimization history", "plot_optimization_history", "The objective of each trial."),
    (
        "Parameter importances",
        "plot_param_importances",
        "How much of the objective's variation each parameter explains (fANOVA).",
    ),
    (
        "Parallel coordinates",
        "plot_parallel_coordinate",
        "Each completed trial as a line through its parameter values, coloured by objective.",
    ),
    ("Slices", "plot_slice", "The objective against each parameter on its own."),
    (
        "Validation during training",
        "plot_intermediate_values",
        "The validation loss each trial reported (negated when maximising); pruned trials stop.",
    ),
]


def write_study_report(study: optuna.Study, out: Path, files: dict[str, Path | None]) -> Path:
    """Write ``out/report.html`` for ``study``; ``files`` names best.yaml and trials.csv."""
    sections = [
        _header(study),
        _best_section(study, files),
        *(_chart(study, *chart) for chart in CHARTS),
        _trials_section(study),
    ]
    title = f"tunesmith study: {study.study_name}"
    page = (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{PAGE_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def chart_png(study: optuna.Study, function: str) -> bytes:
    """One Optuna matplotlib chart of ``study`` as PNG bytes (raises when it can't be drawn)."""
    import matplotlib.pyplot as plt  # Optuna draws through pyplot; each figure is closed here
    import optuna.visualization.matplotlib as charts

    plot: Callable = getattr(charts, function)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "experimental" notes on every chart function
        axes = plot(study)
    first = axes.flatten()[0] if hasattr(axes, "flatten") else axes
    figure = first.figure
    try:
        buffer = io.BytesIO()
        # bbox "tight", not a layout engine: the constrained one fails on parallel coordinates.
        figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        return buffer.getvalue()
    finally:
        plt.close(figure)


def _header(study: optuna.Study) -> str:
    attrs = study.user_attrs
    facts = [
        f"{attrs.get('search', '?')} search",
        f"{attrs.get('metric', 'objective')} on the validation split, "
        f"{study.direction.name.lower()}d",
        f"{len(study.trials)} trials",
    ]
    return (
        f"<h1>tunesmith study: {escape(study.study_name)}</h1>\n"
        f'<p class="meta">{escape(" · ".join(facts))}</p>'
    )


def _best_section(study: optuna.Study, files: dict[str, Path | None]) -> str:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    states: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
    counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    if not complete:
        return f'<p class="verdict">No trial completed ({escape(counts)}).</p>'
    best = study.best_trial
    metric = study.user_attrs.get("metric", "objective")
    rows: list[list[Cell]] = [[key, str(value)] for key, value in best.params.items()]
    links = ", ".join(f"{name}: {path.name}" for name, path in files.items() if path)
    run_dir = str(best.user_attrs.get("run_dir", "?"))
    return (
        f'<p class="verdict">Best: trial {best.number}, validation {escape(metric)} '
        f"{best.value:.4g} ({escape(counts)}).</p>\n"
        f"<p>Run: {escape(run_dir)}; {escape(links)}</p>\n"
        + html_table(["parameter", "best value"], rows)
    )


def _chart(study: optuna.Study, title: str, function: str, caption: str) -> str:
    try:
        body = embedded_png(chart_png(study, function), title)
    except Exception as exc:  # noqa: BLE001 - a chart that can't be drawn yet says why instead
        reason = " ".join(str(exc).split()) or type(exc).__name__
        body = f"<p>Not drawn from these trials ({escape(reason)}).</p>"
    return f"<h2>{escape(title)}</h2>\n<p>{escape(caption)}</p>\n{body}"


def _trials_section(study: optuna.Study) -> str:
    trials = study.get_trials(deepcopy=False)
    keys = sorted({key for t in trials for key in t.params})
    rows: list[list[Cell]] = []
    for t in trials:
        duration = t.duration.total_seconds() if t.duration is not None else None
        rows.append(
            [
                str(t.number),
                t.state.name.lower(),
                "-" if t.state != TrialState.COMPLETE else f"{t.value:.4g}",
                "-" if duration is None else f"{duration:.0f} s",
                *(str(t.params.get(key, "-")) for key in keys),
                str(t.user_attrs.get("reason") or ""),
            ]
        )
    headers = ["trial", "state", "objective", "time", *keys, "reason"]
    return "<h2>Trials</h2>\n" + html_table(headers, rows)
