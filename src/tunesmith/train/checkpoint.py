"""Atomic, resumable checkpoints: everything a run needs to continue bit for bit.

RUN/checkpoints/step-000050/
    model.safetensors   trainable weights only (adapters for LoRA, everything for full)
    optimizer.pt        optimizer and learning-rate scheduler state
    rng.pt              Python, NumPy, torch CPU (and CUDA) generator states
    state.json          step, data position, losses so far, best validation, metadata
    COMPLETE            written last: a directory without it is ignored
RUN/checkpoints/best/   model.safetensors + state.json + COMPLETE of the best validation step

A checkpoint is written into a temporary directory beside its final place, every file and the
directory are fsynced, and only then is it renamed into place: a kill at any moment leaves either
the old set of checkpoints or the new one, never half of one. ``.pt`` files are read back with
``torch.load(weights_only=True)``, so they can hold only tensors and plain Python values.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from tunesmith.errors import TunesmithError
from tunesmith.train.result import TrainResult

MARKER = "COMPLETE"
FORMAT = 1
_TEMP_PREFIX = ".tmp-"


class Checkpointer:
    """Saves and restores one run's checkpoints; every method is a no-op without a directory."""

    def __init__(self, directory: Path | None, params: dict[str, torch.nn.Parameter], optimizer,
                 scheduler, keep: int, fingerprint: dict[str, Any]):  # fmt: skip
        self.directory = directory
        self.params, self.optimizer, self.scheduler = params, optimizer, scheduler
        self.keep = max(1, keep)
        self.fingerprint = fingerprint  # settings that must match for an exact resume
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            remove_temporaries(directory)

    def save(self, result: TrainResult, position: tuple[int, int]) -> Path | None:
        """Write ``step-NNNNNN/`` for the current step, then prune the oldest; returns its path."""
        if self.directory is None:
            return None
        state = {"format": FORMAT, "time": round(time.time(), 3), "position": list(position),
                 "fingerprint": self.fingerprint, "result": result.to_json()}  # fmt: skip
        path = self.directory / f"step-{result.steps:06d}"
        write_atomically(path, lambda tmp: self._write(tmp, state))
        for old in complete_checkpoints(self.directory)[: -self.keep]:
            shutil.rmtree(old)  # only now that a newer complete one exists
        return path

    def _write(self, tmp: Path, state: dict[str, Any]) -> None:
        save_file(cpu_copy(self.params), tmp / "model.safetensors")
        torch.save(
            {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()},
            tmp / "optimizer.pt",
        )
        torch.save(rng_states(), tmp / "rng.pt")
        (tmp / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")

    def restore(self) -> tuple[TrainResult, tuple[int, int]] | None:
        """Load the newest complete checkpoint into the run; (result, data position) or None."""
        found = complete_checkpoints(self.directory) if self.directory else []
        if not found:
            return None
        path = found[-1]
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        self._check_fingerprint(path, state.get("fingerprint", {}))
        load_weights(self.params, path)
        saved = torch.load(path / "optimizer.pt", weights_only=True)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        set_rng_states(torch.load(path / "rng.pt", weights_only=True))
        epoch, index = state["position"]
        return TrainResult.from_json(state["result"]), (epoch, index)

    def save_best(self, weights: dict[str, torch.Tensor], step: int, val_loss: float) -> None:
        """Replace ``best/`` with ``weights`` (a CPU copy of the trainable parameters)."""
        if self.directory is None:
            return
        state = {"format": FORMAT, "step": step, "val_loss": val_loss}

        def write(tmp: Path) -> None:
            save_file(weights, tmp / "model.safetensors")
            (tmp / "state.json").write_text(json.dumps(state), encoding="utf-8")

        write_atomically(self.directory / "best", write)

    def load_best(self, step: int | None) -> dict[str, torch.Tensor] | None:
        """The saved best weights if they are those of ``step``, else None.

        ``best/`` is written before the step's checkpoint, so after a kill it may belong to a
        step later than the checkpoint resumed from; the resumed run reaches that step again,
        finds the same improvement and rewrites it, so None is safe there.
        """
        path = self.directory / "best" if self.directory else None
        if step is None or path is None or not (path / MARKER).is_file():
            return None
        if json.loads((path / "state.json").read_text(encoding="utf-8"))["step"] != step:
            return None
        return load_file(path / "model.safetensors")

    def _check_fingerprint(self, path: Path, saved: dict[str, Any]) -> None:
        for key, value in self.fingerprint.items():
            if key in saved and saved[key] != value:
                raise TunesmithError(
                    f"{path}: the checkpoint was made with {key}={saved[key]}, this run has "
                    f"{key}={value}; resume with the same settings or start a new run"
                )


def complete_checkpoints(directory: Path) -> list[Path]:
    """``step-*`` directories holding the marker, oldest first."""
    found = [p for p in directory.glob("step-*") if p.name[5:].isdigit() and (p / MARKER).is_file()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def write_atomically(final: Path, write: Callable[[Path], None]) -> None:
    """Build ``final`` in a temporary sibling with ``write(tmp)``, make it durable, rename it."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{final.name}-", dir=final.parent))
    try:
        write(tmp)
        (tmp / MARKER).write_text("ok\n", encoding="utf-8")
        for item in tmp.iterdir():
            fsync_path(item)
        fsync_path(tmp)
        if final.exists():  # a directory can't be renamed onto a non-empty one: move it aside
            old = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}old-", dir=final.parent))
            os.rename(final, old / final.name)
            os.rename(tmp, final)
            shutil.rmtree(old)
        else:
            os.rename(tmp, final)
        fsync_path(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def fsync_path(path: Path) -> None:
    """Flush a file's or a directory's contents to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_temporaries(directory: Path) -> None:
    """Delete what killed writes left behind (never a complete checkpoint)."""
    for item in directory.glob(f"{_TEMP_PREFIX}*"):
        shutil.rmtree(item, ignore_errors=True)


def cpu_copy(params: dict[str, torch.nn.Parameter]) -> dict[str, torch.Tensor]:
    """A detached, contiguous CPU copy of ``params`` by name."""
    return {name: p.detach().to("cpu", copy=True).contiguous() for name, p in params.items()}


def load_weights(params: dict[str, torch.nn.Parameter], source: Path | dict) -> None:
    """Copy saved weights (a checkpoint directory or a name -> tensor dict) into ``params``."""
    weights = load_file(source / "model.safetensors") if isinstance(source, Path) else source
    if set(weights) != set(params):
        raise TunesmithError(
            f"{source}: the saved weights don't match this model's trainable parameters "
            f"({len(weights)} saved, {len(params)} here); resume with the same model and method"
        )
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(weights[name])


def rng_states() -> dict[str, Any]:
    """Every generator a step can draw from, as tensors and plain values (weights_only-safe)."""
    version, internal, gauss = random.getstate()
    numpy = np.random.get_state(legacy=False)
    states: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [
            torch.from_numpy(numpy["state"]["key"].astype(np.int64)),
            numpy["state"]["pos"],
            numpy["has_gauss"],
            numpy["gauss"],
        ],  # fmt: skip
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Inverse of ``rng_states``."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    key, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state(("MT19937", key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
