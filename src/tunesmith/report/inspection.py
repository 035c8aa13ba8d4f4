"""Show a data-inspection report: rich tables in the terminal, inspect.json and inspect.html.

The HTML page is self-contained (charts are inline base64 PNGs) and escapes every string that
came from the data, like ``report.html``.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tunesmith.report.html import PAGE_CSS, embedded_png, html_table
from tunesmith.report.plots import label_balance_png, length_histogram_png

_STYLE = {"ok": "bold green", "warnings": "bold yellow", "errors": "bold red"}
_LEVEL = {"error": "red", "warning": "yellow"}


def write_inspection(report: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write ``out_dir/inspect.json`` and ``out_dir/inspect.html``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / "inspect.json", out_dir / "inspect.html"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    html_path.write_text(_page(report), encoding="utf-8")
    return json_path, html_path


def print_inspection(report: dict, console: Console) -> None:
    """Per-file summary table, label counts, then the verdict and each finding with its fix."""
    console.print(_summary_table(report))
    for file in report["files"]:
        for note in file.get("repairs") or []:
            line = f"[cyan]repaired[/] {file['file']}: {note}"
            console.print(line, highlight=False, soft_wrap=True)
    for file in report["files"]:
        if file.get("labels"):
            console.print(_labels_table(file))
    style = _STYLE[report["verdict"]]
    console.print(f"verdict: [{style}]{report['verdict']}[/]")
    for f in report["findings"]:
        colour = _LEVEL[f["level"]]
        console.print(f"[{colour}]{f['level']}[/] {f['message']}", highlight=False)
        console.print(f"  fix: {f['fix']}", highlight=False)


def _summary_rows(file: dict) -> list[tuple[str, str]]:
    """(what, value) lines of one file's summary, shared by terminal and HTML."""
    lengths, enc = file["lengths"], file["encoding"]
    encoding = sum(v["count"] for k, v in enc.items() if k != "mixed_line_endings")
    return [
        ("format / task", f"{file['format']} / {file['task']}"),
        ("repaired on reading", "; ".join(file.get("repairs") or []) or "nothing"),
        ("rows (usable)", f"{file['rows']:,} ({file['examples']:,})"),
        ("fields", ", ".join(file["fields"])),
        ("missing or empty", str(sum(m["missing"] + m["empty"] for m in file["missing"].values()))),
        ("exact duplicates", str(file["exact_duplicates"]["count"])),
        ("near duplicates", str(file["near_duplicates"]["count"])),
        (
            "encoding problems",
            str(encoding) + (" + mixed line endings" if enc["mixed_line_endings"]["mixed"] else ""),
        ),
        (
            f"length ({lengths['unit']})",
            f"min {lengths['min']} · p50 {lengths['p50']} · p90 {lengths['p90']} · "
            f"p99 {lengths['p99']} · max {lengths['max']}",
        ),
        (f"over max_length {lengths['max_length']}", str(lengths["truncated"])),
        ("empty / short / long", " / ".join(str(g["count"]) for g in file["outliers"].values())),
        ("distinct 2-grams", f"{file['distinct_2']:.0%}"),
        *(
            [("leaked from earlier (exact / near)", _leak(file["leakage"]))]
            if "leakage" in file
            else []
        ),
    ]


def _leak(leakage: dict) -> str:
    return f"{leakage['exact']['count']} / {leakage['near']['count']}"


def _summary_table(report: dict) -> Table:
    table = Table(title=f"data inspection ({report['task']})")
    table.add_column("check")
    for file in report["files"]:
        table.add_column(Path(file["file"]).name, overflow="fold")
    columns = [_summary_rows(file) for file in report["files"]]
    for i, (name, _) in enumerate(columns[0]):
        table.add_row(name, *(col[i][1] if i < len(col) else "" for col in columns))
    return table


def _labels_table(file: dict) -> Table:
    table = Table(title=f"labels of {Path(file['file']).name}")
    table.add_column("label")
    table.add_column("rows", justify="right")
    rare = set(file["labels"]["rare"])
    for label, count in list(file["labels"]["counts"].items())[:30]:
        table.add_row(repr(label), f"{count:,}" + (" (rare)" if label in rare else ""))
    return table


def _page(report: dict) -> str:
    verdict = report["verdict"]
    sections = [
        f"<h1>Data inspection: {escape(Path(report['files'][0]['file']).name)}</h1>",
        f'<p class="verdict">Verdict: {escape(verdict)}</p>',
        _findings_section(report["findings"]),
    ]
    for file in report["files"]:
        sections.append(_file_section(file))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>tunesmith data inspection</title>\n<style>{PAGE_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )


def _findings_section(findings: list[dict]) -> str:
    if not findings:
        return "<p>No problems found.</p>"
    rows = [[f["level"], f["message"], f["fix"]] for f in findings]
    return "<h2>Findings</h2>\n" + html_table(["level", "finding", "fix"], rows)


def _file_section(file: dict) -> str:
    name = Path(file["file"]).name
    lengths = file["lengths"]
    parts = [
        f"<h2>{escape(name)}</h2>",
        html_table(["", "value"], [list(row) for row in _summary_rows(file)]),
        embedded_png(
            length_histogram_png(lengths["histogram"], lengths["max_length"], lengths["unit"]),
            f"length histogram of {name}",
        ),
    ]
    if file.get("labels"):
        parts.append(embedded_png(label_balance_png(file["labels"]["counts"]), f"labels of {name}"))
    return "\n".join(parts)
