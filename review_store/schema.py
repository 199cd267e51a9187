"""The store's schema as forward migrations: migration N takes a store from version N-1 to N.

A store newer than this code is refused rather than guessed at. Add a migration at the end;
never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


def _v1_prompts_labels_runs(db: sqlite_utils.Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["prompts"].create(
        {"id": str, "seq": int, "text": str, "origin": str, "parent_id": str, "created_at": str},
        pk="id",
        not_null={"seq", "text", "origin", "created_at"},
        foreign_keys=[("parent_id", "prompts", "id")],
    )
    db.execute(
        "CREATE TRIGGER prompts_origin_check BEFORE INSERT ON prompts "
        "WHEN NEW.origin NOT IN ('seed', 'expanded', 'imported') "
        "BEGIN SELECT RAISE(ABORT, 'prompts.origin must be seed, expanded or imported'); END"
    )
    db["prompts"].create_index(["seq"], unique=True)
    db["prompt_sources"].create(
        {"prompt_id": str, "source": str, "row": int},
        pk=("prompt_id", "source", "row"),
        foreign_keys=[("prompt_id", "prompts", "id")],
    )
    db["labels"].create(
        {
            "prompt_id": str,
            "dimension": str,
            "domain": str,
            "probability": float,
            "labeler": str,
            "taxonomy_version": str,
            "created_at": str,
        },
        pk=("prompt_id", "dimension", "domain", "labeler"),
        not_null={"probability", "taxonomy_version"},
        foreign_keys=[("prompt_id", "prompts", "id")],
    )
    db["labels"].create_index(["dimension", "domain"])
    db["labels"].create_index(["labeler"])
    db["stage_runs"].create(
        {
            "id": int,
            "stage": str,
            "started_at": str,
            "seconds": float,
            "items_in": int,
            "kept": int,
            "dropped": str,  # JSON: {reason: count}
            "params": str,  # JSON
            "notes": str,  # JSON: stage-specific figures
        },
        pk="id",
        not_null={"stage", "started_at"},
    )


def _v2_dedup(db: sqlite_utils.Database) -> None:
    # simhash: the fingerprint as a signed 64-bit integer; NULL with simhash_short = 1 for texts
    # too short to fingerprint. is_canonical: NULL until dedup has seen the prompt, 1 kept, 0 removed.
    db["prompts"].add_column("simhash", int)
    db["prompts"].add_column("simhash_short", int)
    db["prompts"].add_column("cluster_id", str)
    db["prompts"].add_column("is_canonical", int)
    db["prompts"].create_index(["is_canonical"])
    db["dedup_removals"].create(
        {
            "removed_id": str,
            "kept_id": str,
            "distance": int,
            "nearest_id": str,
            "nearest_distance": int,
            "run_id": int,
            "created_at": str,
        },
        pk="removed_id",
        foreign_keys=[("removed_id", "prompts", "id"), ("kept_id", "prompts", "id"),
                      ("nearest_id", "prompts", "id")],
    )
    db["dedup_removals"].create_index(["kept_id"])


def _v3_engine_cache(db: sqlite_utils.Database) -> None:
    db["engine_cache"].create(
        {"key": str, "backend": str, "model": str, "kind": str, "request": str, "response": bytes, "created_at": str},
        pk="key",
        not_null={"backend", "model", "kind", "request", "response"},
    )


def _v4_labelling(db: sqlite_utils.Database) -> None:
    # assigned: the label counts as the prompt's domain (imported labels always; model labels at delta)
    db["labels"].add_column("assigned", int, not_null_default=1)
    db["labels"].create_index(["labeler", "dimension", "assigned"])
    db.execute("DROP INDEX IF EXISTS idx_labels_labeler")  # the index above serves its queries
    db["labelers"].create(
        {"name": str, "engine": str, "backend": str, "model": str, "mode": str, "delta": float,
         "template_hash": str, "taxonomy_version": str, "created_at": str},
        pk="name",
    )
    db["semantic_types"].create(
        {"prompt_id": str, "type": str, "probability": float, "labeler": str},
        pk=("prompt_id", "type", "labeler"),
        foreign_keys=[("prompt_id", "prompts", "id")],
    )
    db["label_failures"].create(  # answers that could not be used: kept raw, counted as Unknown
        {"prompt_id": str, "dimension": str, "labeler": str, "raw": str, "reason": str, "created_at": str},
        pk=("prompt_id", "dimension", "labeler"),
        foreign_keys=[("prompt_id", "prompts", "id")],
    )


def _v5_expansion(db: sqlite_utils.Database) -> None:
    db["prompt_parents"].create(
        {"prompt_id": str, "parent_id": str}, pk=("prompt_id", "parent_id"),
        foreign_keys=[("prompt_id", "prompts", "id"), ("parent_id", "prompts", "id")])
    db["expansion_candidates"].create(  # every generated prompt, kept or not, with the reason
        {"id": str, "domain": str, "text": str, "status": str, "generator": str, "labeler": str,
         "round": int, "created_at": str},
        pk="id")
    db["expansion_candidates"].create_index(["domain", "status"])


def _v6_pairs(db: sqlite_utils.Database) -> None:
    db["candidates"].create(  # every response generated or imported for a slot, with its lineage
        {"id": str, "prompt_id": str, "slot": str, "text": str, "generator": str, "origin": str, "params": str,
         "attempt": int, "parent_id": str, "feedback": str, "finish_reason": str, "created_at": str},
        pk="id", not_null={"prompt_id", "slot", "text", "generator", "origin", "attempt"},
        foreign_keys=[("prompt_id", "prompts", "id"), ("parent_id", "candidates", "id")])
    db["candidates"].create_index(["prompt_id", "slot"])
    db.execute(
        "CREATE TRIGGER candidates_slot_check BEFORE INSERT ON candidates "
        "WHEN NEW.slot NOT IN ('aligned', 'misaligned') OR NEW.origin NOT IN ('generated', 'imported') "
        "BEGIN SELECT RAISE(ABORT, 'candidates.slot must be aligned or misaligned, origin generated or imported'); END")
    # stage 1: one row per rule that failed (or one 'pass' row); stage 2: the judge's verdict
    db["judgments"].create(
        {"candidate_id": str, "stage": int, "judge": str, "reason_code": str, "passed": int, "probability": float,
         "rationale": str, "created_at": str},
        pk=("candidate_id", "stage", "judge", "reason_code"), not_null={"passed"},
        foreign_keys=[("candidate_id", "candidates", "id")])
    db["pairs"].create(
        {"id": str, "prompt_id": str, "aligned_id": str, "misaligned_id": str, "status": str, "reason_codes": str,
         "audit": int, "labeler": str, "judge": str, "params": str, "created_at": str, "updated_at": str},
        pk="id", not_null={"prompt_id", "status", "reason_codes", "audit"},
        foreign_keys=[("prompt_id", "prompts", "id"), ("aligned_id", "candidates", "id"),
                      ("misaligned_id", "candidates", "id")])
    db["pairs"].create_index(["prompt_id"], unique=True)
    db["pairs"].create_index(["status"])
    db.execute(
        "CREATE TRIGGER pairs_status_check BEFORE INSERT ON pairs "
        "WHEN NEW.status NOT IN ('accepted', 'borderline', 'rejected') "
        "BEGIN SELECT RAISE(ABORT, 'pairs.status must be accepted, borderline or rejected'); END")


def _v7_review(db: sqlite_utils.Database) -> None:
    db["panels"].create({"name": str, "description": str, "min_submissions": int, "created_at": str}, pk="name",
                        not_null={"min_submissions"})
    db["annotators"].create(  # every attribute optional: annotators say what they choose to
        {"name": str, "argilla_username": str, "locale": str, "culture": str, "language": str, "gender": str,
         "age_band": str, "is_example": int, "created_at": str}, pk="name")
    db["panel_members"].create({"panel": str, "annotator": str}, pk=("panel", "annotator"),
                               foreign_keys=[("panel", "panels", "name"), ("annotator", "annotators", "name")])
    db["review_items"].create(  # one item per (queue, panel, prompt): what a panel is asked to review, and why
        {"id": str, "queue": str, "panel": str, "prompt_id": str, "pair_id": str, "reason": str, "backend": str,
         "external_id": str, "pushed_at": str, "created_at": str},
        pk="id", not_null={"queue", "panel", "prompt_id", "reason"},
        foreign_keys=[("panel", "panels", "name"), ("prompt_id", "prompts", "id"), ("pair_id", "pairs", "id")])
    db["review_items"].create_index(["panel", "queue"])
    db["review_items"].create_index(["pair_id"])
    db["annotations"].create(
        {"item_id": str, "annotator": str, "pair_valid": str, "aligned_acceptable": str, "misaligned_dimensions": str,
         "corrected_response": str, "comment": str, "backend": str, "submitted_at": str, "is_example": int},
        pk=("item_id", "annotator"), not_null={"submitted_at"},
        foreign_keys=[("item_id", "review_items", "id"), ("annotator", "annotators", "name")])
    db["adjudications"].create(
        {"pair_id": str, "status": str, "adjudicator": str, "note": str, "created_at": str}, pk="pair_id",
        foreign_keys=[("pair_id", "pairs", "id")])
    # the people's verdict, which overrides the pipeline's status wherever it is set
    db["pairs"].add_column("human_status", str)
    db["pairs"].create_index(["human_status"])


def _v8_bench(db: sqlite_utils.Database) -> None:
    # a run's id hashes what decides its answers, so running the same benchmark again resumes it
    db["bench_runs"].create(
        {"id": str, "group_id": str, "run_index": int, "protocol": str, "engine": str, "backend": str, "model": str,
         "judge": str, "pairs": str, "params": str, "created_at": str, "seconds": float},
        pk="id", not_null={"group_id", "run_index", "protocol", "engine", "model", "pairs"})
    db["bench_runs"].create_index(["group_id"])
    db["bench_results"].create(
        {"run_id": str, "pair_id": str, "slot": str, "flagged": int, "probability": float, "dimensions": str,
         "dimension_probabilities": str, "raw": str},
        pk=("run_id", "pair_id", "slot"), not_null={"flagged"},
        foreign_keys=[("run_id", "bench_runs", "id"), ("pair_id", "pairs", "id")])
    # figures computed once per benchmark (group of runs), so reading them per domain is one indexed lookup
    db["bench_summaries"].create(
        {"group_id": str, "scope": str, "key": str, "metrics": str},
        pk=("group_id", "scope", "key"))


def _v9_splits(db: sqlite_utils.Database) -> None:
    db["exports"].create({"id": str, "created_at": str, "out": str, "params": str, "counts": str}, pk="id")
    db["splits"].create({"export_id": str, "pair_id": str, "split": str}, pk=("export_id", "pair_id"),
                        not_null={"split"},
                        foreign_keys=[("export_id", "exports", "id"), ("pair_id", "pairs", "id")])
    db["splits"].create_index(["pair_id"])


def _v10_domain_index(db: sqlite_utils.Database) -> None:
    # the app's Domains page reads one domain of one labeler at a time
    db["labels"].create_index(["domain", "labeler", "assigned"])


def _v11_overview_indexes(db: sqlite_utils.Database) -> None:
    # covering indexes: the overview's counts read an index instead of every row
    db["labels"].create_index(["assigned", "labeler", "dimension", "domain"])
    db["candidates"].create_index(["slot", "origin", "attempt"])
    db["prompts"].create_index(["origin"])
    db["pairs"].create_index(["status", "audit"])


def _v12_unusable_bench_answers(db: sqlite_utils.Database) -> None:
    # an answer that is not a probability is kept (raw) and left out of the figures, never read as "no"
    db["bench_results"].add_column("usable", int, not_null_default=1)


def _v13_label_models(db: sqlite_utils.Database) -> None:
    # a learned labelling model's fitted model (arrays, no pickle) with its provenance, reused while its inputs hold
    db["label_models"].create(
        {"id": str, "labeler": str, "params": str, "provenance": str, "model": bytes, "created_at": str},
        pk="id", not_null={"labeler", "params", "provenance", "model"})


def _v14_compact_labels(db: sqlite_utils.Database) -> None:
    # A labelling run stored ~69 rows per prompt (every domain at 1%, with its labeler's name, taxonomy
    # version and time on each): 52 KB a prompt. Now: the assigned domains only, keyed by a small
    # labeler id, and each (prompt, dimension)'s whole distribution as one float16 blob laid out as the
    # labeler's ``domains`` say.
    db["labelers"].add_column("id", int)
    db["labelers"].add_column("domains", str)  # JSON {dimension: [domain ids…, 'none']}: the blobs' layout
    db.execute("INSERT INTO labelers (name, engine, taxonomy_version, created_at) "
               "SELECT labeler, CASE WHEN labeler LIKE 'imported:%' THEN 'imported' END, MIN(taxonomy_version), "
               "MIN(created_at) FROM labels WHERE labeler NOT IN (SELECT name FROM labelers) GROUP BY labeler")
    db.execute("UPDATE labelers SET id = (SELECT COUNT(*) FROM labelers b WHERE b.rowid <= labelers.rowid)")
    db.execute("CREATE UNIQUE INDEX idx_labelers_id ON labelers (id)")
    db.execute("UPDATE labelers SET domains = (SELECT json_group_object(dimension, json(domains)) FROM "
               "(SELECT dimension, json_group_array(domain) AS domains FROM "
               "(SELECT DISTINCT dimension, domain FROM labels WHERE labeler = labelers.name AND domain != 'unknown' "
               "ORDER BY dimension, domain = 'none', domain) GROUP BY dimension)) "
               "WHERE name IN (SELECT labeler FROM labels WHERE assigned = 0)")
    db.execute("CREATE TABLE label_distributions (labeler_id INTEGER NOT NULL, dimension TEXT NOT NULL, "
               "prompt_id TEXT NOT NULL REFERENCES prompts(id), probabilities BLOB NOT NULL, "
               "PRIMARY KEY (labeler_id, dimension, prompt_id)) WITHOUT ROWID")
    db.execute("CREATE TABLE assigned_labels (prompt_id TEXT NOT NULL REFERENCES prompts(id), "
               "labeler_id INTEGER NOT NULL, dimension TEXT NOT NULL, domain TEXT NOT NULL, probability REAL NOT NULL, "
               "PRIMARY KEY (prompt_id, labeler_id, dimension, domain)) WITHOUT ROWID")
    db.execute("INSERT INTO assigned_labels SELECT l.prompt_id, b.id, l.dimension, l.domain, l.probability "
               "FROM labels l JOIN labelers b ON b.name = l.labeler WHERE l.assigned = 1")
    _distributions_from_rows(db)
    db.execute("DROP TABLE labels")
    db.execute("ALTER TABLE assigned_labels RENAME TO labels")
    # covers counts per labeler, a domain's prompts and a labeler's prompts (the primary key holds the rest)
    db.execute("CREATE INDEX idx_labels_labeler_domain ON labels (labeler_id, domain, dimension)")


def _distributions_from_rows(db: sqlite_utils.Database) -> None:
    """The blobs of model labelers' rows (unassigned rows are what only a model writes); a domain
    without a row was under the old 1% floor and reads as 0."""
    import itertools
    import json

    import numpy as np

    layouts = {name: (labeler_id, json.loads(domains)) for name, labeler_id, domains in
               db.execute("SELECT name, id, domains FROM labelers WHERE domains IS NOT NULL")}
    rows = db.execute(
        "SELECT labeler, prompt_id, dimension, domain, probability FROM labels WHERE labeler IN "
        "(SELECT name FROM labelers WHERE domains IS NOT NULL) AND domain != 'unknown' "
        "ORDER BY labeler, prompt_id, dimension")
    blobs = []
    for (name, prompt_id, dimension), group in itertools.groupby(rows, key=lambda r: r[:3]):
        labeler_id, domains = layouts[name]
        dense = np.zeros(len(domains[dimension]), dtype=np.float16)
        for *_, domain, probability in group:
            dense[domains[dimension].index(domain)] = probability
        blobs.append((labeler_id, dimension, prompt_id, dense.tobytes()))
    db.conn.executemany("INSERT INTO label_distributions VALUES (?, ?, ?, ?)", blobs)


def _v15_label_review(db: sqlite_utils.Database) -> None:
    # answers to the label_review queue: {dimension: domain id or 'none', 'semantic_type': type} per annotator
    db["annotations"].add_column("labels", str)


def _v16_labelled_responses(db: sqlite_utils.Database) -> None:
    # model responses people labelled (from outside: a released set, one's own runs), benchmarked as they are
    db["responses"].create(
        {"id": str, "prompt_id": str, "text": str, "model": str, "verdict": str, "dimensions": str, "kind": str,
         "finish_reason": str, "votes": str, "source": str, "row": int, "created_at": str},
        pk="id", not_null={"prompt_id", "text", "model", "verdict", "dimensions", "votes"},
        foreign_keys=[("prompt_id", "prompts", "id")])
    db["responses"].create_index(["prompt_id"])
    db.execute(
        "CREATE TRIGGER responses_verdict_check BEFORE INSERT ON responses "
        "WHEN NEW.verdict NOT IN ('aligned', 'misaligned') "
        "BEGIN SELECT RAISE(ABORT, 'responses.verdict must be aligned or misaligned'); END")
    # what a benchmark's items are: the pairs of a pair set, or labelled responses
    db["bench_runs"].add_column("items", str, not_null_default="pairs")
    # how a misaligned candidate is misaligned (a misalignment kind of the taxonomy); its pair's kind
    db["candidates"].add_column("kind", str)
    db["bench_response_results"].create(
        {"run_id": str, "response_id": str, "flagged": int, "probability": float, "dimensions": str,
         "dimension_probabilities": str, "raw": str, "usable": int},
        pk=("run_id", "response_id"), not_null={"flagged", "usable"},
        foreign_keys=[("run_id", "bench_runs", "id"), ("response_id", "responses", "id")])


def _v17_one_truth_with_argilla(db: sqlite_utils.Database) -> None:
    # whether a panel sees the judge's verdicts pre-selected as answers (anchoring) or only beside the item
    db["panels"].add_column("show_suggestions", int, not_null_default=0)
    # when an answer given in the app was sent to Argilla as that annotator's response (so the
    # item is no longer pending for them there)
    db["annotations"].add_column("mirrored_at", str)


def _v18_text_vectors(db: sqlite_utils.Database) -> None:
    # a local embedding model's vectors, keyed by a 64-bit hash of (model, text): each text is embedded
    # once for every stage that compares it (labelling, the similarity judge, the embedded detector)
    db["text_vectors"].create({"id": int, "vector": bytes}, pk="id", not_null={"vector"})


def _v19_compact_semantic_types(db: sqlite_utils.Database) -> None:
    # semantic types as labels are kept: a small labeler id instead of its name on every row, no rowid
    # (588 bytes a prompt for a labelling model's three type probabilities; now about a quarter of that)
    for (name,) in db.execute("SELECT DISTINCT labeler FROM semantic_types WHERE labeler NOT IN "
                              "(SELECT name FROM labelers) ORDER BY labeler").fetchall():
        db.execute("INSERT INTO labelers (id, name, engine) SELECT COALESCE(MAX(id), 0) + 1, ?, ? FROM labelers",
                   [name, name.split(":")[0] if name.startswith(("imported:", "human:")) else None])
    db.execute("CREATE TABLE compact_semantic_types (prompt_id TEXT NOT NULL REFERENCES prompts(id), "
               "labeler_id INTEGER NOT NULL, type TEXT NOT NULL, probability REAL NOT NULL, "
               "PRIMARY KEY (prompt_id, labeler_id, type)) WITHOUT ROWID")
    db.execute("INSERT INTO compact_semantic_types SELECT s.prompt_id, b.id, s.type, s.probability "
               "FROM semantic_types s JOIN labelers b ON b.name = s.labeler")
    db.execute("DROP TABLE semantic_types")
    db.execute("ALTER TABLE compact_semantic_types RENAME TO semantic_types")


def _v20_answer_history(db: sqlite_utils.Database) -> None:
    # people's answers are never lost: an answer replaced (by the same person answering again, in the app
    # or in Argilla) is kept, with when it was replaced and by what; an annotator's attributes changed by
    # an explicit edit are kept the same way. Triggers, so no path that writes can forget.
    now = "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')"
    answer = ("pair_valid", "aligned_acceptable", "misaligned_dimensions", "corrected_response", "comment", "labels")
    db["annotation_history"].create(
        {"item_id": str, "annotator": str, **dict.fromkeys(answer, str), "backend": str, "submitted_at": str,
         "is_example": int, "replaced_at": str, "replaced_by": str}, not_null={"item_id", "annotator", "replaced_at"})
    db["annotation_history"].create_index(["item_id", "annotator"])
    kept = ", ".join(("item_id", "annotator", *answer, "backend", "submitted_at", "is_example"))
    db.execute(
        f"CREATE TRIGGER annotation_replaced BEFORE UPDATE OF {', '.join(answer)}, submitted_at ON annotations "
        f"BEGIN INSERT INTO annotation_history ({kept}, replaced_at, replaced_by) "
        f"VALUES ({', '.join('OLD.' + c for c in kept.split(', '))}, {now}, NEW.backend); END")
    attributes = ("argilla_username", "locale", "culture", "language", "gender", "age_band")
    db["annotator_history"].create({"annotator": str, **dict.fromkeys(attributes, str), "changed_at": str},
                                   not_null={"annotator", "changed_at"})
    db.execute(
        f"CREATE TRIGGER annotator_changed BEFORE UPDATE OF {', '.join(attributes)} ON annotators "
        f"BEGIN INSERT INTO annotator_history (annotator, {', '.join(attributes)}, changed_at) "
        f"VALUES (OLD.name, {', '.join('OLD.' + c for c in attributes)}, {now}); END")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _v1_prompts_labels_runs,
    _v2_dedup,
    _v3_engine_cache,
    _v4_labelling,
    _v5_expansion,
    _v6_pairs,
    _v7_review,
    _v8_bench,
    _v9_splits,
    _v10_domain_index,
    _v11_overview_indexes,
    _v12_unusable_bench_answers,
    _v13_label_models,
    _v14_compact_labels,
    _v15_label_review,
    _v16_labelled_responses,
    _v17_one_truth_with_argilla,
    _v18_text_vectors,
    _v19_compact_semantic_types,
    _v20_answer_history,
]
SCHEMA_VERSION = len(MIGRATIONS)
