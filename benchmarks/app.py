"""Server-side time of each app page's store reads on a store of 400k pairs, against the 300 ms
p95 target per interaction, and the store's size on disk.

    python benchmarks/app.py [--pairs 400000] [--repeat 5] [--json]

Each page's reads are timed uncached (what the first view after a store change costs; later views
hit ``st.cache_data``). The Export page reads every pair's export columns once per store change
("Export table", kept in memory by the app); each preview then filters and plans the splits from it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bench_read import LABELER, build, dedup_as_run, timed  # noqa: E402
from pipeline.bench.summary import summarise  # noqa: E402
from pipeline.export.splits import ExportOptions, pair_table, plan_export  # noqa: E402
from review_store import Store  # noqa: E402
from taxonomy import load_taxonomy  # noqa: E402

TARGET_P95_S = 0.3


def page_reads(store: Store, domain: str, group: str) -> dict:
    """Each page's reads for one interaction, as the pages make them."""
    return {
        "Overview": lambda: (store.overview(), store.stage_runs(limit=10)),
        "Domains": lambda: (store.labelers_with_labels(), store.domain_summary(LABELER, domain),
                            store.domain_semantic_types(LABELER, domain), store.domain_probability_histogram(LABELER, domain),
                            store.domain_bench_figures(domain), store.domain_pairs(LABELER, domain, 0, 10)),
        "Trade-offs": lambda: (store.bench_groups(), store.bench_summaries(group, "tradeoff"),
                               store.pairs_by_ids(store.bench_summaries(group, "tradeoff_items")[0]["metrics"]["pairs"]),
                               store.bench_summaries(group, "domain")),
        "Review": lambda: (store.panels(), store.review_progress(), store.annotators()),
        "Agreement": lambda: store.annotations(),
        "Runs": lambda: store.stage_runs(limit=500),
    }


def percentiles(times: list[float]) -> dict:
    return {"p50_s": float(np.median(times)), "p95_s": float(np.percentile(times, 95))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    taxonomy = load_taxonomy()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "app.db"
        with Store(path) as store:
            group = build(store, taxonomy, args.pairs, runs=1)
            summarise(store, taxonomy, group, samples=200)
            domain = taxonomy.domains_of("safety")[0].id
            figures = {}
            for page, read in page_reads(store, domain, group).items():
                figures[page] = percentiles(timed(read, args.repeat))
            dedup_as_run(store, args.pairs)
            began = time.perf_counter()
            table = pair_table(store)
            once = time.perf_counter() - began
            figures["Export table"] = {"p50_s": once, "p95_s": once, "once_per_store_change": True}
            options = [ExportOptions(out=Path(folder) / "x", pairs=pairs, seed=seed)
                       for pairs in ("all", "curated") for seed in range(max(1, args.repeat // 2 + 1))]
            times = []
            for option in options:
                began = time.perf_counter()
                plan_export(store, taxonomy, option, table)
                times.append(time.perf_counter() - began)
            figures["Export preview"] = percentiles(times)
        size = path.stat().st_size
    if args.json:
        print(json.dumps({"pairs": args.pairs, "store_mib": size / 2 ** 20, "pages": figures}, indent=2))
        return
    print(f"store: {args.pairs:,} pairs, {size / 2 ** 20:.0f} MiB on disk; target p95 {TARGET_P95_S * 1000:.0f} ms")
    print(f"{'page':16} {'p50 ms':>9} {'p95 ms':>9} {'vs target':>10}")
    for page, f in figures.items():
        note = "  (once per store change)" if f.get("once_per_store_change") else ""
        print(f"{page:16} {f['p50_s'] * 1000:>9.1f} {f['p95_s'] * 1000:>9.1f} {TARGET_P95_S / f['p95_s']:>9.1f}x{note}")


if __name__ == "__main__":
    main()
