"""Choose a steering strength without looking at the test pairs: benchmark the steered model on an
export's validation split at each strength, keep the one with the best Alignment Score (the smaller
strength on a tie), then benchmark the unsteered and the chosen model on the test split and compare.

    result = sweep(store, taxonomy, config, "tiny", "vectors/v.safetensors", export_id, [0, 2, 4, 8])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from pipeline.bench.compare import compare
from pipeline.bench.options import BenchOptions
from pipeline.bench.run import run_bench
from pipeline.engines.config import Config
from pipeline.errors import UsageError
from review_store import Store
from taxonomy import Taxonomy
from pipeline.defaults import BOOTSTRAP_SAMPLES


@dataclass
class SweepResult:
    validation: pd.DataFrame  # strength, benchmark, pairs, coverage, ffr, alignment_score
    best: float
    base_group: str
    steered_group: str
    test: pd.DataFrame  # compare(base, steered) on the test split


def _bench(store: Store, taxonomy: Taxonomy, config: Config, model: str, split: tuple[str, str], runs: int,
           threshold: float, samples: int) -> tuple[str, dict]:
    group = run_bench(store, taxonomy, config, BenchOptions(engine=model, runs=runs, pairs="all", split=split,
                                                            threshold=threshold, bootstrap=samples)).notes.group_id
    return group, store.bench_summaries(group, "overall")[0]["metrics"]


def sweep(store: Store, taxonomy: Taxonomy, config: Config, model: str, vector: str, export_id: str,
          strengths: list[float], runs: int = 1, threshold: float = 0.5, samples: int = BOOTSTRAP_SAMPLES) -> SweepResult:
    """The validation table, the chosen strength and the before/after comparison on the test split."""
    if not strengths:
        raise UsageError("give one or more strengths, e.g. 0,2,4,8", field="strengths")
    for split in ("validation", "test"):
        if not store.bench_pairs("all", (export_id, split)):
            raise UsageError(f"export '{export_id}' has no {split} pairs (export with a {split} share, "
                             "e.g. --ratios 0.8,0.1,0.1)", field="export")
    rows = []
    for strength in strengths:
        steered_config, name = config.steered(model, vector, strength)
        group, figures = _bench(store, taxonomy, steered_config, name, (export_id, "validation"), runs, threshold,
                                samples)
        rows.append({"strength": strength, "benchmark": group, "pairs": figures["pairs"],
                     **{k: figures[k][0] for k in ("coverage", "ffr", "alignment_score")}})
    validation = pd.DataFrame(rows)
    scores = [(-1.0 if math.isnan(r["alignment_score"]) else r["alignment_score"], -r["strength"]) for r in rows]
    best = rows[max(range(len(rows)), key=lambda i: scores[i])]["strength"]
    base_group, _ = _bench(store, taxonomy, config, model, (export_id, "test"), runs, threshold, samples)
    steered_config, name = config.steered(model, vector, best)
    steered_group, _ = _bench(store, taxonomy, steered_config, name, (export_id, "test"), runs, threshold, samples)
    return SweepResult(validation, best, base_group, steered_group,
                       compare(store, taxonomy, base_group, steered_group, samples))
