"""Fixtures of the tuner's tests: the synthetic study helpers in study_script.py."""

from __future__ import annotations

import functools
import glob
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("study_script.py")


@pytest.fixture(scope="session")
def synthetic():
    """The study_script module (loaded by path: test directories are not packages)."""
    spec = importlib.util.spec_from_file_location("tune_study_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL server: TUNESMITH_TEST_POSTGRES (.ci/run starts one), else a throwaway one
    started here from the installed binaries. With the variable set, no connection = failure."""
    url = os.environ.get("TUNESMITH_TEST_POSTGRES")
    if url:
        _check_connects(url)
        yield url
        return
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdb:
        if os.environ.get("CI"):
            pytest.fail("CI must provide PostgreSQL: .ci/run exports TUNESMITH_TEST_POSTGRES")
        pytest.skip("PostgreSQL is not installed: apt-get install postgresql, or run .ci/run")
    bin_dir = Path(initdb[-1]).parent
    # Not under pytest's tmp_path: its root-only parents would lock the postgres user out.
    root = Path(tempfile.mkdtemp(prefix="tunesmith-pg-"))
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_pg:
        shutil.chown(root, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = root / "data"
    run = functools.partial(subprocess.run, check=True, capture_output=True)
    run([*as_pg, str(bin_dir / "initdb"), "-D", str(data), "-U", "tunesmith", "-A", "trust"])
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root}"
    ctl = [*as_pg, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w"]
    run([*ctl, "-o", options, "start"])
    try:
        url = f"postgresql://tunesmith@127.0.0.1:{port}/postgres"
        _check_connects(url)
        yield url
    finally:
        run([*ctl, "-m", "fast", "stop"])
        shutil.rmtree(root, ignore_errors=True)


def _check_connects(url: str) -> None:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=10).close()
    except psycopg.OperationalError as exc:
        pytest.fail(f"TUNESMITH_TEST_POSTGRES={url} is set but the server can't be reached: {exc}")
