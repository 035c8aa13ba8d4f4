"""Model FLOPs utilisation of tunesmith's LoRA step against this machine's measured matmul peak.

    .venv/bin/python bench/mfu.py [--examples 128]

The job is bench/train_speed.py's (SST-2 as "Review: ...\\nSentiment: ...", LoRA r16 on the
default model, batch 16, max length 128). Achieved GFLOP/s comes from timing real training steps
(the same timing `tunesmith estimate` does) with the FLOPs the model must do per step; the peak is
a large square matmul in the compute dtype (and in bf16, which the issue names). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import rows  # noqa: E402  (the shared job definition)

from tunesmith.config_io import load_config  # noqa: E402
from tunesmith.data.encode import encode_examples  # noqa: E402
from tunesmith.data.examples import Example  # noqa: E402
from tunesmith.methods import get_method  # noqa: E402
from tunesmith.models.load import compute_dtype, load_model, load_tokenizer  # noqa: E402
from tunesmith.models.resolve import resolve_model  # noqa: E402
from tunesmith.train.estimate import estimate_training  # noqa: E402


def matmul_peak_gflops(dtype: torch.dtype, size: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a square matmul: the practical peak of this machine in ``dtype``."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=128)
    args = parser.parse_args()
    cpu = torch.device("cpu")
    dtype = compute_dtype("auto", cpu)
    cfg = load_config(None, ["train.batch_size=16", "train.max_length=128", "train.epochs=1"])
    location = resolve_model("default")
    tokenizer = load_tokenizer(location)
    lora = get_method("lora")
    model = lora.prepare(load_model(location, lora.frozen_dtype(dtype), cpu), cfg)
    texts = [f"Review: {s}\nSentiment: {label}" for s, label in rows(args.examples)]
    items = encode_examples([Example("text", text=t) for t in texts], tokenizer, 128)
    estimate = estimate_training(model, items, cfg, pad_id=tokenizer.pad_token_id, device=cpu,
                                 dtype=dtype)  # fmt: skip
    achieved = 1 / estimate.seconds_per_gflop
    peak = matmul_peak_gflops(dtype)
    # The issue asks for MFU against the bf16 peak; where bf16 has no native path it is far below
    # fp32's (0.5 against ~140 GFLOP/s on an AVX2-only CPU), so both peaks are shown.
    bf16_peak = matmul_peak_gflops(torch.bfloat16, size=512, repeats=2)
    print(
        json.dumps(
            {
                "compute_dtype": str(dtype).split(".")[-1],
                "achieved_gflops": round(achieved, 1),
                "matmul_peak_gflops": round(peak, 1),
                "mfu": round(achieved / peak, 3),
                "bf16_matmul_peak_gflops": round(bf16_peak, 1),
                "mfu_against_bf16_peak": round(achieved / bf16_peak, 3),
                "note": "model FLOPs: those of the exact step (the output layer at 4 FLOP per "
                "weight per target); with train.loss_grad_filter the CPU does fewer",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
