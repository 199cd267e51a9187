"""The per-domain funnel, in the shape of the MisAlignTrade statistics table:
classified → expanded → removed as duplicates → kept (with expansion candidates generated), then
the pairs stage: candidates generated → filtered by stage 1 / stage 2 per slot → recovered by
resampling → pairs accepted, borderline, rejected (and sampled for audit)."""

from __future__ import annotations

import csv
from pathlib import Path

from pipeline.text.cells import spreadsheet_safe
from pipeline.text.outputs import atomic_file
from review_store import Store
from taxonomy import Taxonomy

PAIR_COLUMNS = ("generated_aligned", "generated_misaligned", "stage1_aligned", "stage1_misaligned", "stage2_aligned",
                "stage2_misaligned", "recovered_aligned", "recovered_misaligned", "accepted", "borderline", "rejected",
                "audit")
COLUMNS = ("dimension", "domain_id", "domain", "classified", "expanded", "removed_duplicates", "kept",
           "candidates_generated", "candidates_accepted", *PAIR_COLUMNS)


def funnel_rows(store: Store, labeler: str, taxonomy: Taxonomy) -> list[dict]:
    """One row per taxonomy domain (zeros where nothing was assigned), in taxonomy order."""
    counts = store.domain_funnel(labeler)
    for domain, figures in store.pair_domain_table(labeler).items():
        counts.setdefault(domain, {}).update(figures)
    return [{"dimension": d.dimension, "domain_id": d.id, "domain": d.name,
             **{c: counts.get(d.id, {}).get(c, 0) for c in COLUMNS[3:]}} for d in taxonomy.domains]


def write_funnel_csv(rows: list[dict], path: str | Path) -> None:
    """Write the funnel rows as CSV, with formulas neutralised; atomically (a killed run leaves the old file)."""
    with atomic_file(Path(path), "--csv") as partial, partial.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
