"""``report.html``: one self-contained page explaining a finished run.

Run by ``tunesmith train`` at the end of a run, or again with ``tunesmith report RUN_DIR``.
The page has no external assets (charts are inline base64 PNGs), so it can be mailed or
archived as one file. Every string that came from the user's data or config is escaped.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from tunesmith.evaluate.metrics import comparison_rows, is_improvement
from tunesmith.report.plots import confusion_png, loss_curve_png
from tunesmith.report.run_files import read_config_text, read_metrics, read_train_log
from tunesmith.report.table import display_name, format_delta, format_value, verdict

PAGE_CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; }
h1 { margin-bottom: .2rem; } .meta { color: #666; margin-top: 0; }
.verdict { font-size: 1.2rem; font-weight: 600; padding: .6rem .8rem; background: #f3f6fa;
           border-left: 4px solid #4a7bd0; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .8rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.better { color: #1a7f37; font-weight: 600; } .worse { color: #c62828; font-weight: 600; }
.side-by-side { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
img { max-width: 100%; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; }
"""

# A table cell: its text, or (text, css class).
Cell = str | tuple[str, str]


def write_report(run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` from the run's metrics, training log and config."""
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    sections = [
        _header(metrics, run_dir),
        f'<p class="verdict">{escape(verdict(metrics))}</p>',
        _comparison_section(metrics),
        _loss_section(read_train_log(run_dir)),
        _diagnosis_section(metrics),
        _classification_sections(metrics),
        _training_section(metrics),
        _config_section(read_config_text(run_dir)),
    ]
    title = f"tunesmith report: {run_dir.name}"
    page = (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{PAGE_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(s for s in sections if s)
        + "\n</body>\n</html>\n"
    )
    path = run_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def _header(metrics: dict, run_dir: Path) -> str:
    facts = [
        f"model {metrics.get('model', '?')}",
        f"method {metrics.get('method', '?')}",
        f"task {metrics.get('task', '?')}",
    ]
    if metrics.get("eval_examples") is not None:
        split = metrics.get("eval_split", "held-out")
        facts.append(f"scored on {metrics['eval_examples']} {split} examples")
    return (
        f"<h1>tunesmith report: {escape(run_dir.name)}</h1>\n"
        f'<p class="meta">{escape(" · ".join(str(f) for f in facts))}</p>'
    )


def _comparison_section(metrics: dict) -> str:
    rows: list[list[Cell]] = []
    for name, before, after, delta in comparison_rows(metrics):
        better = is_improvement(name, delta)
        css = "" if better is None else ("better" if better else "worse")
        rows.append(
            [
                display_name(name),
                format_value(before),
                format_value(after),
                (format_delta(delta), css),
            ]
        )
    return "<h2>Base vs tuned</h2>\n" + html_table(["metric", "base", "tuned", "delta"], rows)


def _loss_section(log_rows: list[dict]) -> str:
    png = loss_curve_png(log_rows)
    body = (
        embedded_png(png, "training loss curve") if png else "<p>No training log was recorded.</p>"
    )
    return "<h2>Training loss</h2>\n" + body


def _diagnosis_section(metrics: dict) -> str:
    """The plain-language verdict on the training curves (overfitting, instability, ...)."""
    diagnosis = metrics.get("diagnosis") or {}
    if not diagnosis.get("message"):
        return ""
    status = escape(str(diagnosis.get("status", "")))
    return f"<h2>Diagnosis: {status}</h2>\n<p>{escape(diagnosis['message'])}</p>"


def _classification_sections(metrics: dict) -> str:
    """Confusion matrices and the per-class table; empty for non-classification runs."""
    if metrics.get("task") != "classification":
        return ""
    images = []
    for key in ("base", "tuned"):
        section = metrics.get(key)
        if section and section.get("confusion_matrix") is not None:
            labels = section.get("labels") or metrics.get("labels") or []
            png = confusion_png(section["confusion_matrix"], labels, f"{key} model")
            images.append(embedded_png(png, f"confusion matrix of the {key} model"))
    matrices = (
        "<h2>Confusion matrices</h2>\n<p>Rows are the true label, columns the prediction.</p>\n"
        f'<div class="side-by-side">{"".join(images)}</div>'
    )
    return matrices + "\n" + _per_class_section(metrics)


def _per_class_section(metrics: dict) -> str:
    tuned = (metrics.get("tuned") or {}).get("per_class") or {}
    base = (metrics.get("base") or {}).get("per_class") or {}
    headers = ["label", "support", "precision", "recall", "F1"]
    if base:
        headers.append("base F1")
    rows: list[list[Cell]] = []
    for label, scores in tuned.items():
        row: list[Cell] = [
            str(label),
            str(scores.get("support", "")),
            *(format_value(scores.get(k)) for k in ("precision", "recall", "f1")),
        ]
        if base:
            row.append(format_value((base.get(label) or {}).get("f1")))
        rows.append(row)
    return "<h2>Per class (tuned model)</h2>\n" + html_table(headers, rows)


def _training_section(metrics: dict) -> str:
    rss = metrics.get("peak_rss_bytes")
    rss_mib = rss / 2**20 if isinstance(rss, (int, float)) else None
    trainable, total = metrics.get("trainable_params"), metrics.get("total_params")
    share = f" of {total:,} ({100 * trainable / total:.2f}%)" if trainable and total else ""
    rows: list[list[Cell]] = [
        ["training tokens", _count(metrics.get("train_tokens"))],
        ["runtime", _maybe(metrics.get("train_runtime_s"), "{:.1f} s")],
        ["throughput", _maybe(metrics.get("train_tokens_per_s"), "{:,.0f} tokens/s")],
        ["peak memory (RSS)", _maybe(rss_mib, "{:,.0f} MiB")],
        ["trainable parameters", _count(trainable) + share],
    ]
    return "<h2>Training</h2>\n" + html_table(["", "value"], rows)


def _config_section(config_text: str | None) -> str:
    if config_text is None:
        return "<h2>Config</h2>\n<p>No config.yaml in the run directory.</p>"
    return f"<h2>Config</h2>\n<pre>{escape(config_text)}</pre>"


def html_table(headers: list[str], rows: list[list[Cell]]) -> str:
    """An HTML table; every cell is escaped."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>\n" for row in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}</table>"


def _cell(cell: Cell) -> str:
    text, css = cell if isinstance(cell, tuple) else (cell, "")
    attr = f' class="{css}"' if css else ""
    return f"<td{attr}>{escape(text)}</td>"


def embedded_png(png: bytes, alt: str) -> str:
    """An <img> holding ``png`` inline, so the page needs no other file."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def _count(value) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def _maybe(value, template: str) -> str:
    return template.format(value) if isinstance(value, (int, float)) else "-"
