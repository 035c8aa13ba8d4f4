"""The run registry: roundtrips, data hashes, run references, stale runs, concurrent writers."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest

from tunesmith import __version__
from tunesmith.errors import TunesmithError
from tunesmith.registry import Registry
from tunesmith.registry.store import STALE_REASON, data_hash

CONFIG = {"model": "tiny", "method": "lora", "data": {"task": None}, "train": {"seed": 0}}
METRICS = {
    "task": "classification",
    "model": "tiny",
    "method": "lora",
    "base": {"f1_macro": 0.25, "accuracy": 0.5},
    "tuned": {"f1_macro": 0.75, "accuracy": 0.8},
    "train_runtime_s": 12.5,
}


@pytest.fixture
def registry(tmp_path) -> Registry:
    return Registry(tmp_path / "home" / "runs.sqlite")


def test_default_path_is_under_tunesmith_home(tmp_path, monkeypatch):
    from tunesmith.models import resolve

    # conftest points the registry at a private home for the whole session: undo that here.
    monkeypatch.setattr("tunesmith.registry.store.tunesmith_home", resolve.tunesmith_home)
    monkeypatch.setenv("TUNESMITH_HOME", str(tmp_path))
    assert Registry().path == tmp_path / "runs.sqlite"


def test_start_records_a_running_run(registry, tmp_path):
    data = tmp_path / "train.csv"
    data.write_text("text,label\nhi,a\n")
    run_id = registry.start(tmp_path / "runs" / "a", CONFIG, [str(data)])
    row = registry.get(str(run_id))
    assert (row.status, row.reason, row.finished_at) == ("running", None, None)
    assert row.run_dir == str((tmp_path / "runs" / "a").resolve())
    assert row.config == CONFIG
    assert (row.pid, row.version) == (os.getpid(), __version__)
    assert row.data_hash == data_hash([str(data)])
    assert (row.model, row.method, row.task) == ("tiny", "lora", None)


def test_finish_stores_metrics_and_headline_columns(registry, tmp_path):
    run_id = registry.start(tmp_path / "a", CONFIG, [])
    registry.finish(run_id, METRICS)
    row = registry.get(str(run_id))
    assert row.status == "completed"
    assert row.finished_at is not None and row.finished_at >= row.started_at
    assert row.metrics == METRICS
    assert row.task == "classification"
    assert row.tuned["f1_macro"] == 0.75 and row.base["accuracy"] == 0.5
    assert row.tuned["perplexity"] is None
    assert row.train_runtime_s == 12.5


def test_finish_keeps_model_and_method_when_metrics_lack_them(registry, tmp_path):
    run_id = registry.start(tmp_path / "a", CONFIG, [])
    registry.finish(run_id, {"task": "text", "tuned": {"perplexity": float("inf")}})
    row = registry.get(str(run_id))
    assert (row.model, row.method, row.task) == ("tiny", "lora", "text")
    assert row.tuned["perplexity"] == float("inf")


@pytest.mark.parametrize("status", ["failed", "interrupted", "diverged"])
def test_fail_records_status_and_reason(registry, tmp_path, status):
    run_id = registry.start(tmp_path / "a", CONFIG, [])
    registry.fail(run_id, status, "loss became nan at step 7")
    row = registry.get(str(run_id))
    assert (row.status, row.reason) == (status, "loss became nan at step 7")
    assert row.finished_at is not None and row.metrics is None


def test_fail_rejects_an_unknown_status(registry, tmp_path):
    run_id = registry.start(tmp_path / "a", CONFIG, [])
    with pytest.raises(ValueError, match="crashed"):
        registry.fail(run_id, "crashed", "x")


def test_updating_an_unknown_id_is_an_error(registry):
    with pytest.raises(TunesmithError, match="no run with id 42"):
        registry.finish(42, METRICS)


def test_list_is_newest_first_with_limit_and_status(registry, tmp_path):
    ids = [registry.start(tmp_path / f"r{i}", CONFIG, []) for i in range(5)]
    registry.finish(ids[1], METRICS)
    registry.fail(ids[3], "failed", "bad data")
    assert [row.id for row in registry.list()] == ids[::-1]
    assert [row.id for row in registry.list(limit=2)] == [ids[4], ids[3]]
    assert [row.id for row in registry.list(status="failed")] == [ids[3]]
    assert [row.id for row in registry.list(status="completed")] == [ids[1]]


def test_data_hash_follows_the_bytes(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_bytes(b"text,label\nhello,a\n")
    test.write_bytes(b"text,label\nbye,b\n")
    files = [str(train), str(test)]
    first = data_hash(files)
    assert first is not None and len(first) == 64
    assert data_hash(files) == first  # stable
    assert data_hash([*files, str(tmp_path / "missing.csv")]) == first  # missing files skipped
    train.write_bytes(b"text,label\nhello,b\n")
    assert data_hash(files) != first
    assert data_hash([str(tmp_path / "missing.csv")]) is None


def test_data_hash_tells_file_boundaries_apart(tmp_path):
    (tmp_path / "a").write_bytes(b"ab")
    (tmp_path / "b").write_bytes(b"c")
    (tmp_path / "c").write_bytes(b"a")
    (tmp_path / "d").write_bytes(b"bc")
    paths = [str(tmp_path / name) for name in "abcd"]
    assert data_hash(paths[:2]) != data_hash(paths[2:])


def test_data_hash_streams_files_larger_than_a_block(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (3 << 20) + b"y")
    other = tmp_path / "other.txt"
    other.write_bytes(b"x" * (3 << 20) + b"z")
    assert data_hash([str(big)]) != data_hash([str(other)])


@pytest.fixture
def three_runs(registry, tmp_path) -> dict[str, int]:
    names = ["sweep-lr1", "sweep-lr2", "baseline"]
    return {name: registry.start(tmp_path / "runs" / name, CONFIG, []) for name in names}


def test_get_by_id_dir_and_prefix(registry, tmp_path, three_runs):
    assert registry.get(str(three_runs["sweep-lr2"])).name == "sweep-lr2"
    assert registry.get(str(tmp_path / "runs" / "sweep-lr1")).id == three_runs["sweep-lr1"]
    assert registry.get("base").id == three_runs["baseline"]
    assert registry.get("sweep-lr2").id == three_runs["sweep-lr2"]


def test_get_by_a_reused_dir_gives_its_latest_run(registry, tmp_path):
    first = registry.start(tmp_path / "runs" / "again", CONFIG, [])
    second = registry.start(tmp_path / "runs" / "again", CONFIG, [])
    assert registry.get("again").id == second > first
    assert registry.get(str(tmp_path / "runs" / "again")).id == second


def test_ambiguous_prefix_is_a_one_line_error(registry, three_runs):
    with pytest.raises(TunesmithError) as caught:
        registry.get("sweep")
    message = str(caught.value)
    assert "\n" not in message
    assert "sweep-lr1" in message and "sweep-lr2" in message and "id" in message


@pytest.mark.parametrize("ref", ["nothing", "999", "/no/such/run"])
def test_unknown_ref_is_a_one_line_error(registry, three_runs, ref):
    with pytest.raises(TunesmithError) as caught:
        registry.get(ref)
    message = str(caught.value)
    assert "\n" not in message and ref in message and "tunesmith runs list" in message


def test_prefix_matching_is_literal(registry, tmp_path):
    registry.start(tmp_path / "a_b", CONFIG, [])
    registry.start(tmp_path / "axb", CONFIG, [])
    assert registry.get("a_").name == "a_b"  # '_' is not a LIKE wildcard here


def _start_and_exit(path: Path, run_dir: Path) -> None:
    Registry(path).start(run_dir, CONFIG, [])


def _fork():
    return multiprocessing.get_context("fork")


def test_run_of_a_dead_process_becomes_failed(registry, tmp_path):
    child = _fork().Process(target=_start_and_exit, args=(registry.path, tmp_path / "killed"))
    child.start()
    child.join(10)
    assert child.exitcode == 0
    alive = registry.start(tmp_path / "alive", CONFIG, [])
    rows = {row.name: row for row in registry.list()}
    assert (rows["killed"].status, rows["killed"].reason) == ("failed", STALE_REASON)
    assert rows["killed"].finished_at is not None
    assert registry.get(str(alive)).status == "running"  # this process still runs


def test_reused_pid_does_not_keep_a_run_alive(registry, tmp_path):
    run_id = registry.start(tmp_path / "old", CONFIG, [])
    # The run claims to have started before this process existed: its pid was since reused.
    _sql(registry, "UPDATE runs SET started_at = started_at - 1e6 WHERE id = ?", run_id)
    assert registry.get(str(run_id)).status == "failed"


def test_stale_check_spares_other_hosts_and_young_runs(registry, tmp_path):
    elsewhere = registry.start(tmp_path / "elsewhere", CONFIG, [])
    young = registry.start(tmp_path / "young", CONFIG, [])
    _sql(registry, "UPDATE runs SET host = 'another-host', pid = 1 WHERE id = ?", elsewhere)
    _sql(registry, "UPDATE runs SET pid = 2147483647 WHERE id = ?", young)
    assert registry.mark_stale(older_than_s=3600) == 0
    assert _status(registry, young) == "running"  # (get() would itself mark stale runs)
    assert registry.mark_stale() == 1  # the young run's pid is dead; the other host is unknown
    assert _status(registry, elsewhere) == "running"
    assert _status(registry, young) == "failed"


def _write_runs(path: Path, worker: int, count: int) -> None:
    registry = Registry(path)
    for i in range(count):
        run_id = registry.start(Path(f"/runs/w{worker}-{i}"), {**CONFIG, "worker": worker}, [])
        registry.finish(run_id, {**METRICS, "train_runtime_s": float(i)})


def test_concurrent_writers_lose_nothing(registry):
    workers = [_fork().Process(target=_write_runs, args=(registry.path, w, 20)) for w in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert [worker.exitcode for worker in workers] == [0, 0]
    rows = registry.list(limit=100)
    assert len(rows) == 40 and len({row.id for row in rows}) == 40
    assert {row.status for row in rows} == {"completed"}
    assert sorted(row.name for row in rows) == sorted(
        f"w{w}-{i}" for w in (0, 1) for i in range(20)
    )
    assert all(row.train_runtime_s == float(row.name.split("-")[1]) for row in rows)


def test_a_newer_schema_is_refused(registry, tmp_path):
    registry.start(tmp_path / "a", CONFIG, [])
    _sql(registry, "UPDATE schema_version SET version = ?", 99)
    with pytest.raises(TunesmithError, match="newer tunesmith"):
        registry.list()


def test_an_unusable_location_is_a_one_line_error(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(TunesmithError) as caught:
        Registry(tmp_path / "file" / "runs.sqlite").list()
    assert "\n" not in str(caught.value) and "TUNESMITH_HOME" in str(caught.value)


def test_database_uses_wal(registry, tmp_path):
    registry.start(tmp_path / "a", CONFIG, [])
    with sqlite3.connect(registry.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _sql(registry: Registry, statement: str, *params) -> None:
    conn = sqlite3.connect(registry.path)
    with conn:
        conn.execute(statement, params)
    conn.close()


def _status(registry: Registry, run_id: int) -> str:
    conn = sqlite3.connect(registry.path)
    try:
        return conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
    finally:
        conn.close()


def test_forced_past_findings_are_stored_and_shown(registry, tmp_path):
    from rich.console import Console

    from tunesmith.registry.views import print_run

    run_id = registry.start(tmp_path / "forced", CONFIG, [])
    assert registry.get(str(run_id)).forced_past == []
    finding = {"level": "error", "check": "leakage", "message": "t.csv: 2 rows leak", "fix": "x"}
    registry.forced_past(run_id, [finding])
    assert registry.get(str(run_id)).forced_past == [finding]
    console = Console(record=True, width=200)
    print_run(registry.get(str(run_id)), console)
    shown = console.export_text()
    assert "forced past" in shown and "t.csv: 2 rows leak" in shown


def test_a_version_1_registry_is_upgraded_in_place(registry, tmp_path):
    run_id = registry.start(tmp_path / "old", CONFIG, [])
    conn = sqlite3.connect(registry.path)
    with conn:  # turn the database back into what tunesmith wrote before forced_past existed
        conn.execute("ALTER TABLE runs DROP COLUMN forced_past")
        conn.execute("UPDATE schema_version SET version = 1")
    conn.close()
    registry.forced_past(run_id, [{"message": "m"}])
    assert registry.get(str(run_id)).forced_past == [{"message": "m"}]
    conn = sqlite3.connect(registry.path)
    assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == 2
    conn.close()
