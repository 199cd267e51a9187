"""``review push`` at scale: records/s into a real local Argilla, per batch size, then N items.

Runs on a copy of a store that has pairs (e.g. one kept by ``benchmarks/full_scale.py --keep DIR``):
a panel's queues are built over its pairs, a local Argilla (Redis, argilla-server with misalign's
SQL search engine) is started on 127.0.0.1, and ``push`` sends the queued items. Each batch size
is tried on its own panel (its own workspace and dataset) for ``--tune-items`` items; the fastest
then pushes ``--items`` items on a fresh panel. A push stopped after N items is a push cut off
part-way: what it sent stays marked, the rest stays queued (a later push resumes there).

    python benchmarks/argilla_push.py --db DIR/full.db [--items 100000] [--batches 50,200,500,1000] [--json]

Baseline: the batch of 50 that ``review push`` used before this measurement (200 since), in the same run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.review.argilla.local.server import local_argilla  # noqa: E402
from pipeline.review.argilla.sync import argilla_client, push  # noqa: E402
from pipeline.review.queues import add_panel, QueueOptions, build_queues  # noqa: E402
from review_store import Store  # noqa: E402
from taxonomy import load_taxonomy  # noqa: E402

QUEUES = ("rejected", "borderline")


class EnoughPushed(Exception):
    """Raised from the batch callback once the wanted number of items is sent."""


def timed_push(store: Store, taxonomy, client, panel: str, items: int, batch: int) -> dict:
    """Push up to ``items`` of a fresh panel's queues in batches of ``batch``: records/s overall, and
    after the first batch (the start reads every queued item's judge scores and domains)."""
    add_panel(store, panel, min_submissions=1)
    queued = build_queues(store, options=QueueOptions(panel, queues=QUEUES)).kept
    sent, first = 0, None

    def count(n: int) -> None:
        nonlocal sent, first
        sent += n
        first = first or (time.perf_counter(), n)
        if sent >= items:
            raise EnoughPushed

    began = time.perf_counter()
    try:
        push(store, taxonomy, panel, client, QUEUES, batch=batch, on_batch=count)
    except EnoughPushed:
        pass
    seconds = time.perf_counter() - began
    steady = (sent - first[1]) / (time.perf_counter() - first[0]) if first and sent > first[1] else None
    return {"panel": panel, "batch": batch, "queued": queued, "pushed": sent, "seconds": round(seconds, 1),
            "records_per_s": round(sent / seconds, 1), "until_first_batch_s": round(first[0] - began, 1) if first else None,
            "steady_records_per_s": round(steady, 1) if steady else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="a store with pairs (it is copied, not changed)")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--batches", default="50,200,500,1000")
    parser.add_argument("--tune-items", type=int, default=5_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    taxonomy = load_taxonomy()
    folder = Path(tempfile.mkdtemp(prefix="argilla-push-"))
    try:
        copy = folder / "store.db"
        shutil.copyfile(args.db, copy)
        with Store(copy) as store, local_argilla(folder / "argilla") as server:
            client = argilla_client(server.url, server.api_key)
            tuning = [timed_push(store, taxonomy, client, f"tune {b}", args.tune_items, b)
                      for b in (int(b) for b in args.batches.split(","))]
            best = max(tuning, key=lambda r: r["steady_records_per_s"] or 0)
            full = timed_push(store, taxonomy, client, "scale", args.items, best["batch"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    baseline = next((r for r in tuning if r["batch"] == 50), tuning[0])
    result = {"tuning": tuning, "full": full, "best_batch": best["batch"],
              "speed_up_vs_batch_50": round(best["steady_records_per_s"] / baseline["steady_records_per_s"], 2)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'run':12} {'batch':>6} {'queued':>8} {'pushed':>8} {'seconds':>8} {'first batch s':>14} "
          f"{'records/s':>10} {'after first':>12}")
    for r in [*tuning, full]:
        print(f"{r['panel']:12} {r['batch']:6} {r['queued']:8,} {r['pushed']:8,} {r['seconds']:8.1f} "
              f"{r['until_first_batch_s']:14.1f} {r['records_per_s']:10.1f} {r['steady_records_per_s'] or 0:12.1f}")
    print(f"best batch {best['batch']}: {result['speed_up_vs_batch_50']}x the batch of 50")


if __name__ == "__main__":
    main()
