"""The issue's figure: transfer-learning methods side by side on SST-2 within a 30-minute budget.

The job: the first N (500) sentences of SST-2's train.tsv to train on (the next 50 validate),
the SST-2 dev set (872 sentences) to evaluate on, one epoch per method, seed 0, each method a
run of `tunesmith compare` in its own process (so each peak memory is its own).

    .venv/bin/python bench/compare_methods.py [--methods lora,freeze,feature_extraction,cls_head]
        [--model default] [--examples 500] [--dev-examples 872] [--out runs/bench-compare]

Features are not read from the cache (``features.cache=false``), so feature extraction's time
is that of a first run. OUT is replaced. Prints one JSON object: each method's status, macro-F1
and its change from the base model's, training time and peak memory, and the total wall time
against the budget.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "sst2"
NAMES = {"0": "negative", "1": "positive"}
BUDGET_S = 30 * 60


def sst2_rows(name: str, start: int, count: int | None) -> list[tuple[str, str]]:
    """Rows start .. start+count of an SST-2 file as (sentence, label word)."""
    with (SST2 / name).open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        rows = [(r["sentence"].strip(), NAMES[r["label"]]) for r in reader]
    return rows[start : None if count is None else start + count]


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    """A text,label CSV."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def main() -> None:
    """Write the data files, run the comparison, print the figure as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", default="lora,freeze,feature_extraction,cls_head")
    parser.add_argument("--model", default="default", help="Model spec or directory.")
    parser.add_argument("--examples", type=int, default=500, help="Training sentences.")
    parser.add_argument("--dev-examples", type=int, default=None, help="Dev sentences (all).")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-compare"))
    args = parser.parse_args()

    from tunesmith.compare import compare_methods, parse_methods
    from tunesmith.config_io import load_config
    from tunesmith.errors import TunesmithError

    try:
        methods = parse_methods(args.methods)  # an unknown method stops here, before any data
    except TunesmithError as exc:
        raise SystemExit(f"error: {exc}") from None
    data = args.out.parent / f"{args.out.name}-data"
    data.mkdir(parents=True, exist_ok=True)
    train = write_csv(data / "train.csv", sst2_rows("train.tsv", 0, args.examples))
    validation = write_csv(data / "validation.csv", sst2_rows("train.tsv", args.examples, 50))
    dev = write_csv(data / "dev.csv", sst2_rows("dev.tsv", 0, args.dev_examples))
    cfg = load_config(
        None,
        [
            f"model={args.model}",
            f"data.train={train}",
            f"data.validation={validation}",
            f"data.test={dev}",
            "train.epochs=1",
            "train.max_length=128",
            "train.checkpoint_every=0",
            "features.cache=false",
        ],
    )
    started = time.perf_counter()
    result = compare_methods(cfg, methods, args.out, overwrite=True)
    print(json.dumps(figure(result, time.perf_counter() - started), indent=2))


def figure(result: dict, wall_s: float) -> dict:
    """Each method's macro-F1 against the base model's, and the wall time against the budget."""
    base = next((r for r in result["rows"] if r["method"] == "base"), {})
    base_f1 = base.get("f1_macro")
    methods = {}
    for row in result["rows"]:
        if row["method"] == "base":
            continue
        f1 = row.get("f1_macro")
        methods[row["method"]] = {
            "status": row["status"],
            "reason": row.get("reason"),
            "f1_macro": f1,
            "f1_macro_change": None if f1 is None or base_f1 is None else round(f1 - base_f1, 4),
            "train_runtime_s": row.get("train_runtime_s"),
            "peak_rss_bytes": row.get("peak_rss_bytes"),
        }
    return {
        "base_f1_macro": base_f1,
        "methods": methods,
        "total_wall_s": round(wall_s, 1),
        "budget_s": BUDGET_S,
        "within_budget": wall_s <= BUDGET_S,
    }


if __name__ == "__main__":
    main()
