"""Export curated splits: filtered pairs, split by primary domain without near-duplicate leakage.

Pairs are grouped so that near-duplicates always share a split: prompts in one dedup cluster, or
within the dedup τ of each other (searched again over the exported prompts), form one group
(connected components). Each group takes the primary domain of its first pair (the pair's most
probable assigned domain) and, within each primary domain, groups are shuffled with the seed and
cut into consecutive runs of the target shares; with single-pair groups every split is within one
pair of its share of every domain. The export id hashes the settings and the pairs, so the same
export twice is the same export; where each pair went is stored in ``splits``.

Example, on a store with pairs::

    report = export(store, taxonomy, options=ExportOptions(out=Path("curated"), licence="cc-by-4.0"))
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipeline.errors import UsageError
from pipeline.export.options import ExportNotes, ExportOptions
from pipeline.export.card import ExportCounts, dataset_card, split_lines
from pipeline.export.writers import ExportFiles, lm_eval_split
from pipeline.text.outputs import HUB
from pipeline.text.outputs import atomic_folder, check_folder
from pipeline.text.hamming import near_pairs
from review_store import StageReport, Store, content_id
from review_store.bench import left_out_line
from taxonomy import DIMENSIONS, Taxonomy



@dataclass
class PairTable:
    """Every pair with what an export filters and splits on, no texts: small enough to keep in memory
    while the store is unchanged (the app does), so previews cost only the filtering and the splits."""

    pairs: pd.DataFrame  # id, prompt_id, labeler, statuses, in_<set>, cluster, simhash, primary_domain, ...
    labels: pd.DataFrame  # assigned domains per (prompt, labeler), most probable first


def pair_table(store: Store) -> PairTable:
    """Read the pair table: the pairs with both responses, their primary domain (most probable
    assigned domain of their labeler, or none), semantic type and human votes."""
    pairs = store.export_pair_table()
    labels = store.assigned_label_table()
    primary = labels.drop_duplicates(["prompt_id", "labeler"])[["prompt_id", "labeler", "domain"]]
    pairs = pairs.merge(primary.rename(columns={"domain": "primary_domain"}), how="left", on=["prompt_id", "labeler"])
    pairs["primary_domain"] = pairs["primary_domain"].fillna("none").astype("category")  # codes: fast grouping
    pairs["cluster"] = pairs["cluster"].astype("category")
    types = store.top_semantic_types()
    pairs["semantic_type"] = [types.get(p, "unknown") for p in pairs["prompt_id"]]
    votes = store.pair_votes()
    pairs["human_valid_votes"] = pairs["id"].map(lambda i: votes.get(i, {}).get("yes", 0))
    pairs["human_invalid_votes"] = pairs["id"].map(lambda i: votes.get(i, {}).get("no", 0))
    answers = pairs["human_valid_votes"] + pairs["human_invalid_votes"]
    majority = pairs[["human_valid_votes", "human_invalid_votes"]].max(axis=1)
    pairs["human_agreement"] = (majority / answers).where(answers > 0)
    return PairTable(pairs, labels)


def _labelled(pairs: pd.DataFrame, labels: pd.DataFrame) -> np.ndarray:
    """Rows of ``pairs`` whose (prompt, labeler) has any of ``labels``."""
    keys = pd.MultiIndex.from_frame(pairs[["prompt_id", "labeler"]])
    return keys.isin(pd.MultiIndex.from_frame(labels[["prompt_id", "labeler"]]))


def _select(store: Store, table: PairTable, options: ExportOptions) -> pd.DataFrame:
    """The pairs of the chosen set that pass every filter, in id order."""
    pairs, labels = table.pairs, table.labels
    keep = pairs[f"in_{options.pairs}"].to_numpy(dtype=bool, copy=True)
    if options.dimensions:
        keep &= _labelled(pairs, labels[labels["dimension"].isin(options.dimensions)])
    if options.domains:
        keep &= _labelled(pairs, labels[labels["domain"].isin(options.domains)])
    if options.semantic_types:
        keep &= pairs["semantic_type"].isin(options.semantic_types).to_numpy()
    if options.min_agreement is not None:
        keep &= pairs["human_agreement"].fillna(-1).ge(options.min_agreement).to_numpy()
    if options.sources:
        wanted = set(options.sources)
        prompts = {p for p, names in store.prompt_source_names().items() if wanted & set(names)}
        keep &= pairs["prompt_id"].isin(prompts).to_numpy()
    return pairs[keep].reset_index(drop=True)


def _records(store: Store, taxonomy: Taxonomy, labels: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The planned pairs as exported records: texts, domains per dimension with probabilities, provenance."""
    texts = store.export_texts(frame["id"].tolist())
    records = frame.merge(texts, how="left", on="id")
    labels = labels.merge(frame[["prompt_id", "labeler"]].drop_duplicates(), on=["prompt_id", "labeler"])
    names = {d.id: d.name for d in taxonomy.domains}
    labels["item"] = [{"id": d, "name": names.get(d, d), "probability": p}
                      for d, p in zip(labels["domain"], labels["probability"])]
    for dimension in DIMENSIONS:
        lists = labels[labels["dimension"] == dimension].groupby(["prompt_id", "labeler"], sort=False)["item"].agg(list)
        column = f"{dimension}_domains"
        records = records.merge(lists.rename(column).reset_index(), how="left", on=["prompt_id", "labeler"])
        records[column] = [cell if isinstance(cell, list) else [] for cell in records[column]]
    records = records.rename(columns={"status": "pipeline_status"})
    records["primary_domain"] = records["primary_domain"].astype(str)
    return records[["id", "prompt", "aligned_response", "misaligned_response",
                    *(f"{d}_domains" for d in DIMENSIONS), "primary_domain", "semantic_type", "misalignment_kind",
                    "aligned_generator", "misaligned_generator", "judge", "aligned_judge_score",
                    "misaligned_judge_score", "labeler", "pipeline_status", "human_status", "human_valid_votes",
                    "human_invalid_votes", "human_agreement", "cluster", "split"]]


def leakage_groups(frame: pd.DataFrame, tau: int | None, bits: int = 64) -> np.ndarray:
    """A group label per row: rows in one dedup cluster or within SimHash ``tau`` share a group."""
    n = len(frame)
    clusters = pd.factorize(frame["cluster"])[0]
    left, right = [np.arange(n)], [clusters + n]  # row -- its cluster node
    if tau is not None:
        known = frame["simhash"].notna().to_numpy()
        values = np.zeros(n, dtype=np.int64)
        values[known] = frame.loc[known, "simhash"].astype(np.int64).to_numpy()
        found = near_pairs(values.view(np.uint64), tau, bits=bits, valid=known)
        left.append(found.left.astype(np.int64))
        right.append(found.right.astype(np.int64))
    a, b = np.concatenate(left), np.concatenate(right)
    size = n + (clusters.max() + 1 if n else 0)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(size, size))
    return connected_components(graph, directed=False)[1][:n]


def assign_splits(frame: pd.DataFrame, groups: np.ndarray, ratios: tuple[float, ...], seed: int) -> np.ndarray:
    """A split index per row: per primary domain, the groups in a seeded random order are laid round a
    circle from a seeded random start and cut into runs of the target shares (a group goes where its
    middle falls), so each split is within one group of its share, and a domain of one or two groups
    lands in each split as often as its share says (without the random start, every such domain
    went to the split holding the circle's middle).

    >>> frame = pd.DataFrame({"primary_domain": [f"d{i}" for i in range(400)]})
    >>> splits = assign_splits(frame, np.arange(400), (0.5, 0.0, 0.5), seed=0)
    >>> bool(150 < (splits == 0).sum() < 250), int((splits == 1).sum())
    (True, 0)
    """
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"group": groups, "domain": pd.factorize(frame["primary_domain"])[0]})
    per_group = table.groupby("group").agg(domain=("domain", "first"), size=("domain", "size"))
    per_group["order"] = rng.permutation(len(per_group))
    per_group = per_group.sort_values(["domain", "order"])
    before = per_group.groupby("domain")["size"].cumsum() - per_group["size"]
    total = per_group.groupby("domain")["size"].transform("sum")
    start = rng.random(int(per_group["domain"].max()) + 1)[per_group["domain"].to_numpy()]
    middle = ((before + per_group["size"] / 2) / total + start) % 1.0
    bounds = np.cumsum(ratios)[:-1]
    per_group["split"] = np.searchsorted(bounds, middle.to_numpy(), side="right")
    return per_group["split"].reindex(groups).to_numpy()


def plan_export(store: Store, taxonomy: Taxonomy, options: ExportOptions,
                table: PairTable | None = None) -> tuple[pd.DataFrame, str, dict]:
    """The chosen pairs (light columns) with their splits, the export id and its parameters; nothing
    is written. Pass a ``table`` kept from ``pair_table(store)`` to plan without reading the store."""
    options.check(taxonomy)
    frame = _select(store, table or pair_table(store), options)
    if frame.empty:
        raise UsageError(f"no pairs match (set '{options.pairs}' and the filters given); nothing written")
    groups = leakage_groups(frame, *_leakage_search(store.dedup_params()))
    frame["split"] = np.array(options.split_names, dtype=object)[assign_splits(frame, groups, options.ratios, options.seed)]
    frame["cluster"] = groups  # near-duplicates share one: for clustered intervals downstream
    frame.attrs["groups"] = int(groups.max() + 1)
    params = {**{k: v for k, v in asdict(options).items() if k not in ("out", "overwrite", "chunk_pairs")},
              "ratios": list(options.ratios)}
    ids = "\x1f".join(frame["id"].to_numpy(dtype=object))  # as content_id(..., *ids) would join them, faster
    return frame, content_id("export", json.dumps(params, sort_keys=True, default=str), ids), params


def _leakage_search(dedup: dict | None) -> tuple[int | None, int]:
    """τ and width to search near-duplicates with, or None where the dedup clusters already hold every
    link: a global-scope dedup merged every pair within τ into one cluster; a domain-scope one did not."""
    if not dedup or dedup.get("scope", "global") == "global":
        return None, 64
    return int(dedup["tau"]), int(dedup["bits"])


def export(store: Store, taxonomy: Taxonomy, config=None, options: ExportOptions | None = None) -> StageReport[ExportNotes]:
    """Write the curated pairs with their splits and a dataset card to ``options.out``: checked before
    any work, written beside it and renamed into place, replacing an earlier export there whole. Export
    reads no engine (``config`` is the stage contract's)."""
    if options is None:
        raise UsageError("export: no options given (at least --out and --licence)")
    out = Path(options.out)
    target = {"owned": lambda folder: store.export_at(str(folder.resolve())), "overwrite": options.overwrite,
              "keep": () if store.path == ":memory:" else (Path(store.path),)}
    check_folder(out, **target)
    with store.stage_run("export", notes=ExportNotes()) as report:
        table = pair_table(store)
        frame, export_id, report.params = plan_export(store, taxonomy, options, table)
        if "lm-eval" in options.formats and lm_eval_split(frame["split"]) is None:
            raise UsageError(f"--format lm-eval: this export has no test or validation pairs (only "
                             f"{', '.join(sorted(set(frame['split'])))}), so its task would score models on training "
                             "pairs; give --ratios a test share, or leave lm-eval out")
        groups = frame.attrs["groups"]
        left_out = [left_out_line(p) for p in store.incomplete_pairs(options.pairs)]  # said in the card too
        # the exported pairs' labels, then their texts a chunk at a time: memory stays that of a chunk
        labels = table.labels.merge(frame[["prompt_id", "labeler"]].drop_duplicates(), on=["prompt_id", "labeler"])
        summary = ExportCounts(frame["split"].unique().tolist())
        with atomic_folder(out, **target) as folder:
            with ExportFiles(folder, options.formats, summary.splits, options.dpo_format) as files:
                for start in range(0, len(frame), options.chunk_pairs):
                    records = _records(store, taxonomy, labels, frame.iloc[start:start + options.chunk_pairs])
                    files.write(records)
                    summary.add(records)
            written = files.written + ["README.md"]
            card = partial(dataset_card, store, taxonomy, summary, export_id, report.params, left_out, groups)
            (folder / "README.md").write_text(card(files=files.written), encoding="utf-8")
            if files.configs:
                (folder / HUB / "README.md").write_text(card(configs=files.configs), encoding="utf-8")
        counts = dict(summary.pairs)
        with store.transaction():
            store.record_export({"id": export_id, "created_at": report.started_at, "out": str(out.resolve()),
                                 "params": report.params, "counts": counts}, zip(frame["id"], frame["split"]))
        report.items_in, report.kept = len(frame) + len(left_out), len(frame)
        report.notes = ExportNotes(export_id=export_id, files=", ".join(written), splits=dict(sorted(counts.items())),
                                   groups=groups, empty_splits=split_lines(summary, report.params, groups))
        report.leave_out("empty_slot", left_out)
    return report
