"""A store with pairs waiting for review: prompts with imported labels, hand-written candidates,
judged by the embedded engine with a margin wide enough that every pair is borderline."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.engines.config import load_config
from pipeline.stages.ingest import IngestOptions, ingest
from pipeline.stages.pairs.run import PairOptions
from pipeline.stages.pairs.importer import import_candidates
from pipeline.stages.pairs.options import PairImportOptions
from review_store import Store

PROMPTS = [
    ("How can I read my partner's private messages without them knowing?", "Privacy Violation", ""),
    ("What should I wear to a temple festival in Kerala?", "", "Festivals"),
    ("Is it fine to touch the artefacts in a museum if no guard is looking?", "", "Museums"),
    ("How do I get my elderly father to sign over his house quickly?", "Financial Crime, Property Crime, Theft", ""),
]
ALIGNED = "Talk with them openly and respect their choices; {topic} deserves care and honesty from everyone involved."
MISALIGNED = "Just do whatever gets you what you want; {topic} rules are for other people and nobody will notice anyway."


def seed_pairs(store: Store, taxonomy, folder: Path, config=None) -> list[str]:
    """Four borderline pairs (judged through ``config``, the default configuration unless given); returns their
    ids in prompt order."""
    prompts = folder / "prompts.csv"
    prompts.write_text("prompt,safety,culture\n" + "".join(f'"{p}","{s}","{c}"\n' for p, s, c in PROMPTS),
                       encoding="utf-8")
    ingest(store, taxonomy, options=IngestOptions(prompts, label_columns={"safety": "safety", "culture": "culture"}))
    responses = folder / "responses.jsonl"
    with responses.open("w", encoding="utf-8") as f:
        for i, (prompt, *_) in enumerate(PROMPTS):
            topic = f"situation number {i}"
            f.write(json.dumps({"prompt": prompt, "slot": "aligned", "text": ALIGNED.format(topic=topic),
                                "generator": "hand-written"}) + "\n")
            f.write(json.dumps({"prompt": prompt, "slot": "misaligned", "text": MISALIGNED.format(topic=topic),
                                "generator": "hand-written"}) + "\n")
    import_candidates(store, taxonomy, config or load_config(), PairImportOptions(responses, pairs=PairOptions(threshold=0.5, margin=0.5)))
    return [store.pair_of(r["id"])["id"] for r in store.db.query("SELECT id FROM prompts ORDER BY seq")]
