"""SimHash dedup at τ = 10: misalign's fingerprints + exact multi-index search against
``simhash.Simhash`` + ``simhash.SimhashIndex(k=10)`` and against numpy brute force, on the real
prompts and on synthetic sets of 100k, 382k (SaVaCu's size) and 1M prompts.

Where a baseline would take too long it runs on a sample and its time is extrapolated (marked ~):
SimhashIndex answers at most 2,000 queries or 60 s of them, brute force 2,000 rows beyond 120k.
Each size runs in a fresh process so its peak memory (ours, fingerprint workers included) is its own.

    python benchmarks/dedup.py [--sizes 100000,382000,1000000] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.synthetic import synthetic_prompts  # noqa: E402
from pipeline.text.hamming import brute_force_pairs, near_pairs  # noqa: E402
from pipeline.text.simhash import FeatureSpec, fingerprints, text_features  # noqa: E402

DEV_CSV = REPO.parent / "shared" / "data" / "misalign_bench_prompts_dev.csv"
TAU = 10
SAMPLE = 2_000  # baseline queries timed where the full run would take too long
FULL_BRUTE_FORCE_UP_TO = 120_000


def _timed(function, *args, **kwargs):
    began = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - began


def _peak_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, workers) / 1024, 1)


def _package_fingerprint_seconds(texts, spec, sample) -> tuple[float, bool]:
    from simhash import Simhash

    chosen = texts[:sample]
    _, seconds = _timed(lambda: [Simhash(text_features(t, spec)) for t in chosen])
    return seconds * len(texts) / len(chosen), len(chosen) < len(texts)


def _simhash_index(fps, valid, sample, budget_s=60.0):
    """SimhashIndex(k=10) built on every fingerprint, queried for up to ``sample`` of them
    (fewer if the queries outrun ``budget_s``)."""
    from simhash import Simhash, SimhashIndex

    logging.getLogger("simhash").setLevel(logging.ERROR)  # it warns on every big bucket
    members = np.flatnonzero(valid)
    (index, build) = _timed(SimhashIndex, [(str(i), Simhash(int(fps[i]))) for i in members], k=TAU)
    found, queried, began = set(), [], time.perf_counter()
    for q in members[:sample].tolist():
        found |= {(q, int(x)) for x in index.get_near_dups(Simhash(int(fps[q]))) if int(x) != q}
        queried.append(q)
        if time.perf_counter() - began > budget_s:
            break
    query = time.perf_counter() - began
    return found, build + query * len(members) / len(queried), len(queried) < len(members), set(queried)


def _brute_force(fps, valid):
    if valid.sum() <= FULL_BRUTE_FORCE_UP_TO:
        pairs, seconds = _timed(brute_force_pairs, fps, TAU, valid=valid)
        return len(pairs), seconds, False
    members = np.flatnonzero(valid)
    block = fps[members[:SAMPLE]]
    _, seconds = _timed(lambda: np.bitwise_count(block[:, None] ^ fps[members][None, :]) <= TAU)
    return None, seconds * len(members) / SAMPLE / 2, True  # half the matrix: pairs i < j


def measure(name: str, texts: list[str]) -> dict:
    spec = FeatureSpec()
    (fps, short), fingerprint_s = _timed(fingerprints, texts, spec)
    valid = ~short
    pairs, search_s = _timed(near_pairs, fps, TAU, valid=valid)
    ours_peak = _peak_mib()
    package_fp_s, package_fp_sampled = _package_fingerprint_seconds(texts, spec, 20_000)
    index_found, index_s, index_sampled, queried = _simhash_index(fps, valid, SAMPLE if len(texts) > 20_000 else len(texts))
    ours_on_queried = {(a, b) for a, b in pairs.as_set() if a in queried or b in queried}
    index_pairs = {(min(a, b), max(a, b)) for a, b in index_found}
    brute_pairs, brute_s, brute_sampled = _brute_force(fps, valid)
    ours_total = fingerprint_s + search_s
    return {
        "set": name, "prompts": len(texts), "too_short": int(short.sum()),
        "ours_fingerprint_s": round(fingerprint_s, 2), "ours_search_s": round(search_s, 2),
        "ours_total_s": round(ours_total, 2), "ours_pairs": len(pairs), "ours_peak_mib": ours_peak,
        "simhash_fingerprint_s": round(package_fp_s, 1), "simhash_fingerprint_extrapolated": package_fp_sampled,
        "simhashindex_search_s": round(index_s, 1), "simhashindex_extrapolated": index_sampled,
        "simhashindex_pairs_on_queried": len(index_pairs), "ours_pairs_on_queried": len(ours_on_queried),
        "simhashindex_agrees": index_pairs == ours_on_queried,
        "brute_force_s": round(brute_s, 1), "brute_force_extrapolated": brute_sampled, "brute_force_pairs": brute_pairs,
        "speedup_vs_simhash": round((package_fp_s + index_s) / ours_total, 1),
        "search_speedup_vs_simhashindex": round(index_s / search_s, 1),
        "search_speedup_vs_brute_force": round(brute_s / search_s, 1),
    }


def _run(name: str, size: int | None, queue) -> None:
    if size is None:
        import pandas as pd
        texts = pd.read_csv(DEV_CSV)["prompt"].tolist()
    else:
        texts = synthetic_prompts(size, seed=size)
    queue.put(measure(name, texts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,382000,1000000", help="synthetic set sizes, comma-separated")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    jobs = ([("real prompts", None)] if DEV_CSV.is_file() else []) + \
        [(f"synthetic {int(s):,}", int(s)) for s in args.sizes.split(",") if s]
    if not DEV_CSV.is_file():
        print(f"skipped the real prompts: {DEV_CSV} not found", file=sys.stderr)
    context = multiprocessing.get_context("spawn")
    results = []
    for name, size in jobs:
        queue = context.Queue()
        process = context.Process(target=_run, args=(name, size, queue))
        process.start()
        results.append(queue.get())
        process.join()
        if not args.json:
            print(f"done: {name}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"SimHash dedup at tau = {TAU}, features {FeatureSpec()}; ~ = extrapolated from {SAMPLE:,} queries or 20,000 texts")
    header = (f"{'set':18} {'prompts':>9} | {'ours fp s':>9} {'search s':>8} {'total s':>7} {'pairs':>7} {'peak MiB':>8} | "
              f"{'Simhash fp s':>12} {'Index s':>9} {'Index=ours':>10} | {'brute s':>8} {'pairs':>7} | {'x Simhash':>9} {'x brute':>7}")
    print(header)
    print("-" * len(header))
    for r in results:
        mark = lambda flag: "~" if flag else " "  # noqa: E731
        brute_pairs = "n/a" if r["brute_force_pairs"] is None else r["brute_force_pairs"]
        print(f"{r['set']:18} {r['prompts']:>9,} | {r['ours_fingerprint_s']:>9} {r['ours_search_s']:>8} {r['ours_total_s']:>7} "
              f"{r['ours_pairs']:>7} {r['ours_peak_mib']:>8} | {mark(r['simhash_fingerprint_extrapolated'])}{r['simhash_fingerprint_s']:>11} "
              f"{mark(r['simhashindex_extrapolated'])}{r['simhashindex_search_s']:>8} {str(r['simhashindex_agrees']):>10} | "
              f"{mark(r['brute_force_extrapolated'])}{r['brute_force_s']:>7} {brute_pairs:>7} | "
              f"{r['speedup_vs_simhash']:>9} {r['search_speedup_vs_brute_force']:>7}")


if __name__ == "__main__":
    main()
