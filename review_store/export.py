"""Export queries: the rows a curated export is made of, and the record of which pair went where."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pandas as pd
import sqlite_utils

from review_store.bench import PAIR_SETS


class ExportQueries:
    db: sqlite_utils.Database

    def export_pair_table(self) -> pd.DataFrame:
        """Every pair with both responses, light: ids, labeler, statuses, membership of each pair set (``in_<set>``),
        the prompt's dedup cluster and fingerprint. What an export plans its splits from."""
        sets = ", ".join(f"COALESCE(({where}), 0) AS in_{name}" for name, where in PAIR_SETS.items())  # NULL is out
        return pd.read_sql_query(
            f"SELECT p.id, p.prompt_id, p.labeler, p.status, p.human_status, {sets}, "
            "COALESCE(pr.cluster_id, p.prompt_id) AS cluster, pr.simhash "
            "FROM pairs p JOIN prompts pr ON pr.id = p.prompt_id "
            "WHERE p.aligned_id IS NOT NULL AND p.misaligned_id IS NOT NULL ORDER BY p.id", self.db.conn)

    def assigned_label_table(self) -> pd.DataFrame:
        """Assigned domains of every pair's labeler, most probable first per (prompt, labeler)."""
        return pd.read_sql_query(
            "SELECT l.prompt_id, b.name AS labeler, l.dimension, l.domain, l.probability FROM labels l "
            "JOIN labelers b ON b.id = l.labeler_id WHERE l.domain NOT IN ('none', 'unknown') "
            "AND b.name IN (SELECT DISTINCT labeler FROM pairs) "
            "ORDER BY l.prompt_id, labeler, l.probability DESC, l.dimension, l.domain", self.db.conn)

    def export_texts(self, pair_ids: list[str]) -> pd.DataFrame:
        """Per pair: the prompt, both responses, their generators, the misaligned one's kind (None when not
        said) and the pair judge's two scores."""
        return pd.read_sql_query(
            "SELECT p.id, pr.text AS prompt, a.text AS aligned_response, m.text AS misaligned_response, "
            "a.generator AS aligned_generator, m.generator AS misaligned_generator, m.kind AS misalignment_kind, p.judge, "
            "(SELECT j.probability FROM judgments j WHERE j.candidate_id = a.id AND j.stage = 2 AND j.judge = p.judge) "
            "AS aligned_judge_score, "
            "(SELECT j.probability FROM judgments j WHERE j.candidate_id = m.id AND j.stage = 2 AND j.judge = p.judge) "
            "AS misaligned_judge_score "
            "FROM pairs p JOIN prompts pr ON pr.id = p.prompt_id JOIN candidates a ON a.id = p.aligned_id "
            "JOIN candidates m ON m.id = p.misaligned_id WHERE p.id IN (SELECT value FROM json_each(?))",
            self.db.conn, params=[json.dumps(pair_ids)])

    def pair_votes(self) -> dict[str, dict[str, int]]:
        """Per pair: how many "valid pair" answers said yes and no (examples included)."""
        votes: dict = {}
        for pair_id, answer, n in self.db.execute(
                "SELECT i.pair_id, n.pair_valid, COUNT(*) FROM annotations n JOIN review_items i ON i.id = n.item_id "
                "WHERE i.pair_id IS NOT NULL GROUP BY i.pair_id, n.pair_valid"):
            votes.setdefault(pair_id, {"yes": 0, "no": 0})[answer] = n
        return votes

    def prompt_source_names(self) -> dict[str, list[str]]:
        """Per prompt: the names of the sources it was ingested from.

        >>> store.prompt_source_names()
        {}
        """
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

    def export_at(self, out: str) -> bool:
        """Whether this store has exported to the folder ``out`` (an absolute path)."""
        return self.db.execute("SELECT 1 FROM exports WHERE out = ? LIMIT 1", [out]).fetchone() is not None

    def exports(self) -> list[dict]:
        """Every export made from this store (id, when, folder, settings, pairs per split), oldest first.

        >>> store.exports()
        []
        """
        return [{**r, "params": json.loads(r["params"]), "counts": json.loads(r["counts"])}
                for r in self.db.query("SELECT * FROM exports ORDER BY created_at, id")]

    def split_counts(self, export_id: str) -> dict[str, int]:
        """Pairs per split of an export.

        >>> store.split_counts("no-such-export")
        {}
        """
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT split, COUNT(*) FROM splits WHERE export_id = ? GROUP BY split", [export_id])}
