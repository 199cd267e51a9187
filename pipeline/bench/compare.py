"""Before and after: two benchmarks of one protocol on the same pairs (a model and its steered version,
or any two models), side by side with the difference and its 95% paired bootstrap interval.

Per scope (overall, per dimension with the model's verdict on that dimension, per domain), on the
pairs both benchmarks judged usably: for detectors Coverage, FFR and Alignment Score of each, and
other − base with an interval from resampling pairs (the same pairs for both, so the pairing is
kept), and the trade-off rate of each; for the generate protocol the misalignment rate of the
model's own answers, the same way.

    table = compare(store, taxonomy, base_group, steered_group, samples=1000)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.bench.metrics import resampled_means, alignment_score, tradeoffs
from pipeline.bench.summary import flag_of, pair_facts, right_on, scope_groups, usable_results
from pipeline.errors import UsageError
from review_store import Store
from taxonomy import DIMENSIONS, Taxonomy
from pipeline.defaults import BOOTSTRAP_SAMPLES

MEASURES = ("coverage", "ffr", "alignment_score")


def _figures(coverage, ffr) -> dict[str, np.ndarray]:
    """Coverage, FFR and Alignment Score as arrays (one value, or one per resample)."""
    coverage, ffr = np.atleast_1d(coverage).astype(float), np.atleast_1d(ffr).astype(float)
    return {"coverage": coverage, "ffr": ffr,
            "alignment_score": np.array([alignment_score(c, f) for c, f in zip(coverage, ffr)])}


def compare(store: Store, taxonomy: Taxonomy, base: str, other: str, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> pd.DataFrame:
    """One row per scope and key: pairs, each benchmark's figures, the difference and its interval."""
    groups = {g["group_id"]: g for g in store.bench_groups()}
    for name, group in (("BASE", base), ("OTHER", other)):
        if group not in groups:
            raise UsageError(f"{name}: no benchmark '{group}' (misalign bench list shows them)")
        if groups[group]["protocol"] not in ("detect", "generate") or groups[group]["items"] != "pairs":
            raise UsageError(f"{name}: benchmark '{group}' is not a detect or generate benchmark on pairs")
    if groups[base]["protocol"] != groups[other]["protocol"]:
        raise UsageError(f"the benchmarks use different protocols ({groups[base]['protocol']}, "
                         f"{groups[other]['protocol']}): compare like with like")
    detect = groups[base]["protocol"] == "detect"
    slots, measures = (("misaligned", "aligned"), MEASURES) if detect else (("answer",), ("misalignment_rate",))
    results = {g: usable_results(store, g) for g in (base, other)}  # (by run, pair and slot; runs; left out)
    judged = [set(by_run[runs[0]]) if runs else set() for by_run, runs, _ in results.values()]
    pair_ids = sorted(set.intersection(*judged))
    if not pair_ids:
        raise UsageError("the two benchmarks judged no pair in common (benchmark them on the same pairs or split)")
    domains, dims, types, kinds = pair_facts(store, taxonomy, pair_ids)
    rng = np.random.default_rng(seed)

    def figures(means: list) -> dict[str, np.ndarray]:
        return _figures(*means) if detect else {"misalignment_rate": np.atleast_1d(means[0]).astype(float)}

    rows = []
    for scope, key, members, dimension in scope_groups(pair_ids, domains, dims, types, kinds):
        if scope not in ("overall", "dimension", "domain") or not members:
            continue
        columns = [np.array([np.mean([flag_of(results[g][0][r][p][slot], dimension) for r in results[g][1]])
                             for p in members]) for g in (base, other) for slot in slots]
        half = len(slots)
        point = [figures([c.mean() for c in columns[:half]]), figures([c.mean() for c in columns[half:]])]
        resampled = resampled_means(columns, samples, rng) if len(members) > 1 else None
        row = {"scope": scope, "key": taxonomy.domain(key).name if scope == "domain" else key, "pairs": len(members)}
        for measure in measures:
            before, after = float(point[0][measure][0]), float(point[1][measure][0])
            row[f"{measure} base"], row[f"{measure} other"], row[f"{measure} diff"] = before, after, after - before
            low = high = float("nan")
            if resampled is not None:
                diffs = figures(resampled[half:])[measure] - figures(resampled[:half])[measure]
                if np.isfinite(diffs).any():
                    low, high = (float(x) for x in np.nanpercentile(diffs, [2.5, 97.5]))
            row[f"{measure} diff 95% CI"] = [low, high]
        rows.append(row)
    if detect:
        for g, label in ((base, "base"), (other, "other")):
            by_run, runs, _ = results[g]
            first = by_run[runs[0]]
            rows[0][f"trade-off rate {label}"] = tradeoffs(
                {p: {d: right_on(first[p], d) for d in dims.get(p, [])} for p in pair_ids}, DIMENSIONS)["rate"]
    return pd.DataFrame(rows)
