"""Does tuning pay? A 6-trial Bayesian study (TPE, median pruning, a timeout) against the untuned
config, on a small SST-2 subset with the default model (Gemma 3 270M).

The untuned config (LoRA r16, lr 2e-4, 1 epoch) is trained once; the study searches the learning
rate, LoRA rank and dropout and the epochs. Both are scored the same way: macro-F1 on the
validation split (what the study chooses by) and on the held-out test split (never seen while
choosing, so the honest figure).

    .venv/bin/python bench/tune_study.py [--model default] [--train 400] [--test 200]
        [--trials 6] [--timeout 90m] [--out /tmp/tunesmith-bench-tune]

Prints one JSON object: the untuned and the best trial's figures, the best parameters, the
trials by state and the wall time of each part. ``--model`` takes a small local model directory
to check the script quickly.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from collections import Counter
from pathlib import Path

import yaml
from rich.console import Console

from tunesmith.config_io import load_config
from tunesmith.pipeline import run_training
from tunesmith.tune.run import tune
from tunesmith.tune.spec import load_study

SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "sst2"
NAMES = {"0": "negative", "1": "positive"}
SEARCH = {
    "train.learning_rate": {"type": "loguniform", "low": 5.0e-5, "high": 2.0e-3},
    "lora.r": {"type": "choice", "values": [4, 8, 16, 32]},
    "lora.dropout": {"type": "uniform", "low": 0.0, "high": 0.2},
    "train.epochs": {"type": "choice", "values": [1, 2]},
}


def write_subset(source: Path, target: Path, n: int) -> Path:
    """The first ``n`` SST-2 rows of ``source`` as a text,label CSV with label words."""
    with source.open(encoding="utf-8") as handle, target.open("w", newline="") as out:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        for _, row in zip(range(n), reader, strict=False):
            writer.writerow([row["sentence"].strip(), NAMES[row["label"]]])
    return target


def study_yaml(args, out: Path) -> Path:
    """The study file: the untuned base config plus the search space and settings."""
    study = {
        "model": args.model,
        "method": "lora",
        "output": str(out / "study"),
        "data": {
            "train": str(write_subset(SST2 / "train.tsv", out / "train.csv", args.train)),
            "test": str(write_subset(SST2 / "dev.tsv", out / "test.csv", args.test)),
            "validation_fraction": 0.2,
        },
        "train": {"epochs": 1, "batch_size": 16, "max_length": 64, "learning_rate": 2e-4},
        "search": SEARCH,
        "objective": {"metric": "f1_macro", "direction": "maximize"},
        "tune": {
            "search": "bayes",
            "trials": args.trials,
            "timeout": args.timeout,
            "pruner": "median",
            "startup_trials": 3,
        },
    }
    path = out / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    return path


def figures(run_dir: Path) -> dict:
    """Validation and test macro-F1 of a finished run."""
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    return {
        "validation_f1_macro": (metrics.get("validation") or {}).get("f1_macro"),
        "test_f1_macro": (metrics.get("tuned") or {}).get("f1_macro"),
        "train_runtime_s": metrics.get("train_runtime_s"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--train", type=int, default=400, help="SST-2 training sentences")
    parser.add_argument("--test", type=int, default=200, help="SST-2 dev sentences as test")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--timeout", default="90m")
    parser.add_argument("--out", type=Path, default=Path("/tmp/tunesmith-bench-tune"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    console = Console(stderr=True)
    path = study_yaml(args, args.out)

    started = time.perf_counter()
    untuned_cfg = load_config(path, [f"output={args.out / 'untuned'}", "eval.base=false"])
    untuned = figures(run_training(untuned_cfg, console=console, score_validation=True))
    untuned_s = time.perf_counter() - started

    started = time.perf_counter()
    study = tune(load_study(path), console)
    study_s = time.perf_counter() - started
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    best = max(complete, key=lambda t: t.value) if complete else None
    result = {
        "model": args.model,
        "train_examples": args.train,
        "test_examples": args.test,
        "untuned": {**untuned, "wall_s": round(untuned_s, 1)},
        "best_trial": None
        if best is None
        else {
            "number": best.number,
            "params": best.params,
            **figures(Path(best.user_attrs["run_dir"])),
        },
        "trials": dict(Counter(t.state.name.lower() for t in study.trials)),
        "study_wall_s": round(study_s, 1),
    }
    if best is not None:
        result["validation_f1_gain"] = round(
            result["best_trial"]["validation_f1_macro"] - untuned["validation_f1_macro"], 4
        )
        result["test_f1_gain"] = round(
            result["best_trial"]["test_f1_macro"] - untuned["test_f1_macro"], 4
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
