"""Labelling the released prompts with the embedded engine on CPU: prompts/s end to end (three
dimensions + semantic type, store writes included) against encoding the same prompts with plain
sentence-transformers MiniLM in fp32 (the baseline), and agreement with the paper's labels.

Also the store's bytes per prompt for labels and cache (engine cache, text vectors), against the same labels written the
way schema v13 stored them (a row per domain at 1% or more with the labeler's name, taxonomy
version and time, and a cached answer per choice request), projected to SaVaCu's 382k prompts.

    python benchmarks/label.py [--json] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.engines.config import load_config  # noqa: E402
from pipeline.engines.embed import default_model_dir  # noqa: E402
from pipeline.stages.ingest import IngestOptions, ingest  # noqa: E402
from pipeline.stages.label import LabelOptions, label  # noqa: E402
from pipeline.stages.label_agreement import label_agreement  # noqa: E402
from review_store import Store, content_id  # noqa: E402
from taxonomy import load_taxonomy  # noqa: E402

DEV_CSV = REPO.parent / "shared" / "data" / "misalign_bench_prompts_dev.csv"
LABELS = {"safety": "safety_name", "value": "values_name", "culture": "cultural_name"}


def released_prompts(folder: Path, limit: int | None) -> Path:
    """The released prompts file, or a copy of its first ``limit`` rows (labels kept as text: "None" stays "None")."""
    if not limit:
        return DEV_CSV
    import pandas as pd

    source = folder / DEV_CSV.name
    pd.read_csv(DEV_CSV, dtype=str, keep_default_na=False).head(limit).to_csv(source, index=False)
    return source


def baseline_prompts_per_s(texts: list[str]) -> float:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(default_model_dir()), device="cpu", local_files_only=True)
    began = time.perf_counter()
    model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    return len(texts) / (time.perf_counter() - began)


# the engine cache and, since schema v18, the text vectors each stage reads back: both are cache
LABEL_TABLES = ("labels", "label_distributions", "semantic_types", "label_failures", "labelers", "engine_cache",
                "text_vectors")
SAVACU_PROMPTS = 382_000


def label_bytes(store: Store) -> int:
    sizes = store.table_bytes()
    return sum(sizes.get(t, 0) for t in LABEL_TABLES)


def v13_bytes(store: Store, labeler: str, folder: Path) -> int:
    """The same labels written as schema v13 did, in a store of that version: the baseline. Each cached
    answer's request preview is 500 characters, as v13 kept for the labelling requests."""
    import sqlite_utils

    from review_store.schema import MIGRATIONS

    old = sqlite_utils.Database(folder / "v13.db")
    for migration in MIGRATIONS[:13]:
        migration(old)
    old["prompts"].insert_all(({**r, "origin": "seed", "created_at": "2026-01-01T00:00:00Z"}
                               for r in store.prompts_page(limit=10**9)), batch_size=5000)
    now, version = "2026-01-01T00:00:00.000000Z", load_taxonomy().version
    assigned = {(p, d, domain) for p, d, domain, _ in store.assigned_labels(labeler)}
    rows, cache = [], []
    for dimension in ("safety", "value", "culture"):
        prompt_ids, domains, probabilities = store.label_distributions(labeler, dimension)
        for prompt_id, row in zip(prompt_ids, probabilities.tolist()):
            rows += [(prompt_id, dimension, d, p, labeler, version, now, int((prompt_id, dimension, d) in assigned))
                     for d, p in zip(domains, row) if p >= 0.01 or (prompt_id, dimension, d) in assigned]
            answer = json.dumps({d: round(p, 6) for d, p in zip(domains, row)})
            cache.append((content_id(prompt_id, dimension), "embed", labeler, "choice", "x" * 500, answer.encode(), now))
    old.conn.executemany("INSERT INTO labels (prompt_id, dimension, domain, probability, labeler, taxonomy_version, "
                         "created_at, assigned) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    old.conn.executemany("INSERT INTO engine_cache VALUES (?, ?, ?, ?, ?, ?, ?)", cache)
    old.conn.executemany("INSERT INTO semantic_types VALUES (?, ?, ?, ?)",
                         ((*row, labeler) for row in store.semantic_types_of(labeler)))
    old.conn.commit()
    sizes = {t: s for t, s in old.execute("SELECT COALESCE(m.tbl_name, s.name), SUM(s.pgsize) FROM dbstat s "
                                           "LEFT JOIN sqlite_schema m ON m.name = s.name GROUP BY 1")}
    old.close()
    return sum(sizes.get(t, 0) for t in LABEL_TABLES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--limit", type=int, default=None, help="label only the first N rows")
    args = parser.parse_args()
    if not DEV_CSV.is_file():
        sys.exit(f"skipped: {DEV_CSV} not found")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    taxonomy = load_taxonomy()
    with tempfile.TemporaryDirectory() as tmp:
        source = released_prompts(Path(tmp), args.limit)
        with Store(Path(tmp) / "bench.db") as store:
            ingest(store, taxonomy, options=IngestOptions(source, label_columns=LABELS))
            report = label(store, taxonomy, load_config(), LabelOptions(engine="embedded"))
            agreement = label_agreement(store, report.params["labeler"], f"imported:{DEV_CSV.name}", taxonomy,
                                        report.params["delta"])
            texts = [r["text"] for r in store.prompts_page(limit=10**9)]
            ours_bytes = label_bytes(store) / report.items_in
            before_bytes = v13_bytes(store, report.params["labeler"], Path(tmp)) / report.items_in
    ours = report.items_in / report.seconds
    baseline = baseline_prompts_per_s(texts)
    result = {"prompts": report.items_in, "labeler": report.params["labeler"], "ours_prompts_per_s": round(ours, 1),
              "ours_seconds": round(report.seconds, 1), "baseline_st_fp32_encode_per_s": round(baseline, 1),
              "speedup": round(ours / baseline, 2), "target_per_s": 200, "agreement": agreement,
              "store_bytes_per_prompt": round(ours_bytes), "v13_store_bytes_per_prompt": round(before_bytes),
              "store_gb_at_382k": round(ours_bytes * SAVACU_PROMPTS / 1e9, 2),
              "v13_store_gb_at_382k": round(before_bytes * SAVACU_PROMPTS / 1e9, 2), "target_bytes_per_prompt": 2048}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"labelling {result['prompts']:,} prompts with {result['labeler']} (3 dimensions + semantic type, stored)")
    print(f"{'method':58} {'prompts/s':>10}")
    print(f"{'baseline: sentence-transformers fp32, encode only':58} {baseline:10.1f}")
    print(f"{'misalign label, end to end':58} {ours:10.1f}   {result['speedup']}x baseline; target 200")
    print("\nstore bytes per prompt (labels, distributions, semantic types, engine cache, text vectors), target 2,048:")
    print(f"{'schema v13 layout (baseline)':58} {before_bytes:10,.0f}   {result['v13_store_gb_at_382k']} GB at 382k")
    print(f"{'now':58} {ours_bytes:10,.0f}   {result['store_gb_at_382k']} GB at 382k; "
          f"{before_bytes / ours_bytes:.1f}x smaller")
    print("\nagreement with the paper's labels (accuracy / macro-F1 / predicted None vs reference None):")
    for dimension, figures in agreement.items():
        print(f"  {dimension:8} n {figures['n']:6}  {figures['accuracy']:.3f} / {figures['macro_f1']:.3f} / "
              f"{figures['predicted_none']:.2f} vs {figures['reference_none']:.2f}")


if __name__ == "__main__":
    main()
