"""Agreement of human annotators: Krippendorff's alpha, Fleiss' kappa, pairwise Cohen's kappa with
bootstrap intervals, per panel and per domain, and divergence between panels on the same pairs.

Fleiss' kappa comes from statsmodels and Cohen's from scikit-learn. Krippendorff's alpha (nominal)
is computed here from its coincidence matrix, because the ``krippendorff`` package is GPL; the
tests check it against Krippendorff's published examples (and against that package when the
optional ``[agreement]`` extra is installed).

>>> krippendorff_alpha([["yes", "yes"], ["no", "no"], ["yes", "no"]])
0.444...
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa

from pipeline.errors import UsageError
from pipeline.review.queues import panel_verdict
from review_store import Store
from pipeline.defaults import BOOTSTRAP_SAMPLES

ANSWERS = ("pair_valid", "aligned_acceptable")


def krippendorff_alpha(units: list[list[str]]) -> float:
    """Krippendorff's alpha for nominal values; each unit lists the values its coders gave (missing
    ones left out). Units with one value cannot be paired and do not count. NaN without variation."""
    pairable = [u for u in units if len(u) >= 2]
    categories = sorted({v for u in pairable for v in u})
    index = {c: i for i, c in enumerate(categories)}
    coincidences = np.zeros((len(categories), len(categories)))
    for unit in pairable:
        counts = Counter(unit)
        for a, b in itertools.product(counts, repeat=2):
            pairs = counts[a] * (counts[b] - (a == b))
            coincidences[index[a], index[b]] += pairs / (len(unit) - 1)
    totals = coincidences.sum(axis=1)
    n = totals.sum()
    expected = (n * n - (totals ** 2).sum()) / (n - 1) if n > 1 else 0.0
    observed = n - np.trace(coincidences)
    return float(1 - observed / expected) if expected > 0 else math.nan


def fleiss(units: list[list[str]], raters: int) -> float:
    """Fleiss' kappa over units with at least ``raters`` answers (their first ``raters``)."""
    usable = [u[:raters] for u in units if len(u) >= raters]
    categories = sorted({v for u in usable for v in u})
    if len(usable) < 2 or len(categories) < 2:
        return math.nan
    table = np.array([[u.count(c) for c in categories] for u in usable])
    return float(fleiss_kappa(table, method="fleiss"))


def cohen_pairs(ratings: dict[str, dict[str, str]]) -> list[dict]:
    """Cohen's kappa for every pair of annotators on the items both answered (two or more)."""
    annotators = sorted({a for item in ratings.values() for a in item})
    result = []
    for a, b in itertools.combinations(annotators, 2):
        shared = [item for item in ratings.values() if a in item and b in item]
        if len(shared) < 2:
            continue
        left, right = [i[a] for i in shared], [i[b] for i in shared]
        kappa = float(cohen_kappa_score(left, right)) if len(set(left) | set(right)) > 1 else math.nan
        result.append({"annotators": [a, b], "items": len(shared), "kappa": kappa})
    return result


def bootstrap(units: list[list[str]], statistic, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of ``statistic(units)`` over units resampled with replacement."""
    if len(units) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    values = [statistic([units[i] for i in rng.integers(0, len(units), len(units))]) for _ in range(samples)]
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _figures(ratings: dict[str, dict[str, str]], raters: int, samples: int, seed: int) -> dict:
    units = [list(item.values()) for item in ratings.values()]
    alpha = krippendorff_alpha(units)
    kappa = fleiss(units, raters)
    pairs = cohen_pairs(ratings)
    kappas = [p["kappa"] for p in pairs if not math.isnan(p["kappa"])]
    return {"items": len(units), "answers": sum(len(u) for u in units),
            "alpha": alpha, "alpha_ci": bootstrap(units, krippendorff_alpha, samples, seed),
            "fleiss_kappa": kappa, "fleiss_ci": bootstrap(units, lambda u: fleiss(u, raters), samples, seed),
            "cohen_mean": float(np.mean(kappas)) if kappas else math.nan, "cohen_pairs": pairs}


def agreement(store: Store, answer: str = "pair_valid", samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> dict:
    """Per panel, per panel and domain: agreement on ``answer``; and divergence between panels.

    Divergence for two panels: over pairs both finished, the mean absolute difference of their
    shares of "yes", and the share of pairs where their majority verdicts differ.
    """
    if answer not in ANSWERS:
        raise UsageError(f"agreement is measured on {', '.join(ANSWERS)}, not '{answer}'")
    panels = {p["name"]: p for p in store.panels()}
    by_panel: dict[str, dict[str, dict[str, str]]] = {}
    for a in store.annotations():
        if a[answer] is None:  # a label review answer: no pair to judge
            continue
        key = a["pair_id"] or a["prompt_id"]
        by_panel.setdefault(a["panel"], {}).setdefault(key, {})[a["annotator"]] = a[answer]
    domains = store.pair_domains(list({k for ratings in by_panel.values() for k in ratings}))
    result = {"answer": answer, "panels": {}, "divergence": []}
    for panel, ratings in sorted(by_panel.items()):
        raters = panels[panel]["min_submissions"]
        figures = _figures(ratings, raters, samples, seed)
        per_domain = {}
        for domain in sorted({d for key in ratings for d in domains.get(key, [])}):
            subset = {k: v for k, v in ratings.items() if domain in domains.get(k, [])}
            per_domain[domain] = _figures(subset, raters, samples, seed)
        result["panels"][panel] = {**figures, "domains": per_domain}
    for a, b in itertools.combinations(sorted(by_panel), 2):
        shared = []
        for key in set(by_panel[a]) & set(by_panel[b]):
            votes_a, votes_b = list(by_panel[a][key].values()), list(by_panel[b][key].values())
            verdicts = (panel_verdict(votes_a, panels[a]["min_submissions"]),
                        panel_verdict(votes_b, panels[b]["min_submissions"]))
            if None not in verdicts:
                shared.append((np.mean([v == "yes" for v in votes_a]), np.mean([v == "yes" for v in votes_b]), verdicts))
        result["divergence"].append({
            "panels": [a, b], "pairs": len(shared),
            "mean_abs_difference": float(np.mean([abs(x - y) for x, y, _ in shared])) if shared else math.nan,
            "verdicts_differ": float(np.mean([v[0] != v[1] for *_, v in shared])) if shared else math.nan})
    return result


def judge_calibration(store: Store, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> dict:
    """How the pipeline's verdicts match people's decisions, overall and per domain: Cohen's kappa of
    accepted vs human_accepted (overall with its 95% bootstrap interval over pairs), and the confusion of pipeline
    statuses with human ones. A domain with low kappa needs more human review."""
    decided = store.human_decided_pairs()
    domains = store.pair_domains([p["id"] for p in decided])

    def kappa(units: list[tuple[bool, bool]]) -> float:
        judge, human = [u[0] for u in units], [u[1] for u in units]
        return float(cohen_kappa_score(judge, human)) if len(set(judge) | set(human)) > 1 else math.nan

    def figures(pairs: list[dict], interval: bool = False) -> dict:
        units = [(p["status"] == "accepted", p["human_status"] == "human_accepted") for p in pairs]
        counts = Counter((p["status"], p["human_status"]) for p in pairs)
        confusion = {s: {h: counts[(s, h)] for h in ("human_accepted", "human_rejected")}
                     for s in ("accepted", "borderline", "rejected")}
        return {"pairs": len(pairs), "kappa": kappa(units), "kappa_interval": bootstrap(units, kappa, samples, seed) if interval else (math.nan, math.nan),
                "agreement": float(np.mean([a == b for a, b in units])) if pairs else math.nan,
                "confusion": confusion}

    per_domain = {}
    for domain in sorted({d for ds in domains.values() for d in ds}):
        per_domain[domain] = figures([p for p in decided if domain in domains.get(p["id"], [])])
    return {"overall": figures(decided, interval=True), "domains": per_domain}
