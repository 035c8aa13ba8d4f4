"""One registry row as Python data, and the headline figures a finished run stores in columns."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The figures kept in their own columns, so ``runs list`` needs no JSON parsing per row.
HEADLINE_KEYS = ("f1_macro", "accuracy", "loss", "perplexity")


@dataclass(frozen=True)
class RunRow:
    """A recorded run: where, when, how it ended, and what it measured.

    Times are seconds since the epoch; ``metrics`` is metrics.json as written (None until the run
    completes); ``tuned``/``base`` hold the headline figures (None where not measured);
    ``forced_past`` lists the blocking data findings ``train --force`` trained past.
    """

    id: int
    run_dir: str
    status: str
    reason: str | None
    started_at: float
    finished_at: float | None
    host: str
    pid: int
    version: str
    config: dict[str, Any]
    data_hash: str | None
    metrics: dict[str, Any] | None
    task: str | None
    method: str | None
    model: str | None
    tuned: dict[str, float | None]
    base: dict[str, float | None]
    train_runtime_s: float | None
    forced_past: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The run directory's last component, the short name people type."""
        return Path(self.run_dir).name

    @property
    def headline(self) -> str:
        """The metric that sums the run up: macro-F1 for classification, else perplexity."""
        return "f1_macro" if self.task == "classification" else "perplexity"

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> RunRow:
        """Build from a ``SELECT * FROM runs`` row."""
        return cls(
            id=row["id"],
            run_dir=row["run_dir"],
            status=row["status"],
            reason=row["reason"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            host=row["host"],
            pid=row["pid"],
            version=row["version"],
            config=json.loads(row["config"]),
            data_hash=row["data_hash"],
            metrics=json.loads(row["metrics"]) if row["metrics"] else None,
            task=row["task"],
            method=row["method"],
            model=row["model"],
            tuned={key: row[f"tuned_{key}"] for key in HEADLINE_KEYS},
            base={key: row[f"base_{key}"] for key in HEADLINE_KEYS},
            train_runtime_s=row["train_runtime_s"],
            forced_past=json.loads(row["forced_past"]) if row["forced_past"] else [],
        )


def headline_columns(metrics: dict[str, Any]) -> dict[str, Any]:
    """Column name -> value for the figures of a finished run's metrics.json."""
    columns: dict[str, Any] = {"train_runtime_s": _number(metrics.get("train_runtime_s"))}
    # Keep what start() took from the config when metrics.json lacks a field, rather than blank it.
    columns.update({key: metrics[key] for key in ("task", "method", "model") if metrics.get(key)})
    for side in ("tuned", "base"):
        section = metrics.get(side) or {}
        for key in HEADLINE_KEYS:
            columns[f"{side}_{key}"] = _number(section.get(key))
    return columns


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
