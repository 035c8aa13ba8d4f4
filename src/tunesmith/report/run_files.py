"""Reading the files a finished run leaves behind, for the report and the model card."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tunesmith.errors import TunesmithError


def read_metrics(run_dir: Path) -> dict:
    """``run_dir/metrics.json`` as a dict; a one-line error when it is missing or broken."""
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise TunesmithError(
            f"{path}: not found; is {run_dir} a finished run directory? Run `tunesmith train` first"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TunesmithError(
            f"{path}: line {exc.lineno} is not valid JSON ({exc.msg}); re-run the evaluation"
        ) from None
    if not isinstance(data, dict):
        raise TunesmithError(f"{path}: expected a JSON object; re-run the evaluation")
    return data


def read_train_log(run_dir: Path) -> list[dict]:
    """The JSON objects of ``run_dir/train_log.jsonl``, in order; empty when there is no log.

    Unreadable lines are skipped: a run killed mid-write leaves a half-written last line,
    and the rest of the log is still worth plotting.
    """
    path = Path(run_dir) / "train_log.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def read_config_text(run_dir: Path) -> str | None:
    """The raw text of ``run_dir/config.yaml``, or None when the run has none."""
    path = Path(run_dir) / "config.yaml"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def read_config(run_dir: Path) -> dict | None:
    """``run_dir/config.yaml`` as nested dicts, or None when missing or not a mapping."""
    text = read_config_text(run_dir)
    if text is None:
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        # The config only adds detail to a card or report; a damaged one must not block them.
        return None
    return data if isinstance(data, dict) else None
