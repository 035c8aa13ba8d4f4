"""Checkpoints, exact resume after kill -9, stop signals, loss guards and early stopping.

Every run here is ``train_script.run``: the tiny model, 24 examples, 12 steps of batch 4,
validation every 3 steps, a checkpoint every step. Real kills run it as a subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tunesmith.train import checkpoint, loop, validation
from tunesmith.train.guard import TrainingDiverged
from tunesmith.train.signals import TrainingInterrupted

SCRIPT = Path(__file__).with_name("train_script.py")


@pytest.fixture(scope="module")
def script():
    """train_script imported by path (test modules aren't a package under importlib mode)."""
    spec = importlib.util.spec_from_file_location("train_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference(script, tiny_model_dir, tmp_path_factory):
    """Final trainable weights of uninterrupted runs without checkpoints, by method."""
    cache: dict[str, dict[str, torch.Tensor]] = {}

    def get(method: str) -> dict[str, torch.Tensor]:
        if method not in cache:
            log = tmp_path_factory.mktemp("ref") / "log.jsonl"
            model, _ = script.run(tiny_model_dir, None, method, log_path=log)
            cache[method] = trainable(model)
        return cache[method]

    return get


def trainable(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def assert_identical(model, expected: dict[str, torch.Tensor]) -> None:
    got = trainable(model)
    assert got.keys() == expected.keys()
    different = [name for name in got if not torch.equal(got[name], expected[name])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def child(model_dir, ckpt: Path, method: str, stop: str, resume=False) -> subprocess.Popen:
    """Start train_script in a subprocess that ends itself as ``stop`` says."""
    env = {**os.environ, "TUNESMITH_TEST_STOP": stop, "OMP_NUM_THREADS": "1"}
    args = [sys.executable, str(SCRIPT), str(model_dir), str(ckpt), method]
    return subprocess.Popen(
        args + ["--resume"] * resume, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out.decode() + err.decode()[-2000:]


def steps_on_disk(ckpt: Path) -> list[int]:
    return [int(p.name[5:]) for p in checkpoint.complete_checkpoints(ckpt)]


@pytest.fixture(scope="module")
def children(tiny_model_dir, tmp_path_factory):
    """Three real runs that end themselves, started together to overlap their imports:
    lora kill -9ed after step 3; full kill -9ed at the 17th fsync, inside the write of best/
    after step 3's validation (steps 1-2 fsync 7 times each); lora sent SIGTERM during step 5."""
    plan = {"lora": "kill-after:3", "full": "kill-write:17", "term": "term-during:5"}
    dirs = {name: tmp_path_factory.mktemp(name) / "checkpoints" for name in plan}
    procs = {
        name: child(tiny_model_dir, dirs[name], "full" if name == "full" else "lora", stop)
        for name, stop in plan.items()
    }
    return {name: (dirs[name], *finish(proc)) for name, proc in procs.items()}


def test_kill_9_then_resume_gives_bit_identical_lora_weights(
    children, script, reference, tiny_model_dir
):
    ckpt, code, output = children["lora"]
    assert code == -signal.SIGKILL, output
    assert steps_on_disk(ckpt) == [2, 3]
    model, result = script.run(tiny_model_dir, ckpt, "lora", resume=True)
    assert result.resumed_from == 3 and result.steps == 12
    assert_identical(model, reference("lora"))


def test_kill_9_during_a_write_then_resume_gives_bit_identical_full_weights(
    children, script, reference, tiny_model_dir
):
    ckpt, code, output = children["full"]
    assert code == -signal.SIGKILL, output
    assert any(p.name.startswith(".tmp-best-") for p in ckpt.iterdir())  # the killed write
    assert steps_on_disk(ckpt) == [1, 2]
    model, result = script.run(tiny_model_dir, ckpt, "full", resume=True)
    assert result.resumed_from == 2 and result.best_step == 12
    assert not any(p.name.startswith(".tmp") for p in ckpt.iterdir())
    assert_identical(model, reference("full"))


class Crash(BaseException):
    """Stands in for a kill inside the test process (nothing after it runs in the loop)."""


@pytest.mark.parametrize("after", [1, 3, 6, 11])
def test_crash_at_any_step_then_resume_is_identical_and_skips_incomplete_dirs(
    after, script, reference, tiny_model_dir, tmp_path, monkeypatch
):
    ckpt = tmp_path / "checkpoints"
    real = loop.accumulate_gradients
    calls = []

    def crashing(*args, **kwargs):
        calls.append(1)
        if len(calls) == after + 1:
            raise Crash
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "accumulate_gradients", crashing)
    with pytest.raises(Crash):
        script.run(tiny_model_dir, ckpt, "lora")
    monkeypatch.setattr(loop, "accumulate_gradients", real)
    # A newer checkpoint without its marker and a temporary dir: what a kill mid-write leaves.
    fake = ckpt / f"step-{after + 1:06d}"
    fake.mkdir()
    (fake / "state.json").write_text("{half", encoding="utf-8")
    (ckpt / f".tmp-step-{after + 2:06d}-x").mkdir()
    model, result = script.run(tiny_model_dir, ckpt, "lora", resume=True)
    assert result.resumed_from == after
    assert_identical(model, reference("lora"))


def test_checkpoint_contents_retention_and_weights_only_loading(script, tiny_model_dir, tmp_path):
    ckpt = tmp_path / "checkpoints"
    model, result = script.run(tiny_model_dir, ckpt, "lora", "train.keep_checkpoints=3")
    assert sorted(p.name for p in ckpt.iterdir()) == [
        "best",
        "step-000010",
        "step-000011",
        "step-000012",
    ]
    last = ckpt / "step-000012"
    assert sorted(p.name for p in last.iterdir()) == [
        "COMPLETE",
        "model.safetensors",
        "optimizer.pt",
        "rng.pt",
        "state.json",
    ]
    weights = load_file(last / "model.safetensors")
    assert weights and all("lora_" in name for name in weights)  # trainable weights only
    torch.load(last / "optimizer.pt", weights_only=True)
    torch.load(last / "rng.pt", weights_only=True)
    state = json.loads((last / "state.json").read_text(encoding="utf-8"))
    assert state["position"] == [1, 6]  # epoch 1 done: 6 batches of 4
    assert state["result"]["losses"] == result.losses


def test_resume_without_any_checkpoint_starts_afresh(script, reference, tiny_model_dir, tmp_path):
    model, result = script.run(tiny_model_dir, tmp_path / "checkpoints", "lora", resume=True)
    assert result.resumed_from is None and result.steps == 12
    assert_identical(model, reference("lora"))


def test_sigterm_checkpoints_and_exits_130_then_resumes_exactly(
    children, script, reference, tiny_model_dir
):
    ckpt, code, output = children["term"]
    assert code == 130, output
    expected = f"interrupted at step 5; checkpoint saved to {ckpt / 'step-000005'}; resume with"
    assert expected in output
    assert steps_on_disk(ckpt) == [4, 5]  # the step in progress was finished first
    model, result = script.run(tiny_model_dir, ckpt, "lora", resume=True)
    assert result.resumed_from == 5
    assert_identical(model, reference("lora"))


def test_ctrl_c_finishes_the_step_and_restores_the_handler(
    script, tiny_model_dir, tmp_path, monkeypatch
):
    real, calls = loop.accumulate_gradients, []

    def interrupting(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "accumulate_gradients", interrupting)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted) as caught:
        script.run(tiny_model_dir, tmp_path / "checkpoints", "full")
    assert caught.value.step == 2 and caught.value.exit_code == 130
    assert caught.value.checkpoint == tmp_path / "checkpoints" / "step-000002"
    assert signal.getsignal(signal.SIGINT) is before


def poison_losses(monkeypatch, at, factor=math.nan) -> None:
    """Multiply the training loss of the steps in ``at`` (1-based) by ``factor``."""
    real, calls = loop.target_loss_sum, []

    def poisoned(*args, **kwargs):
        calls.append(1)
        total, n = real(*args, **kwargs)
        return (total * factor if len(calls) in at else total), n

    monkeypatch.setattr(loop, "target_loss_sum", poisoned)


def test_a_nan_loss_is_skipped_and_counted(script, tiny_model_dir, tmp_path, monkeypatch):
    poison_losses(monkeypatch, {2})
    log = tmp_path / "log.jsonl"
    model, result = script.run(tiny_model_dir, None, "full", "train.log_every=1", log_path=log)
    assert result.skipped_steps == 1 and result.steps == 12
    assert math.isnan(result.losses[1]) and all(math.isfinite(x) for x in result.losses[2:])
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the nan never landed
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [r["step"] for r in rows if "skipped" in r] == [2]
    lrs = [r["lr"] for r in rows if "lr" in r]
    assert lrs[1] == lrs[0] and lrs[2] != lrs[1]  # the scheduler waited during the skipped step
    assert result.diagnosis["status"] == "unstable"


def test_consecutive_nans_stop_with_a_diagnosis(script, tiny_model_dir, tmp_path, monkeypatch):
    poison_losses(monkeypatch, {3, 4, 5, 6})
    with pytest.raises(TrainingDiverged, match=r"step 5: .* 3 steps in a row; lower train\.learn"):
        script.run(tiny_model_dir, None, "full", "train.max_nan_steps=3", log_path=tmp_path / "l")


def test_a_loss_spike_stops_with_a_diagnosis(script, tiny_model_dir, tmp_path, monkeypatch):
    poison_losses(monkeypatch, {23}, factor=100.0)
    with pytest.raises(TrainingDiverged, match=r"step 23: the loss jumped .* over 10x its recent"):
        script.run(tiny_model_dir, None, "full", "train.epochs=5", log_path=tmp_path / "l")


def scripted_validation(monkeypatch, losses: list[float]) -> None:
    """Validation returns ``losses`` in turn instead of measuring."""
    queue = list(losses)
    monkeypatch.setattr(validation, "mean_target_loss", lambda *a, **k: (queue.pop(0), 10))


@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_stops_and_restores_the_best_weights(
    restore, script, tiny_model_dir, tmp_path, monkeypatch
):
    scripted_validation(monkeypatch, [3.0, 2.0, 2.0, 2.5])  # best at step 2, none better after
    ckpt = tmp_path / "checkpoints"
    model, result = script.run(
        tiny_model_dir, ckpt, "full", "train.eval_every=1", "train.early_stopping_patience=2",
        "train.keep_checkpoints=10", f"train.restore_best={restore}",
    )  # fmt: skip
    assert result.stopped_early and result.steps == 4
    assert (result.best_step, result.best_val_loss) == (2, 2.0)
    best = load_file(ckpt / "best" / "model.safetensors")
    assert best.keys() == load_file(ckpt / "step-000002" / "model.safetensors").keys()
    final_on_disk = "step-000002" if restore else "step-000004"
    assert_identical(model, load_file(ckpt / final_on_disk / "model.safetensors"))
    name = "transformer.h.0.attn.c_attn.weight"
    assert torch.equal(best[name], trainable(model)[name]) is restore
