"""Recording a run around the code that performs it: every ending lands in the registry."""

from __future__ import annotations

import pytest
from rich.console import Console

from tunesmith.config import Config
from tunesmith.errors import TunesmithError
from tunesmith.registry import Registry
from tunesmith.registry.record import MAX_REASON, failure_of, recorded_run


class DivergedError(Exception):
    run_status = "diverged"


@pytest.fixture
def setup(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("text,label\nhi,a\n")
    cfg = Config(output=str(tmp_path / "runs" / "r1"))
    cfg.data.train = str(train)
    return cfg, Registry(tmp_path / "runs.sqlite"), Console(record=True, width=200)


def test_a_completed_run_is_recorded_with_its_metrics(setup):
    cfg, registry, console = setup
    with recorded_run(cfg, console, registry) as record:
        record.finish({"task": "classification", "tuned": {"f1_macro": 0.9}})
    (row,) = registry.list()
    assert row.status == "completed" and row.tuned["f1_macro"] == 0.9
    assert row.config["output"] == cfg.output and row.data_hash is not None
    assert row.name == "r1"


@pytest.mark.parametrize(
    ("exc", "status", "reason"),
    [
        (TunesmithError("data: no rows; add examples"), "failed", "data: no rows; add examples"),
        (KeyboardInterrupt(), "interrupted", "interrupted by the user (Ctrl-C)"),
        (
            RuntimeError("CUDA out of memory.\nTried"),
            "failed",
            "RuntimeError: CUDA out of memory. Tried",
        ),
        (
            DivergedError("loss is nan at step 3"),
            "diverged",
            "DivergedError: loss is nan at step 3",
        ),
    ],
)
def test_a_failing_run_is_recorded_and_the_exception_re_raised(setup, exc, status, reason):
    cfg, registry, console = setup
    with pytest.raises(type(exc)), recorded_run(cfg, console, registry):
        raise exc
    (row,) = registry.list()
    assert (row.status, row.reason) == (status, reason)


def test_long_reasons_are_cut():
    _, reason = failure_of(ValueError("x" * 5000))
    assert len(reason) == MAX_REASON and reason.endswith("...")


def test_an_unusable_registry_costs_a_warning_not_the_run(setup, tmp_path):
    cfg, _, console = setup
    (tmp_path / "file").write_text("")
    broken = Registry(tmp_path / "file" / "runs.sqlite")
    with recorded_run(cfg, console, broken) as record:
        record.finish({"task": "text"})
    assert "warning: run not recorded" in console.export_text()
