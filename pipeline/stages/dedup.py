"""The dedup stage: SimHash near-duplicates removed at Hamming distance ≤ τ, with an audit.

Clusters are the connected components of the near-duplicate graph (union-find). Each keeps one
canonical prompt: seed prompts over imported and expanded ones, then the earliest ingested (lowest
seq). Every other member is marked removed with an audit row: the kept prompt, the distance to it,
and the nearest member that linked it (single linkage can chain, so the two can differ).

Incremental: a run fingerprints only prompts it has not seen and searches them against the kept
prompts; a second run with nothing new changes nothing. Changing features, τ or scope rebuilds.
Scope ``domain`` links two prompts only when they share a labelled domain.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from pipeline.stages.options import DedupOptions
from pipeline.text.hamming import near_pairs
from pipeline.text.progress import progress
from pipeline.text.simhash import FeatureSpec, fingerprints
from pipeline.engines.config import Config
from review_store import Notes, StageReport, Store
from review_store.dedup import ORIGIN_RANK
from taxonomy import Taxonomy



def _fingerprint_new(store: Store, spec: FeatureSpec) -> int:
    """Fingerprint unseen prompts in committed batches (a killed run keeps finished batches)."""
    done = 0
    with progress(None, "dedup: fingerprint", "prompts") as bar:
        for batch in store.prompts_to_fingerprint():
            values, short = fingerprints([r["text"] for r in batch], spec)
            signed = values.view(np.int64)
            with store.transaction():
                store.set_fingerprints((r["id"], None if s else int(v)) for r, v, s in zip(batch, signed, short))
            done += len(batch)
            bar.update(len(batch))
    return done


def _scope_groups(store: Store, scope: str, ids: list[str]) -> list[np.ndarray]:
    """Member indices searched together: everyone, or each domain's prompts (and the unlabelled ones)."""
    everyone = np.arange(len(ids))
    if scope == "global":
        return [everyone]
    index = {pid: i for i, pid in enumerate(ids)}
    by_domain: dict[str, list[int]] = {}
    for prompt_id, domain in store.prompt_domain_pairs():
        if prompt_id in index:
            by_domain.setdefault(domain, []).append(index[prompt_id])
    labelled = np.zeros(len(ids), dtype=bool)
    groups = []
    for members in by_domain.values():
        members = np.array(sorted(members), dtype=np.int64)
        labelled[members] = True
        groups.append(members)
    return [*groups, everyone[~labelled]]


def _edges(fps: np.ndarray, new: np.ndarray, group: np.ndarray, tau: int, bits: int):
    """Near-duplicate edges within one group. Identical fingerprints are searched once: each copy
    is linked to its first at distance 0, so a large group of copies costs linear, not quadratic."""
    values, first, inverse = np.unique(fps[group], return_index=True, return_inverse=True)
    queries = np.zeros(len(values), dtype=bool)
    np.logical_or.at(queries, inverse, new[group])
    pairs = near_pairs(values, tau, bits=bits, queries=queries)
    representative = group[first]
    copies = np.flatnonzero(representative[inverse] != group)
    left = np.concatenate([representative[pairs.left], group[copies]])
    right = np.concatenate([representative[pairs.right], representative[inverse[copies]]])
    distance = np.concatenate([pairs.distance, np.zeros(len(copies), dtype=np.int8)])
    return left, right, distance


@dataclass
class DedupNotes(Notes):
    rebuilt: bool = False  # the features, τ or scope changed, so every prompt was searched again
    fingerprinted: int = 0
    too_short_exact_only: int = 0  # fewer features than ``min_features``: matched exactly only
    links_within_tau: int = 0
    previously_kept_now_removed: int = 0
    fingerprint_seconds: float = 0.0
    search_seconds: float = 0.0


def dedup(store: Store, taxonomy: Taxonomy | None = None, config: Config | None = None,
          options: DedupOptions | None = None) -> StageReport[DedupNotes]:
    """Run (or continue) near-duplicate removal; returns the stage report. Dedup reads neither the
    taxonomy nor the engines, which the stage contract passes to every stage."""
    options = options or DedupOptions()
    options.check()
    params = options.params()
    spec = options.spec()
    with store.stage_run("dedup", params, DedupNotes()) as report:
        rebuilt = store.dedup_params() != params
        if rebuilt:
            with store.transaction():
                store.reset_dedup(params)
        fingerprinted = _fingerprint_new(store, spec)
        fingerprint_seconds = report.elapsed()

        members = store.dedup_members()
        ids = [m["id"] for m in members]
        new = np.array([m["is_canonical"] is None for m in members], dtype=bool)
        valid = np.array([m["simhash"] is not None for m in members], dtype=bool)
        fps = np.array([m["simhash"] or 0 for m in members], dtype=np.int64).view(np.uint64)
        search_began = time.perf_counter()
        groups = _scope_groups(store, options.scope, ids) if new.any() else []
        edges = [_edges(fps, new, group[valid[group]], options.tau, options.bits) for group in groups] or \
            [(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int8))]
        left, right, distance = (np.concatenate([e[i] for e in edges]) for i in range(3))
        search_seconds = time.perf_counter() - search_began

        n = len(members)
        graph = sparse.coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
        _, component = connected_components(graph, directed=False)
        rank = np.array([ORIGIN_RANK.get(m["origin"], 9) for m in members])
        seq = np.array([m["seq"] for m in members])
        canonical_of = np.empty(component.max() + 1 if n else 0, dtype=np.int64)
        groups, heads = _first_per_group(component, seq, rank)  # best origin, then earliest
        canonical_of[groups] = heads
        canonical = canonical_of[component]

        nearest, nearest_distance = _nearest_neighbours(n, left, right, distance)
        removed = np.flatnonzero(canonical != np.arange(n))
        removals = [{
            "removed_id": ids[i], "kept_id": ids[canonical[i]],
            "distance": int(np.bitwise_count(fps[i] ^ fps[canonical[i]])),
            "nearest_id": ids[nearest[i]], "nearest_distance": int(nearest_distance[i]),
            "created_at": report.started_at,
        } for i in removed.tolist()]
        kept = [(ids[i], ids[i]) for i in np.flatnonzero(new & (canonical == np.arange(n))).tolist()]

        report.items_in = int(new.sum())
        report.kept = len(kept)
        report.notes = DedupNotes(
            rebuilt=rebuilt, fingerprinted=fingerprinted, too_short_exact_only=int((new & ~valid).sum()),
            links_within_tau=len(left), previously_kept_now_removed=int((~new[removed]).sum()) if len(removed) else 0,
            fingerprint_seconds=round(fingerprint_seconds, 3), search_seconds=round(search_seconds, 3))
        if len(removed):
            report.drop("near_duplicate", len(removed))
        with store.transaction():
            run_id = store.record_stage_run(report)  # in the transaction its removals name it in
            for row in removals:
                row["run_id"] = run_id
            store.apply_dedup(kept, removals, params)
    return report


def _first_per_group(groups: np.ndarray, *keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each distinct group, the index of its smallest row by ``keys`` (the last key sorts first)."""
    order = np.lexsort((*keys, groups))
    heads = np.unique(groups[order], return_index=True)[1]
    return groups[order[heads]], order[heads]


def _nearest_neighbours(n: int, left: np.ndarray, right: np.ndarray, distance: np.ndarray):
    """For each node, its closest linked node and that distance (itself and 0 when unlinked)."""
    a, b = np.concatenate([left, right]), np.concatenate([right, left])
    d = np.concatenate([distance, distance]).astype(np.int64)
    nearest, best = np.arange(n), np.zeros(n, dtype=np.int64)
    nodes, rows = _first_per_group(a, d)
    nearest[nodes], best[nodes] = b[rows], d[rows]
    return nearest, best
