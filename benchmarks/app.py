"""Server-side time of each app page's store reads on a store of 400k pairs, against the 300 ms
p95 target per interaction, the store's size on disk, and (``--browser``) each page's cold first
render in headless Chromium on the demo store and on the 400k store, against 1.5 s and 3 s.

    python benchmarks/app.py [--pairs 400000] [--repeat 5] [--browser] [--json]

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
TARGET_FIRST_RENDER_S = {"demo": 1.5, "large": 3.0}


def page_reads(store: Store, domain: str, group: str, labeler: str = LABELER) -> dict:
    """Each page's reads for one interaction, as the pages make them (the Domains page showing ``labeler``'s labels)."""
    def behind(key: str, cell: str = "safety>value") -> list[str]:
        return store.bench_summaries(group, "tradeoff", key)[0]["metrics"]["behind"][cell]["pairs"][:20]

    def pairs_with_context(pairs: list[dict]) -> tuple:
        ids = [p["id"] for p in pairs]
        return pairs, store.pair_context(ids), store.pair_bench_flags(group, ids)

    return {
        "Overview": lambda: (store.overview(), store.stage_runs(limit=10)),
        "Domains": lambda: (store.labelers_with_labels(), store.domain_summary(labeler, domain),
                            store.domain_semantic_types(labeler, domain), store.domain_probability_histogram(labeler, domain),
                            store.bench_groups(), store.domain_bench_figures(domain),
                            pairs_with_context(store.pairs_by_ids(behind(domain))),
                            pairs_with_context(store.domain_pairs(labeler, domain, 0, 10))),
        "Trade-offs": lambda: (store.bench_groups(), pairs_with_context(store.pairs_by_ids(behind("all"))),
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
    parser.add_argument("--browser", action="store_true", help="also time each page's first render in Chromium")
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
            options = [ExportOptions(licence="unknown", out=Path(folder) / "x", pairs=pairs, seed=seed)
                       for pairs in ("all", "curated") for seed in range(max(1, args.repeat // 2 + 1))]
            times = []
            for option in options:
                began = time.perf_counter()
                plan_export(store, taxonomy, option, table)
                times.append(time.perf_counter() - began)
            figures["Export preview"] = percentiles(times)
        size = path.stat().st_size
        renders = browser_renders(Path(folder), path) if args.browser else {}
    if args.json:
        print(json.dumps({"pairs": args.pairs, "store_mib": size / 2 ** 20, "pages": figures,
                          "first_render_s": renders}, indent=2))
        return
    print(f"store: {args.pairs:,} pairs, {size / 2 ** 20:.0f} MiB on disk; target p95 {TARGET_P95_S * 1000:.0f} ms")
    print(f"{'page':16} {'p50 ms':>9} {'p95 ms':>9} {'vs target':>10}")
    for page, f in figures.items():
        note = "  (once per store change)" if f.get("once_per_store_change") else ""
        print(f"{page:16} {f['p50_s'] * 1000:>9.1f} {f['p95_s'] * 1000:>9.1f} {TARGET_P95_S / f['p95_s']:>9.1f}x{note}")
    if renders:
        print(f"\nfirst render in Chromium, fresh server (targets: demo {TARGET_FIRST_RENDER_S['demo']} s, "
              f"{args.pairs:,} pairs {TARGET_FIRST_RENDER_S['large']} s)")
        print(f"{'page':16} {'demo s':>9} {'vs target':>10} {'large s':>9} {'vs target':>10}")
        for page in renders["demo"]:
            demo, large = renders["demo"][page], renders["large"][page]
            print(f"{page:16} {demo:>9.2f} {TARGET_FIRST_RENDER_S['demo'] / demo:>9.1f}x {large:>9.2f} "
                  f"{TARGET_FIRST_RENDER_S['large'] / large:>9.1f}x")


def browser_renders(folder: Path, large: Path) -> dict[str, dict[str, float]]:
    """Each page's first render on a fresh server: on the demo store (made here) and on ``large``."""
    from pipeline.app.screenshots import first_render_seconds
    from pipeline.demo.run import run_demo

    demo = folder / "demo.db"
    run_demo(demo, echo=lambda line: None, export_dir=folder / "demo-export")
    return {"demo": first_render_seconds(demo), "large": first_render_seconds(large)}


if __name__ == "__main__":
    main()
