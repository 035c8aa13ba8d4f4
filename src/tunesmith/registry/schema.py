"""The registry's SQLite schema, its version, and opening a connection that is safe to share.

Several tunesmith processes (a sweep, a notebook, ``tunesmith runs list`` in another terminal)
may use one database at once, so every connection uses WAL (readers never block the writer),
waits for locks instead of failing at once, and writes in short ``BEGIN IMMEDIATE`` transactions.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tunesmith.errors import TunesmithError

#: Bump when the ``runs`` table changes, and add the step from the previous version to MIGRATIONS.
SCHEMA_VERSION = 2

#: Seconds a statement waits for another process's lock before giving up.
LOCK_TIMEOUT_S = 30.0

_CREATE = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_dir TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    started_at REAL NOT NULL,
    finished_at REAL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    version TEXT NOT NULL,
    config TEXT NOT NULL,
    data_hash TEXT,
    metrics TEXT,
    task TEXT,
    method TEXT,
    model TEXT,
    tuned_f1_macro REAL,
    tuned_accuracy REAL,
    tuned_loss REAL,
    tuned_perplexity REAL,
    base_f1_macro REAL,
    base_accuracy REAL,
    base_loss REAL,
    base_perplexity REAL,
    train_runtime_s REAL,
    forced_past TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_dir ON runs (run_dir);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
"""

#: version -> SQL statements that upgrade a database from ``version - 1``.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 2: the blocking data-check findings a run was forced past (JSON list; NULL = none).
    2: ("ALTER TABLE runs ADD COLUMN forced_past TEXT",),
}


def connect(path: Path) -> sqlite3.Connection:
    """An open connection to the registry at ``path``, created or upgraded to SCHEMA_VERSION."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a writer takes the write
        # lock up front and waits for it, rather than failing when a read upgrades to a write.
        conn = sqlite3.connect(path, timeout=LOCK_TIMEOUT_S, isolation_level=None)
    except (sqlite3.Error, OSError) as exc:
        raise _unusable(path, exc) from None
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        _ensure_schema(conn, path)
    except BaseException as exc:
        conn.close()
        if isinstance(exc, sqlite3.Error):
            raise _unusable(path, exc) from None
        raise
    return conn


def _unusable(path: Path, exc: Exception) -> TunesmithError:
    return TunesmithError(
        f"run registry {path}: cannot use it ({exc}); check the directory's permissions "
        "or set TUNESMITH_HOME to a writable one"
    )


def _ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables on first use, upgrade an older schema, refuse a newer one."""
    if _version(conn) == SCHEMA_VERSION:
        return  # the usual case: no write lock needed just to open the database
    # One transaction, so two processes opening a fresh database can't both create and stamp it.
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _CREATE.split(";"):
            if statement.strip():
                conn.execute(statement)
        found = conn.execute("SELECT version FROM schema_version").fetchone()
        version = found[0] if found else SCHEMA_VERSION
        if found is None:
            conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
        if version > SCHEMA_VERSION:
            raise TunesmithError(
                f"run registry {path}: written by a newer tunesmith (schema {version}, this one "
                f"reads {SCHEMA_VERSION}); upgrade tunesmith or set TUNESMITH_HOME elsewhere"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[step]:
                conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = ?", (step,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _version(conn: sqlite3.Connection) -> int | None:
    """The stored schema version; None for a new (empty) database."""
    try:
        found = conn.execute("SELECT version FROM schema_version").fetchone()
    except sqlite3.OperationalError:  # no such table yet
        return None
    return found[0] if found else None
