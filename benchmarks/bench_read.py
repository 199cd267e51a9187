"""Reading a benchmark's results per domain on a store of 400k pairs: the stored summaries
(``bench_summaries``) against the baseline of aggregating ``bench_results`` per domain in SQL.

    python benchmarks/bench_read.py [--pairs 400000] [--runs 3] [--json]

Also times ``summarise`` (computed once, when a benchmark finishes) and reports the store's size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.bench.summary import summarise  # noqa: E402
from review_store import Store  # noqa: E402
from taxonomy import load_taxonomy  # noqa: E402

LABELER = "imported:synthetic"
BASELINE = ("SELECT l.domain, r.slot, AVG(r.flagged) AS flagged, COUNT(*) AS n FROM bench_results r "
            "JOIN bench_runs b ON b.id = r.run_id JOIN pairs p ON p.id = r.pair_id "
            "JOIN labelers lb ON lb.name = p.labeler JOIN labels l ON l.prompt_id = p.prompt_id AND +l.labeler_id = lb.id "
            "WHERE b.group_id = ? {where} GROUP BY l.domain, r.slot")


def dedup_as_run(store: Store, prompts: int, seed: int = 0) -> None:
    """Random fingerprints and one cluster per prompt, as a global-scope dedup run leaves them."""
    values = np.random.default_rng(seed).integers(-2 ** 63, 2 ** 63 - 1, size=prompts, dtype=np.int64)
    with store.transaction():
        store.set_fingerprints((f"p{i}", int(v)) for i, v in enumerate(values))
        store.apply_dedup(((f"p{i}", f"p{i}") for i in range(prompts)), [], {"tau": 10, "bits": 64, "scope": "global"})


def build(store: Store, taxonomy, pairs: int, runs: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    safety, culture = taxonomy.domains_of("safety"), taxonomy.domains_of("culture")
    now = "2026-01-01T00:00:00Z"
    with store.transaction():
        store.add_prompts(({"id": f"p{i}", "text": f"synthetic prompt {i}", "origin": "seed"} for i in range(pairs)),
                          created_at=now)
        store.add_candidates({"id": f"{slot[0]}{i}", "prompt_id": f"p{i}", "slot": slot, "text": f"{slot} {i}",
                              "generator": "g", "origin": "imported", "attempt": 0, "created_at": now}
                             for i in range(pairs) for slot in ("aligned", "misaligned"))
        store.save_pairs({"id": f"x{i}", "prompt_id": f"p{i}", "aligned_id": f"a{i}", "misaligned_id": f"m{i}",
                          "status": "accepted", "reason_codes": [], "audit": 0, "labeler": LABELER, "judge": "j",
                          "params": "{}", "created_at": now} for i in range(pairs))
        labels = [{"prompt_id": f"p{i}", "dimension": "safety", "domain": safety[i % len(safety)].id,
                   "probability": 1.0, "labeler": LABELER, "taxonomy_version": taxonomy.version, "created_at": now}
                  for i in range(pairs)]
        labels += [{"prompt_id": f"p{i}", "dimension": "culture", "domain": culture[i % len(culture)].id,
                    "probability": 1.0, "labeler": LABELER, "taxonomy_version": taxonomy.version, "created_at": now}
                   for i in range(0, pairs, 3)]
        store.add_labels(labels)
    group = "synthetic-benchmark"
    for run in range(runs):
        run_id = f"{group}-{run}"
        flags = rng.random((pairs, 2)) < np.array([0.2, 0.8])
        with store.transaction():
            store.add_bench_run({"id": run_id, "group_id": group, "run_index": run, "protocol": "detect",
                                 "engine": "synthetic", "backend": "none", "model": "synthetic", "pairs": "pipeline",
                                 "params": "{}", "created_at": now})
            store.add_bench_results({"run_id": run_id, "pair_id": f"x{i}", "slot": slot, "flagged": int(flags[i, s]),
                                     "probability": float(flags[i, s]), "dimensions": ["safety"] if flags[i, s] else []}
                                    for i in range(pairs) for s, slot in enumerate(("aligned", "misaligned")))
    return group


def timed(call, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    taxonomy = load_taxonomy()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        with Store(path) as store:
            began = time.perf_counter()
            group = build(store, taxonomy, args.pairs, args.runs)
            build_seconds = time.perf_counter() - began
            began = time.perf_counter()
            summarise(store, taxonomy, group, samples=1000)
            summarise_seconds = time.perf_counter() - began
            domains = [d.id for d in taxonomy.domains if d.dimension in ("safety", "culture")]
            ours_all = timed(lambda: store.bench_summaries(group, "domain"), 5)
            ours_one = [t for d in domains for t in timed(lambda: store.domain_bench_figures(d), 1)]
            base_all = timed(lambda: list(store.db.query(BASELINE.format(where=""), [group])), 1)
            base_one = [t for d in domains[:5] for t in timed(
                lambda: list(store.db.query(BASELINE.format(where="AND l.domain = ?"), [group, d])), 1)]
        size = path.stat().st_size
    p95 = float(np.percentile(ours_one, 95))
    figures = {"pairs": args.pairs, "runs": args.runs, "result_rows": args.pairs * 2 * args.runs,
               "build_s": build_seconds, "summarise_s": summarise_seconds, "store_mib": size / 2 ** 20,
               "all_domains_summaries_s": statistics.median(ours_all), "one_domain_p95_s": p95,
               "baseline_all_domains_sql_s": base_all[0], "baseline_one_domain_sql_s": statistics.median(base_one),
               "ratio_all": base_all[0] / statistics.median(ours_all),
               "ratio_one": statistics.median(base_one) / statistics.median(ours_one)}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"store: {args.pairs:,} pairs, {args.runs} runs, {figures['result_rows']:,} result rows, "
          f"{figures['store_mib']:.0f} MiB (built in {build_seconds:.1f} s); summarise once: {summarise_seconds:.1f} s")
    print(f"{'read per domain':34} {'misalign':>12} {'SQL aggregate':>14} {'ratio':>8}")
    print(f"{'all domains':34} {figures['all_domains_summaries_s'] * 1000:>10.2f}ms "
          f"{base_all[0]:>13.2f}s {figures['ratio_all']:>7.0f}x")
    print(f"{'one domain (median; p95 ours)':34} {statistics.median(ours_one) * 1000:>10.2f}ms "
          f"{figures['baseline_one_domain_sql_s']:>13.2f}s {figures['ratio_one']:>7.0f}x  (p95 {p95 * 1000:.2f} ms)")


if __name__ == "__main__":
    main()
