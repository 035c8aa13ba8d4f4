"""The run registry: one SQLite row per training run, from start to its end (or its crash).

A row is written when a run starts (status "running") and updated when it completes, fails,
is interrupted or diverges. A run killed outright (kill -9, out of memory, power cut) cannot
update its row, so reads first mark "running" rows whose process is gone as failed.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from tunesmith import __version__
from tunesmith.errors import TunesmithError
from tunesmith.models.resolve import tunesmith_home
from tunesmith.registry.rows import RunRow, headline_columns
from tunesmith.registry.schema import connect

#: The ways a run can end without completing ("pruned": a tuner stopped a poor trial early).
FAILURE_STATUSES = ("failed", "interrupted", "diverged", "pruned")
STALE_REASON = "process ended without finishing (killed?)"
_HASH_BLOCK = 1 << 20  # 1 MiB: hash multi-GB data files in constant memory


class Registry:
    """The runs recorded in ``path`` (default: runs.sqlite under tunesmith home)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else tunesmith_home() / "runs.sqlite"

    def start(self, run_dir: Path, config: dict[str, Any], data_files: builtins.list[str]) -> int:
        """Record a run that starts now in ``run_dir``; returns its id."""
        run_path = Path(run_dir).expanduser().resolve()
        values = {
            "run_dir": str(run_path),
            "name": run_path.name,
            "status": "running",
            "started_at": time.time(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "version": __version__,
            "config": json.dumps(config, default=str),
            "data_hash": data_hash(data_files),
            "task": (config.get("data") or {}).get("task"),
            "method": config.get("method"),
            "model": config.get("model"),
        }
        columns = ", ".join(values)
        marks = ", ".join("?" * len(values))
        with self._write() as conn:
            cursor = conn.execute(
                f"INSERT INTO runs ({columns}) VALUES ({marks})", tuple(values.values())
            )
        return int(cursor.lastrowid or 0)

    def finish(self, run_id: int, metrics: dict[str, Any]) -> None:
        """Mark run ``run_id`` completed with the contents of its metrics.json."""
        values = {
            "status": "completed",
            "reason": None,
            "finished_at": time.time(),
            "metrics": json.dumps(metrics, default=str),
            **headline_columns(metrics),
        }
        self._update(run_id, values)

    def forced_past(self, run_id: int, findings: builtins.list[dict[str, Any]]) -> None:
        """Record that run ``run_id`` trained past these blocking data findings (--force)."""
        self._update(run_id, {"forced_past": json.dumps(findings)})

    def fail(self, run_id: int, status: str, reason: str) -> None:
        """Mark run ``run_id`` as ended by ``status`` (failed, interrupted, diverged) and why."""
        if status not in FAILURE_STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(FAILURE_STATUSES)}")
        self._update(run_id, {"status": status, "reason": reason, "finished_at": time.time()})

    def get(self, ref: str) -> RunRow:
        """The run named by ``ref``: its id, its run directory, or a unique start of its name.

        A directory reused with --overwrite holds several runs; its latest one is returned.
        """
        self.mark_stale()
        with self._read() as conn:
            rows = _matches(conn, str(ref))
        dirs = sorted({row["run_dir"] for row in rows})
        if not rows:
            raise TunesmithError(
                f"run {ref!r}: no such run; use an id, a run directory or the start of a name "
                "from 'tunesmith runs list'"
            )
        if len(dirs) > 1:
            names = ", ".join(Path(d).name for d in dirs[:5]) + (" ..." if len(dirs) > 5 else "")
            raise TunesmithError(
                f"run {ref!r}: matches {len(dirs)} runs ({names}); use the id or more of the name"
            )
        return RunRow.from_sql(max(rows, key=lambda row: row["id"]))

    def mark_stale(self, older_than_s: float = 0.0) -> int:
        """Fail "running" runs on this host whose process is gone; returns how many.

        ``older_than_s`` spares runs started less than that many seconds ago. Runs on other
        hosts are left alone: their processes can't be checked from here.
        """
        cutoff = time.time() - older_than_s
        with self._read() as conn:
            candidates = conn.execute(
                "SELECT id, pid, started_at FROM runs"
                " WHERE status = 'running' AND host = ? AND started_at <= ?",
                (socket.gethostname(), cutoff),
            ).fetchall()
        dead = [row["id"] for row in candidates if not _alive(row["pid"], row["started_at"])]
        if dead:
            with self._write() as conn:
                conn.executemany(
                    "UPDATE runs SET status = 'failed', reason = ?, finished_at = ?"
                    " WHERE id = ? AND status = 'running'",
                    [(STALE_REASON, time.time(), run_id) for run_id in dead],
                )
        return len(dead)

    def list(self, limit: int = 20, status: str | None = None) -> builtins.list[RunRow]:
        """The latest ``limit`` runs, newest first, optionally only those with ``status``."""
        self.mark_stale()
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ?", [*params, limit]
            ).fetchall()
        return [RunRow.from_sql(row) for row in rows]

    def _update(self, run_id: int, values: dict[str, Any]) -> None:
        assignments = ", ".join(f"{column} = ?" for column in values)
        with self._write() as conn:
            cursor = conn.execute(
                f"UPDATE runs SET {assignments} WHERE id = ?", [*values.values(), run_id]
            )
        if cursor.rowcount == 0:
            raise TunesmithError(f"run registry {self.path}: no run with id {run_id}")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads, closed straight after so no lock or handle lingers."""
        conn = connect(self.path)
        try:
            yield conn
        except sqlite3.Error as exc:
            raise TunesmithError(f"run registry {self.path}: {exc}") from None
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction that takes the write lock up front (waiting if busy)."""
        with self._read() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


def data_hash(paths: builtins.list[str]) -> str | None:
    """sha256 hex of the data files' bytes, in order; missing or unreadable files are skipped.

    None when none of the files exists (nothing to fingerprint). Each file's size goes in
    before its bytes, so moving bytes from one file to the next changes the hash.
    """
    digest = hashlib.sha256()
    found = False
    for name in paths:
        path = Path(name).expanduser()
        try:
            with path.open("rb") as handle:
                size = path.stat().st_size.to_bytes(8, "little")
                digest.update(size)
                while block := handle.read(_HASH_BLOCK):
                    digest.update(block)
        except OSError:
            continue  # missing, a directory or unreadable: the data check explains it, not us
        found = True
    return digest.hexdigest() if found else None


def _matches(conn: sqlite3.Connection, ref: str) -> builtins.list[sqlite3.Row]:
    """Rows matching ``ref`` as an id, else as a run directory, else as a name prefix."""
    if ref.isdigit():
        rows = conn.execute("SELECT * FROM runs WHERE id = ?", (int(ref),)).fetchall()
        if rows:
            return rows
    path = str(Path(ref).expanduser().resolve())
    rows = conn.execute("SELECT * FROM runs WHERE run_dir = ?", (path,)).fetchall()
    if rows:
        return rows
    # substr, not LIKE: a name may hold '_' or '%', and prefixes are case-sensitive like paths.
    return conn.execute(
        "SELECT * FROM runs WHERE substr(name, 1, ?) = ?", (len(ref), ref)
    ).fetchall()


def _alive(pid: int, started_at: float) -> bool:
    """Whether the process that started a run at ``started_at`` still runs.

    A pid is reused once its process ends; a process created after the run started is another.
    """
    try:
        process = psutil.Process(pid)
        created, zombie = process.create_time(), process.status() == psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        # AccessDenied: the pid belongs to another user now, so it can't be our run's process.
        return False
    return not zombie and created <= started_at + 1.0  # create_time is rounded to clock ticks
