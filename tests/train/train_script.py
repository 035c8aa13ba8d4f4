"""A small training run of the tiny model, for the checkpoint tests; it can end itself on purpose.

    python train_script.py MODEL_DIR CHECKPOINT_DIR METHOD [--resume]

TUNESMITH_TEST_STOP (environment) makes the run end the way a real one can:
    kill-after:K   SIGKILL itself as step K+1 starts (step K's checkpoint is complete)
    kill-write:N   SIGKILL itself at the N-th fsync of checkpoint files: a write killed half-way
    term-during:K  SIGTERM itself during step K: the run must finish it, checkpoint and exit 130

The tests import ``run`` from here too (by path), so both sides train exactly the same way.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import torch

from tunesmith.config_io import load_config
from tunesmith.data.encode import encode_examples
from tunesmith.data.examples import Example
from tunesmith.methods import get_method
from tunesmith.models.load import load_model, load_tokenizer
from tunesmith.train import checkpoint, loop
from tunesmith.train.loop import seed_everything
from tunesmith.train.monitor import RunLog

CPU = torch.device("cpu")
GOOD, BAD = ["good", "great", "fine"], ["bad", "awful", "poor"]


def examples(n: int) -> list[Example]:
    """Labelled texts of varied lengths (deterministic)."""
    rows = []
    for i in range(n):
        words = (GOOD if i % 2 else BAD)[i % 3 :] + ["the", "movie", "was", "very"][: i % 4]
        label = "positive" if i % 2 else "negative"
        rows.append(Example("classification", text=" ".join(words), label=label))
    return rows


def run(model_dir, checkpoint_dir, method: str, *overrides: str, resume=False, log_path=None):
    """Train a fresh tiny model (24 examples, batch 4, 12 steps, validation every 3 steps);
    returns (model, TrainResult)."""
    cfg = load_config(
        None,
        [
            f"method={method}",
            "train.learning_rate=5e-3",
            "train.batch_size=4",
            "train.epochs=2",
            "train.eval_every=3",
            "train.precision=fp32",
            "train.checkpoint_every=1",
            "lora.r=4",
            "lora.dropout=0.2",  # dropout draws from the torch RNG: resume must restore it
            *overrides,
        ],
    )
    tokenizer = load_tokenizer(model_dir)
    data = encode_examples(examples(28), tokenizer, 32)
    seed_everything(cfg.train.seed)  # peft draws the adapters' initial weights from torch's RNG
    model = get_method(method).prepare(load_model(model_dir, torch.float32, CPU), cfg)
    log = RunLog(Path(log_path or Path(checkpoint_dir).parent / "log.jsonl"))
    try:
        result = loop.train(
            model, data[:24], data[24:], cfg, pad_id=tokenizer.pad_token_id, device=CPU,
            dtype=torch.float32, log=log, checkpoint_dir=checkpoint_dir, resume=resume,
        )  # fmt: skip
    finally:
        log.close()
    return model, result


def install_stop(spec: str) -> None:
    """Wrap the loop's step (or the checkpoint fsync) so the process ends itself per ``spec``."""
    if not spec:
        return
    kind, _, number = spec.partition(":")
    target = int(number)
    calls = [0]

    def counting(wrapped, on_call):
        def wrapper(*args, **kwargs):
            calls[0] += 1
            on_call(calls[0])
            return wrapped(*args, **kwargs)

        return wrapper

    def kill_at(call: int) -> None:
        if call == target:
            os.kill(os.getpid(), signal.SIGKILL)

    def term_at(call: int) -> None:
        if call == target:
            os.kill(os.getpid(), signal.SIGTERM)

    if kind == "kill-after":
        target += 1
        loop.accumulate_gradients = counting(loop.accumulate_gradients, kill_at)
    elif kind == "kill-write":
        checkpoint.fsync_path = counting(checkpoint.fsync_path, kill_at)
    elif kind == "term-during":
        loop.accumulate_gradients = counting(loop.accumulate_gradients, term_at)


def main() -> None:
    torch.set_num_threads(1)  # as in the tests' process: same kernels, same bits
    model_dir, checkpoint_dir, method = sys.argv[1:4]
    install_stop(os.environ.get("TUNESMITH_TEST_STOP", ""))
    try:
        run(model_dir, Path(checkpoint_dir), method, resume="--resume" in sys.argv)
    except loop.TrainingInterrupted as exc:
        print(exc, flush=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
