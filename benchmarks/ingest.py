"""Ingest speed on the released prompts: misalign ingest against the issue's 10 s budget and
against a bare floor (pandas.read_csv + one executemany, no validation, labels or dedup).

    python benchmarks/ingest.py [--json] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.stages.ingest import IngestOptions, ingest  # noqa: E402
from review_store import Store  # noqa: E402
from taxonomy import load_taxonomy  # noqa: E402

DEV_CSV = REPO.parent / "shared" / "data" / "misalign_bench_prompts_dev.csv"
BUDGET_SECONDS = 10.0
LABELS = {"safety": "safety_name", "value": "values_name", "culture": "cultural_name"}


def time_misalign(folder: Path, run: int) -> float:
    taxonomy = load_taxonomy()
    began = time.perf_counter()
    with Store(folder / f"misalign-{run}.db") as store:
        ingest(store, taxonomy, options=IngestOptions(DEV_CSV, label_columns=LABELS))
    return time.perf_counter() - began


def time_floor(folder: Path, run: int) -> float:
    began = time.perf_counter()
    frame = pd.read_csv(DEV_CSV, dtype=str, keep_default_na=False)
    conn = sqlite3.connect(folder / f"floor-{run}.db")
    conn.execute("CREATE TABLE prompts (row INTEGER, text TEXT)")
    with conn:
        conn.executemany("INSERT INTO prompts VALUES (?, ?)", zip(frame["row_index"].astype(int), frame["prompt"]))
    conn.close()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not DEV_CSV.is_file():
        sys.exit(f"skipped: {DEV_CSV} not found (the shared data must sit beside the checkout)")

    rows = len(pd.read_csv(DEV_CSV, usecols=["prompt"]))
    with tempfile.TemporaryDirectory() as tmp:
        ours = statistics.median(time_misalign(Path(tmp), i) for i in range(args.repeat))
        floor = statistics.median(time_floor(Path(tmp), i) for i in range(args.repeat))
    result = {
        "rows": rows,
        "misalign_ingest_s": round(ours, 3),
        "budget_s": BUDGET_SECONDS,
        "floor_read_csv_executemany_s": round(floor, 3),
        "budget_over_ours": round(BUDGET_SECONDS / ours, 1),
        "ours_over_floor": round(ours / floor, 1),
        "rows_per_s": round(rows / ours),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"ingest of {DEV_CSV.name} ({rows:,} rows, labels in 3 dimensions), median of {args.repeat}")
    print(f"{'method':44} {'seconds':>8} {'ratio':>10}")
    print(f"{'issue budget':44} {BUDGET_SECONDS:8.2f} {'':>10}")
    print(f"{'misalign ingest (validate, labels, dedup)':44} {ours:8.2f} {result['budget_over_ours']:>8}x under budget")
    print(f"{'floor: read_csv + executemany':44} {floor:8.2f} {'':>10}")
    print(f"ours / floor: {result['ours_over_floor']}x (the price of validation, normalising, labels, sources)")


if __name__ == "__main__":
    main()
