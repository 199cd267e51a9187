"""Label queries: domain probabilities per (prompt, dimension, domain, labeler)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import sqlite_utils

from review_store.rows import insert_new, prompt_pages

NON_DOMAIN_LABELS = ("none", "unknown")


class LabelQueries:
    db: sqlite_utils.Database

    def add_labels(self, rows: Iterable[dict]) -> int:
        """Add labels (prompt_id, dimension, domain, probability, labeler, taxonomy_version, created_at).

        A label already stored for the same (prompt, dimension, domain, labeler) is kept as it was.
        Returns how many were new.
        """
        # plain executemany: a labelling run writes about a million of these
        before = self.db.conn.total_changes
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO labels (prompt_id, dimension, domain, probability, labeler, taxonomy_version, "
            "created_at, assigned) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((r["prompt_id"], r["dimension"], r["domain"], r["probability"], r["labeler"], r["taxonomy_version"],
              r["created_at"], r.get("assigned", 1)) for r in rows))
        return self.db.conn.total_changes - before

    def label_counts(self) -> dict:
        """Per labeler and dimension: prompts assigned to each domain, and the None / Unknown counts apart.

        >>> store.add_prompts([{"id": "p1", "text": "Hi", "origin": "seed"}], created_at="2026-01-01")
        1
        >>> store.add_labels([{"prompt_id": "p1", "dimension": "safety", "domain": "safety.self_harm", "probability": 1.0,
        ...                    "labeler": "imported:dev.csv", "taxonomy_version": "1.0.0", "created_at": "2026-01-01"}])
        1
        >>> store.label_counts()
        {'imported:dev.csv': {'safety': {'domains': {'safety.self_harm': 1}, 'none': 0, 'unknown': 0}}}
        """
        counts: dict = {}
        for row in self.db.query(
            "SELECT labeler, dimension, domain, COUNT(*) AS n FROM labels WHERE assigned = 1 "
            "GROUP BY labeler, dimension, domain ORDER BY labeler, dimension, n DESC, domain"
        ):
            dim = counts.setdefault(row["labeler"], {}).setdefault(
                row["dimension"], {"domains": {}, "none": 0, "unknown": 0})
            if row["domain"] in NON_DOMAIN_LABELS:
                dim[row["domain"]] = row["n"]
            else:
                dim["domains"][row["domain"]] = row["n"]
        return counts

    def prompts_without_labels(self, labeler: str, batch: int = 256) -> Iterator[list[dict]]:
        """Batches of (id, seq, text) of prompts that ``labeler`` has not labelled yet, in seq order."""
        return prompt_pages(self.db, "NOT EXISTS (SELECT 1 FROM labels l WHERE l.prompt_id = p.id AND +l.labeler = ?)",
                            [labeler], batch)

    def count_prompts_without_labels(self, labeler: str) -> int:
        return self.db.execute(
            "SELECT COUNT(*) FROM prompts p WHERE NOT EXISTS "
            "(SELECT 1 FROM labels l WHERE l.prompt_id = p.id AND +l.labeler = ?)", [labeler]).fetchone()[0]

    def has_labels(self, labeler: str) -> bool:
        """Whether ``labeler`` has assigned any label (what ``label_counts`` would list)."""
        return self.db.execute("SELECT 1 FROM labels WHERE labeler = ? AND assigned = 1 LIMIT 1",
                               [labeler]).fetchone() is not None

    def labelers_with_labels(self) -> list[str]:
        """Names of every labeler that has assigned a label."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT labeler FROM labels WHERE assigned = 1 ORDER BY labeler")]

    def training_labels(self, labelers: list[str]) -> list[dict]:
        """Assigned labels (not Unknown) of ``labelers``, with each prompt's text and dedup cluster:
        what a learned labeller is fitted on. A prompt labelled by several labelers appears once per labeler."""
        return list(self.db.query(
            "SELECT l.prompt_id, p.text, COALESCE(p.cluster_id, p.id) AS cluster, l.labeler, l.dimension, l.domain "
            "FROM labels l JOIN prompts p ON p.id = l.prompt_id "
            "WHERE l.assigned = 1 AND l.domain != 'unknown' AND l.labeler IN (SELECT value FROM json_each(?)) "
            "ORDER BY p.seq, l.dimension, l.domain", [json.dumps(labelers)]))

    def training_types(self, labelers: list[str]) -> list[dict]:
        """Each prompt's most probable semantic type by any of ``labelers`` (prompt_id, labeler, type)."""
        return list(self.db.query(
            "SELECT prompt_id, labeler, type FROM (SELECT prompt_id, labeler, type, ROW_NUMBER() OVER "
            "(PARTITION BY prompt_id, labeler ORDER BY probability DESC, type) AS n FROM semantic_types "
            "WHERE labeler IN (SELECT value FROM json_each(?))) WHERE n = 1", [json.dumps(labelers)]))

    def save_label_model(self, row: dict) -> None:
        """A fitted labeller (id, labeler, params, provenance, model bytes, created_at); a repeat is kept as it was."""
        self.db["label_models"].insert({**row, "params": json.dumps(row["params"], sort_keys=True),
                                        "provenance": json.dumps(row["provenance"], sort_keys=True)}, ignore=True)

    def label_model(self, model_id: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM label_models WHERE id = ?", [model_id]))
        return {**rows[0], "params": json.loads(rows[0]["params"]),
                "provenance": json.loads(rows[0]["provenance"])} if rows else None

    def labeler(self, name: str) -> dict | None:
        """The provenance of a labeler (engine, backend, model, mode, delta, template hash, taxonomy version)."""
        rows = list(self.db.query("SELECT * FROM labelers WHERE name = ?", [name]))
        return rows[0] if rows else None

    def add_labeler(self, row: dict) -> None:
        self.db["labelers"].insert(row, ignore=True)

    def add_semantic_types(self, rows: Iterable[dict]) -> int:
        """Semantic type probabilities (prompt_id, type, probability, labeler)."""
        return insert_new(self.db, "semantic_types", rows)

    def add_label_failures(self, rows: Iterable[dict]) -> int:
        """Answers that could not be used (prompt_id, dimension, labeler, raw, reason, created_at)."""
        return insert_new(self.db, "label_failures", rows)

    def assigned_labels(self, labeler: str) -> Iterator[tuple[str, str, str, float]]:
        """(prompt id, dimension, domain, probability) of every assigned label of ``labeler``."""
        yield from self.db.execute(
            "SELECT prompt_id, dimension, domain, probability FROM labels WHERE labeler = ? AND assigned = 1",
            [labeler])

    def label_probabilities(self, labeler: str, dimension: str) -> Iterator[tuple[str, str, float]]:
        """(prompt id, domain, probability) of every stored label of ``labeler`` in ``dimension``, assigned or not."""
        yield from self.db.execute("SELECT prompt_id, domain, probability FROM labels WHERE labeler = ? AND dimension = ?",
                                   [labeler, dimension])

    def top_semantic_types(self, prompt_ids: list[str] | None = None) -> dict[str, str]:
        """Per prompt (default: every prompt): its most probable semantic type over every labeler."""
        where, params = ("WHERE prompt_id IN (SELECT value FROM json_each(?))", [json.dumps(prompt_ids)]) \
            if prompt_ids is not None else ("", [])
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT prompt_id, type FROM (SELECT prompt_id, type, ROW_NUMBER() OVER (PARTITION BY prompt_id "
            f"ORDER BY probability DESC, type) AS rank FROM semantic_types {where}) WHERE rank = 1", params)}

    def semantic_type_counts(self) -> dict:
        """Per labeler: prompts whose most probable semantic type is each type."""
        counts: dict = {}
        for row in self.db.query(
            "SELECT labeler, type, COUNT(*) AS n FROM (SELECT prompt_id, labeler, type, "
            "ROW_NUMBER() OVER (PARTITION BY prompt_id, labeler ORDER BY probability DESC, type) AS rank "
            "FROM semantic_types) WHERE rank = 1 GROUP BY labeler, type ORDER BY labeler, type"):
            counts.setdefault(row["labeler"], {})[row["type"]] = row["n"]
        return counts

    def label_failure_counts(self) -> dict:
        """Per labeler and reason: answers kept raw and counted as Unknown."""
        counts: dict = {}
        for row in self.db.query(
            "SELECT labeler, reason, COUNT(*) AS n FROM label_failures GROUP BY labeler, reason"):
            counts.setdefault(row["labeler"], {})[row["reason"]] = row["n"]
        return counts
