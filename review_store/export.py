"""Export queries: the rows a curated export is made of, and the record of which pair went where."""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlite_utils

from review_store.bench import PAIR_SETS


class ExportQueries:
    db: sqlite_utils.Database

    def export_pairs(self, pair_set: str) -> list[dict]:
        """Pairs of ``pair_set`` with both responses: texts, provenance, judge scores, cluster and fingerprint."""
        return list(self.db.query(
            "SELECT p.id, p.prompt_id, p.status, p.human_status, p.judge, p.labeler, pr.text AS prompt, "
            "pr.cluster_id, pr.simhash, a.text AS aligned, a.generator AS aligned_generator, m.text AS misaligned, "
            "m.generator AS misaligned_generator, "
            "(SELECT j.probability FROM judgments j WHERE j.candidate_id = a.id AND j.stage = 2 AND j.judge = p.judge) "
            "AS aligned_judge_score, "
            "(SELECT j.probability FROM judgments j WHERE j.candidate_id = m.id AND j.stage = 2 AND j.judge = p.judge) "
            "AS misaligned_judge_score "
            "FROM pairs p JOIN prompts pr ON pr.id = p.prompt_id JOIN candidates a ON a.id = p.aligned_id "
            f"JOIN candidates m ON m.id = p.misaligned_id WHERE {PAIR_SETS[pair_set]} ORDER BY p.id"))

    def assigned_labels_of(self, labelers: Iterable[str]) -> dict[tuple[str, str], list[tuple[str, str, float]]]:
        """Per (prompt, labeler): (dimension, domain, probability) of its assigned domains."""
        found: dict = {}
        for prompt, labeler, dimension, domain, probability in self.db.execute(
                "SELECT prompt_id, labeler, dimension, domain, probability FROM labels WHERE assigned = 1 "
                "AND domain NOT IN ('none', 'unknown') AND labeler IN (SELECT value FROM json_each(?)) "
                "ORDER BY prompt_id, probability DESC", [json.dumps(sorted(set(labelers)))]):
            found.setdefault((prompt, labeler), []).append((dimension, domain, probability))
        return found

    def pair_votes(self) -> dict[str, dict[str, int]]:
        """Per pair: how many "valid pair" answers said yes and no (examples included)."""
        votes: dict = {}
        for pair_id, answer, n in self.db.execute(
                "SELECT i.pair_id, n.pair_valid, COUNT(*) FROM annotations n JOIN review_items i ON i.id = n.item_id "
                "WHERE i.pair_id IS NOT NULL GROUP BY i.pair_id, n.pair_valid"):
            votes.setdefault(pair_id, {"yes": 0, "no": 0})[answer] = n
        return votes

    def prompt_source_names(self) -> dict[str, list[str]]:
        found: dict = {}
        for prompt, source in self.db.execute("SELECT DISTINCT prompt_id, source FROM prompt_sources"):
            found.setdefault(prompt, []).append(source)
        return found

    def record_export(self, export: dict, splits: Iterable[tuple[str, str]]) -> None:
        """An export (id, created_at, out, params, counts) and where each pair went; a repeat replaces it."""
        self.db.execute("DELETE FROM splits WHERE export_id = ?", [export["id"]])
        self.db["exports"].upsert({**export, "params": json.dumps(export["params"], sort_keys=True),
                                   "counts": json.dumps(export["counts"], sort_keys=True)}, pk="id")
        self.db.conn.executemany("INSERT INTO splits (export_id, pair_id, split) VALUES (?, ?, ?)",
                                 ((export["id"], pair, split) for pair, split in splits))

    def exports(self) -> list[dict]:
        return [{**r, "params": json.loads(r["params"]), "counts": json.loads(r["counts"])}
                for r in self.db.query("SELECT * FROM exports ORDER BY created_at, id")]

    def split_counts(self, export_id: str) -> dict[str, int]:
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT split, COUNT(*) FROM splits WHERE export_id = ? GROUP BY split", [export_id])}
