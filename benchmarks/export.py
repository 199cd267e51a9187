"""Exporting 400k pairs to Parquet: misalign export (records, leakage groups, stratified splits,
dataset card, the store's record) against the issue's 60 s budget and a bare floor (one SQL join
read by pandas and written to Parquet, no labels, splits or card).

    python benchmarks/export.py [--pairs 400000] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bench_read import build, dedup_as_run  # noqa: E402
from pipeline.export.splits import ExportOptions, export  # noqa: E402
from review_store import Store  # noqa: E402
from taxonomy import load_taxonomy  # noqa: E402

BUDGET_SECONDS = 60.0
FLOOR = ("SELECT p.id, pr.text AS prompt, a.text AS aligned, m.text AS misaligned FROM pairs p "
         "JOIN prompts pr ON pr.id = p.prompt_id JOIN candidates a ON a.id = p.aligned_id "
         "JOIN candidates m ON m.id = p.misaligned_id")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    taxonomy = load_taxonomy()
    with tempfile.TemporaryDirectory() as folder:
        with Store(Path(folder) / "export.db") as store:
            build(store, taxonomy, args.pairs, runs=0)
            dedup_as_run(store, args.pairs)
            began = time.perf_counter()
            report = export(store, taxonomy, options=ExportOptions(licence="unknown", out=Path(folder) / "out", formats=("parquet",)))
            ours = time.perf_counter() - began
            began = time.perf_counter()
            pd.read_sql_query(FLOOR, store.db.conn).to_parquet(Path(folder) / "floor.parquet", index=False)
            floor = time.perf_counter() - began
            size = (Path(folder) / "out" / "pairs.parquet").stat().st_size
    figures = {"pairs": args.pairs, "export_s": ours, "budget_s": BUDGET_SECONDS, "floor_s": floor,
               "budget_ratio": BUDGET_SECONDS / ours, "over_floor": ours / floor, "parquet_mib": size / 2 ** 20,
               "splits": report.notes.splits}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{'export of':28} {'seconds':>8} {'vs budget 60 s':>15} {'vs floor':>9}")
    print(f"{f'{args.pairs:,} pairs to Parquet':28} {ours:>8.1f} {figures['budget_ratio']:>14.1f}x "
          f"{figures['over_floor']:>8.1f}x")
    print(f"{'floor (join + to_parquet)':28} {floor:>8.1f}")
    print(f"file {figures['parquet_mib']:.0f} MiB; splits {figures['splits']}")


if __name__ == "__main__":
    main()
