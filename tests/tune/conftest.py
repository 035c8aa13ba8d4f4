"""Fixtures of the tuner's tests: the synthetic study helpers in study_script.py."""

from __future__ import annotations

import importlib.util
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
