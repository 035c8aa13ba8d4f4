"""Speed of ``tunesmith data inspect`` on SST-2's 67k training rows with the default tokenizer.

    TUNESMITH_MODEL_CACHE=/tmp/tshome/models .venv/bin/python bench/inspect_speed.py

Prints one JSON object: rows, seconds (reading + every check, tokenizer loading excluded) and
target_seconds. Near-duplicate search is MinHash LSH, so time grows about linearly with rows.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tunesmith.config import DataConfig
from tunesmith.data.inspect import inspect_files
from tunesmith.models.load import load_tokenizer
from tunesmith.models.resolve import resolve_model

SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "sst2" / "train.tsv"
TARGET_SECONDS = 30


def main() -> None:
    """Inspect SST-2 once and print the timing as JSON."""
    tokenizer = load_tokenizer(resolve_model("default"))
    start = time.perf_counter()
    report = inspect_files([SST2], DataConfig(), tokenizer)
    seconds = time.perf_counter() - start
    result = {
        "rows": report["files"][0]["rows"],
        "seconds": round(seconds, 2),
        "target_seconds": TARGET_SECONDS,
        "verdict": report["verdict"],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
