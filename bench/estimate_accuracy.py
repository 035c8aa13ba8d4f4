"""Is `tunesmith estimate` right? Predict, then train for real, on several configs.

    .venv/bin/python bench/estimate_accuracy.py [--repeats 1]

Each config is one training run on the default model: `train` first predicts its own training
time the way `tunesmith estimate` does (the same function, timing a few real steps; kept in
metrics.json as predicted_train_runtime_s), then trains. Prints JSON with predicted vs actual
training seconds and the relative error (target: within 15%). Run it on an otherwise idle
machine: timings are the point. Each run trains for 2-4 minutes: on a shared machine whose speed
drifts by +-15% over seconds, much shorter runs measure the drift more than the estimate.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from tunesmith.config_io import load_config
from tunesmith.pipeline import run_training

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
QUICKSTART = ROOT / "src" / "tunesmith" / "quickstart"
TARGET = 0.15  # the bound on the relative error

CONFIGS = {
    "lora-classification-b16": [
        f"data.train={QUICKSTART / 'train.csv'}",
        "train.batch_size=16",
        "train.max_steps=40",
    ],
    "lora-text-b8-len128": [
        f"data.train={SHARED / 'llamafactory_text_demo' / 'c4_demo.jsonl'}",
        "data.task=text",
        "train.batch_size=8",
        "train.max_length=128",
        "train.max_steps=24",
    ],
    "full-classification-b8-accum2": [
        f"data.train={QUICKSTART / 'train.csv'}",
        "method=full",
        "train.batch_size=8",
        "train.grad_accum=2",
        "train.max_steps=24",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="runs of each config")
    args = parser.parse_args()
    rows = []
    for _ in range(args.repeats):  # configs take turns: a slow spell of the machine hits all
        for name, overrides in CONFIGS.items():
            rows.append(predict_and_train(name, overrides))
    worst = max(r["relative_error"] for r in rows)
    within = sum(r["relative_error"] <= TARGET for r in rows)
    print(
        json.dumps(
            {"runs": rows, "worst_relative_error": worst, "runs_within_target": within,
             "target": TARGET},
            indent=2,
        )
    )  # fmt: skip


def predict_and_train(name: str, overrides: list[str]) -> dict:
    """One run: the prediction ``train`` printed before starting, and the training seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        common = ["eval.base=false", "data.test_fraction=0.05", f"output={tmp}/run"]
        cfg = load_config(None, [*overrides, *common])
        run_dir = run_training(cfg, overwrite=True)
        metrics = json.loads((run_dir / "metrics.json").read_text())
    predicted, actual = metrics["predicted_train_runtime_s"], metrics["train_runtime_s"]
    return {
        "config": name,
        "predicted_train_runtime_s": predicted,
        "actual_train_runtime_s": actual,
        "relative_error": round(abs(predicted - actual) / actual, 3),
    }


if __name__ == "__main__":
    main()
