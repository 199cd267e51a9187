"""Export curated splits: filtered pairs, split by primary domain without near-duplicate leakage.

Pairs are grouped so that near-duplicates always share a split: prompts in one dedup cluster, or
within the dedup τ of each other (searched again over the exported prompts), form one group
(connected components). Each group takes the primary domain of its first pair (the pair's most
probable assigned domain) and, within each primary domain, groups are shuffled with the seed and
cut into consecutive runs of the target shares; with single-pair groups every split is within one
pair of its share of every domain. The export id hashes the settings and the pairs, so the same
export twice is the same export; where each pair went is stored in ``splits``.

>>> report = export(store, taxonomy, ExportOptions(out=Path("curated")))
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipeline.export_card import dataset_card
from pipeline.funnel import spreadsheet_safe
from pipeline.hamming import near_pairs
from review_store import StageReport, Store, content_id, utc_now
from review_store.bench import PAIR_SETS
from taxonomy import DIMENSIONS, Taxonomy

FORMATS = ("jsonl", "csv", "parquet", "hf")
SPLITS = ("train", "validation", "test")


@dataclass
class ExportOptions:
    out: Path
    formats: tuple[str, ...] = ("jsonl", "parquet")
    seed: int = 0
    ratios: tuple[float, ...] = (0.8, 0.1, 0.1)
    pairs: str = "curated"  # human-accepted, then pipeline-accepted without a human rejection
    dimensions: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    semantic_types: tuple[str, ...] = ()
    min_agreement: float | None = None  # share of a pair's "valid" answers agreeing with their majority
    sources: tuple[str, ...] = ()
    licence: str = "TODO: choose a licence for this dataset"
    split_names: tuple[str, ...] = field(default=SPLITS)

    def check(self, taxonomy: Taxonomy) -> None:
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            raise ValueError(f"--format: '{unknown[0]}' is not one of {', '.join(FORMATS)}")
        if len(self.ratios) != len(self.split_names) or any(r < 0 for r in self.ratios) or \
                abs(sum(self.ratios) - 1) > 1e-6:
            raise ValueError(f"--ratios: give {len(self.split_names)} non-negative shares summing to 1, "
                             f"not {','.join(map(str, self.ratios))}")
        if self.pairs not in PAIR_SETS:
            raise ValueError(f"--status: '{self.pairs}' is not one of {', '.join(PAIR_SETS)}")
        bad = [d for d in self.dimensions if d not in DIMENSIONS]
        if bad:
            raise ValueError(f"--dimension: '{bad[0]}' is not one of {', '.join(DIMENSIONS)}")
        known = {d.id for d in taxonomy.domains}
        bad = [d for d in self.domains if d not in known]
        if bad:
            raise ValueError(f"--domain: '{bad[0]}' is not a domain id of taxonomy {taxonomy.version}")


def _records(store: Store, taxonomy: Taxonomy, options: ExportOptions) -> pd.DataFrame:
    """One row per exported pair with everything a record carries, filtered."""
    rows = store.export_pairs(options.pairs)
    labels = store.assigned_labels_of({r["labeler"] for r in rows})
    types = store.top_semantic_types()
    votes = store.pair_votes()
    sources = store.prompt_source_names() if options.sources else {}
    names = {d.id: d.name for d in taxonomy.domains}
    records = []
    for r in rows:
        assigned = labels.get((r["prompt_id"], r["labeler"]), [])
        vote = votes.get(r["id"], {"yes": 0, "no": 0})
        answers = vote["yes"] + vote["no"]
        agreement = max(vote.values()) / answers if answers else None
        record = {
            "id": r["id"], "prompt": r["prompt"], "aligned_response": r["aligned"], "misaligned_response": r["misaligned"],
            **{f"{d}_domains": [{"id": domain, "name": names[domain], "probability": p}
                                for dim, domain, p in assigned if dim == d] for d in DIMENSIONS},
            "primary_domain": assigned[0][1] if assigned else "none",
            "semantic_type": types.get(r["prompt_id"], "unknown"),
            "aligned_generator": r["aligned_generator"], "misaligned_generator": r["misaligned_generator"],
            "judge": r["judge"], "aligned_judge_score": r["aligned_judge_score"],
            "misaligned_judge_score": r["misaligned_judge_score"], "labeler": r["labeler"],
            "pipeline_status": r["status"], "human_status": r["human_status"], "human_valid_votes": vote["yes"],
            "human_invalid_votes": vote["no"], "human_agreement": agreement,
            "_cluster": r["cluster_id"] or r["prompt_id"], "_simhash": r["simhash"],
            "_sources": sources.get(r["prompt_id"], []),
        }
        records.append(record)
    frame = pd.DataFrame(records)
    if frame.empty:
        return frame
    keep = np.ones(len(frame), dtype=bool)
    if options.dimensions:
        keep &= frame[[f"{d}_domains" for d in options.dimensions]].map(bool).any(axis=1).to_numpy()
    if options.domains:
        wanted = set(options.domains)
        keep &= frame[[f"{d}_domains" for d in DIMENSIONS]].apply(
            lambda row: any(x["id"] in wanted for cell in row for x in cell), axis=1).to_numpy()
    if options.semantic_types:
        keep &= frame["semantic_type"].isin(options.semantic_types).to_numpy()
    if options.min_agreement is not None:
        keep &= frame["human_agreement"].fillna(-1).ge(options.min_agreement).to_numpy()
    if options.sources:
        keep &= frame["_sources"].map(lambda s: bool(set(s) & set(options.sources))).to_numpy()
    return frame[keep].reset_index(drop=True)


def leakage_groups(frame: pd.DataFrame, tau: int | None, bits: int = 64) -> np.ndarray:
    """A group label per row: rows in one dedup cluster or within SimHash ``tau`` share a group."""
    n = len(frame)
    clusters = pd.factorize(frame["_cluster"])[0]
    left, right = [np.arange(n)], [clusters + n]  # row -- its cluster node
    if tau is not None:
        known = frame["_simhash"].notna().to_numpy()
        values = np.zeros(n, dtype=np.int64)
        values[known] = frame.loc[known, "_simhash"].astype(np.int64).to_numpy()
        found = near_pairs(values.view(np.uint64), tau, bits=bits, valid=known)
        left.append(found.left.astype(np.int64))
        right.append(found.right.astype(np.int64))
    a, b = np.concatenate(left), np.concatenate(right)
    size = n + (clusters.max() + 1 if n else 0)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(size, size))
    return connected_components(graph, directed=False)[1][:n]


def assign_splits(frame: pd.DataFrame, groups: np.ndarray, ratios: tuple[float, ...], seed: int) -> np.ndarray:
    """A split index per row: per primary domain, the groups in a seeded random order are cut into
    consecutive runs of the target shares (a group goes where its middle falls), so each split is
    within one group of its share."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"group": groups, "domain": frame["primary_domain"].to_numpy()})
    per_group = table.groupby("group").agg(domain=("domain", "first"), size=("domain", "size"))
    per_group["order"] = rng.permutation(len(per_group))
    per_group = per_group.sort_values(["domain", "order"])
    before = per_group.groupby("domain")["size"].cumsum() - per_group["size"]
    total = per_group.groupby("domain")["size"].transform("sum")
    middle = (before + per_group["size"] / 2) / total
    bounds = np.cumsum(ratios)[:-1]
    per_group["split"] = np.searchsorted(bounds, middle.to_numpy(), side="right")
    return per_group["split"].reindex(groups).to_numpy()


def _write(frame: pd.DataFrame, out: Path, formats: tuple[str, ...]) -> list[str]:
    public = frame[[c for c in frame.columns if not c.startswith("_")]]
    written = []
    if "jsonl" in formats:
        public.to_json(out / "pairs.jsonl", orient="records", lines=True, force_ascii=False)
        written.append("pairs.jsonl")
    if "parquet" in formats:
        public.to_parquet(out / "pairs.parquet", index=False)
        written.append("pairs.parquet")
    if "csv" in formats:
        flat = public.copy()
        for column in (f"{d}_domains" for d in DIMENSIONS):
            flat[column] = flat[column].map(lambda cell: json.dumps(cell, ensure_ascii=False))
        flat.map(spreadsheet_safe).to_csv(out / "pairs.csv", index=False)
        written.append("pairs.csv")
    if "hf" in formats:
        import datasets

        splits = {name: datasets.Dataset.from_pandas(part.reset_index(drop=True), preserve_index=False)
                  for name, part in public.groupby("split", sort=False)}
        datasets.DatasetDict(splits).save_to_disk(str(out / "hf"))
        written.append("hf/")
    return written


def plan_export(store: Store, taxonomy: Taxonomy, options: ExportOptions) -> tuple[pd.DataFrame, str, dict]:
    """The records with their splits, the export id and its parameters; nothing is written."""
    options.check(taxonomy)
    frame = _records(store, taxonomy, options)
    if frame.empty:
        raise ValueError(f"no pairs match (set '{options.pairs}' and the filters given); nothing written")
    dedup = store.dedup_params()
    groups = leakage_groups(frame, int(dedup["tau"]) if dedup else None, int(dedup["bits"]) if dedup else 64)
    frame["split"] = [options.split_names[i] for i in assign_splits(frame, groups, options.ratios, options.seed)]
    frame.attrs["groups"] = int(groups.max() + 1)
    params = {**{k: v for k, v in asdict(options).items() if k != "out"}, "ratios": list(options.ratios)}
    return frame, content_id("export", json.dumps(params, sort_keys=True, default=str), *frame["id"]), params


def export(store: Store, taxonomy: Taxonomy, options: ExportOptions) -> StageReport:
    """Write the curated pairs with their splits and a dataset card to ``options.out``."""
    started, began = utc_now(), time.perf_counter()
    frame, export_id, params = plan_export(store, taxonomy, options)
    counts = frame["split"].value_counts().to_dict()
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    written = _write(frame, out, options.formats)
    (out / "README.md").write_text(dataset_card(store, taxonomy, frame, export_id, params), encoding="utf-8")
    with store.transaction():
        store.record_export({"id": export_id, "created_at": started, "out": str(out.resolve()), "params": params,
                             "counts": counts}, zip(frame["id"], frame["split"]))
    report = StageReport("export", items_in=len(frame), kept=len(frame), params=params)
    report.seconds = time.perf_counter() - began
    report.notes = {"export_id": export_id, **{f"split_{k}": v for k, v in sorted(counts.items())},
                    "groups": frame.attrs["groups"], "files": ", ".join(written + ["README.md"])}
    store.record_stage_run(report, started_at=started)
    return report
