"""The data check at the start of ``tunesmith train``: ``data inspect``'s checks, before any model.

Blocking findings stop the run (one line each, with the fix) before the run directory exists;
``--force`` trains past them and the run records which ones (run.json, the registry). Warnings
and the repairs made while reading are printed and recorded, and training goes on.

Lengths are counted in words, not tokens: a tokenizer can mean a model download, which the
check must never wait for. Training reports its own token truncation (``train_truncated`` in
metrics.json), and ``tunesmith data inspect --model`` counts tokens when asked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rich.console import Console

from tunesmith.config import Config
from tunesmith.data.inspect import inspect_files
from tunesmith.errors import TunesmithError


@dataclass
class DataCheck:
    """What the check found: repairs per file, warnings, and blocking findings forced past."""

    repairs: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[dict] = field(default_factory=list)
    forced_past: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-ready, for run.json."""
        return asdict(self)


def check_data(cfg: Config, force: bool, console: Console) -> DataCheck:
    """Inspect the configured train/validation/test files; raise on blocking findings.

    A file that can't be read at all raises its own one-line error (no --force gets past it).
    """
    files = [name for name in (cfg.data.train, cfg.data.validation, cfg.data.test) if name]
    if not cfg.data.train:
        return DataCheck()  # make_splits explains what to set
    report = inspect_files(files, cfg.data, tokenizer=None, max_length=cfg.train.max_length)
    check = DataCheck(
        repairs={f["file"]: f["repairs"] for f in report["files"] if f["repairs"]},
        warnings=[f for f in report["findings"] if f["level"] == "warning"],
    )
    for file, notes in check.repairs.items():
        for note in notes:
            console.print(f"[cyan]repaired[/] {file}: {note}", highlight=False, soft_wrap=True)
    for finding in check.warnings:
        console.print(f"[yellow]warning:[/] {_line(finding)}", highlight=False, soft_wrap=True)
    blocking = [f for f in report["findings"] if f["level"] == "error"]
    if not blocking:
        return check
    if not force:
        for finding in blocking:
            console.print(f"[bold red]error:[/] {_line(finding)}", highlight=False, soft_wrap=True)
        raise TunesmithError(
            f"data check: {len(blocking)} blocking problem{'s' if len(blocking) > 1 else ''} in "
            f"{', '.join(files)}; fix the data (see above, or `tunesmith data inspect`), "
            "or pass --force to train anyway (the run records it)"
        )
    console.print(
        f"[yellow]--force:[/] training despite {len(blocking)} blocking data problem(s); "
        "unusable rows are skipped, and the run records what it was forced past",
        highlight=False,
    )
    check.forced_past = blocking
    return check


def _line(finding: dict) -> str:
    """A finding and its fix on one line."""
    return f"{finding['message']}; fix: {finding['fix']}"
