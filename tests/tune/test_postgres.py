"""A study shared through a real PostgreSQL server, as workers on several machines share one."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import optuna
from optuna.trial import TrialState
from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.tune.spec import load_study
from tunesmith.tune.study import open_study

SCRIPT = Path(__file__).with_name("study_script.py")
GRID = {
    "train.batch_size": {"type": "choice", "values": [4, 8, 16]},
    "train.epochs": {"type": "int", "low": 1, "high": 2},
}


def test_workers_in_separate_directories_share_a_postgres_study(tmp_path, synthetic, postgres_url):
    """Two workers with nothing in common but the storage URL (as on two machines)."""
    name = f"grid-{uuid.uuid4().hex[:8]}"
    paths = []
    for machine in ("a", "b"):
        (tmp_path / machine).mkdir()
        paths.append(
            synthetic.write_study(
                tmp_path / machine / "s.yaml",
                GRID,
                search="grid",
                pruner="none",
                storage=postgres_url,
                study_name=name,
            )
        )
    spec = load_study(paths[0])
    open_study(spec, "f1_macro", "maximize")
    src = str(Path(__file__).resolve().parents[2] / "src")
    workers = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), str(path), str(index)],
            env={"PYTHONPATH": src, "TUNESMITH_TEST_SLEEP": "0.2", "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for index, path in enumerate(paths)
    ]
    outputs = [w.communicate(timeout=240)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs

    study = optuna.load_study(study_name=name, storage=postgres_url)
    points = Counter((t.params["train.batch_size"], t.params["train.epochs"]) for t in study.trials)
    assert len(study.trials) == 6 and set(points.values()) == {1}
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    run_dirs = {Path(t.user_attrs["run_dir"]).parent.parent.name for t in study.trials}
    assert run_dirs <= {"a", "b"}

    status = CliRunner().invoke(
        app, ["tune", "--status", "--storage", postgres_url, "--study", name]
    )
    assert status.exit_code == 0, status.output
    assert "6/6 trials (6 complete)" in status.output
