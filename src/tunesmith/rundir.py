"""The run directory: its layout, its manifest, and loading a tuned model back from it.

RUN/config.yaml        resolved config (every default filled in)
RUN/run.json           task, labels, resolved model location, method
RUN/metrics.json       base vs tuned figures and training figures
RUN/train_log.jsonl    one JSON object per logged step / validation
RUN/final/             trained weights (safetensors), tokenizer, model card
RUN/report.html        plots and tables
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tunesmith.config import Config
from tunesmith.config_io import load_config
from tunesmith.errors import TunesmithError
from tunesmith.methods import check_method, get_method
from tunesmith.models.load import compute_dtype, load_tokenizer, pick_device


def check_run_dir(output: str, overwrite: bool) -> Path:
    """Fail early (before hours of work) if ``output`` can't become the run directory."""
    path = Path(output)
    if path.exists() and not path.is_dir():
        raise TunesmithError(f"output: {path} exists and is not a directory; choose another path")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise TunesmithError(
            f"output: {path} already holds a run; choose another output "
            "(--set output=runs/NAME) or pass --overwrite to replace it"
        )
    return path


def create_run_dir(output: str, overwrite: bool) -> Path:
    """An empty run directory; refuses to reuse a non-empty one unless ``overwrite``."""
    path = check_run_dir(output, overwrite)
    if path.is_dir():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically, so a crash never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=float), encoding="utf-8")
    tmp.replace(path)


@dataclass
class TunedRun:
    """A tuned model loaded back from its run directory."""

    path: Path
    cfg: Config
    task: str
    labels: list[str] | None
    model: Any  # a transformers or peft model
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype


def load_run(run_dir: str | Path) -> TunedRun:
    """Rebuild the tuned model of a finished run for evaluation, prediction or generation."""
    path = Path(run_dir)
    manifest_path = path / "run.json"
    if not manifest_path.is_file() or not (path / "final").is_dir():
        raise TunesmithError(
            f"{path}: not a finished tunesmith run (run.json or final/ missing); "
            "pass the directory a 'tunesmith train' run wrote"
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    cfg = load_config(path / "config.yaml")
    check_method(cfg, manifest["task"])  # e.g. a qlora run on a machine without a GPU
    device = pick_device()
    dtype = compute_dtype(cfg.train.precision, device)
    method = get_method(cfg.method)
    location: Path | str = manifest["model_location"]
    if Path(location).exists():
        location = Path(location)
    model = method.load(location, path / "final", method.frozen_dtype(dtype), device)
    tokenizer = load_tokenizer(path / "final")
    return TunedRun(
        path, cfg, manifest["task"], manifest.get("labels"), model, tokenizer, device, dtype
    )
