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
        the prompt's dedup cluster and fingerprint. What an export plans its splits from.

        >>> store.export_pair_table().to_dict("records")
        [{'id': 'pair1', 'prompt_id': 'p1', 'labeler': 'embed:default:softmax', 'status': 'accepted', 'human_status': None, 'in_pipeline': 1, 'in_human': 0, 'in_curated': 1, 'in_reviewed': 0, 'in_all': 1, 'cluster': 'p1', 'simhash': 1234567}]
        """
        sets = ", ".join(f"COALESCE(({where}), 0) AS in_{name}" for name, where in PAIR_SETS.items())  # NULL is out
        return pd.read_sql_query(
            f"SELECT p.id, p.prompt_id, p.labeler, p.status, p.human_status, {sets}, "
            "COALESCE(pr.cluster_id, p.prompt_id) AS cluster, pr.simhash "
            "FROM pairs p JOIN prompts pr ON pr.id = p.prompt_id "
            "WHERE p.aligned_id IS NOT NULL AND p.misaligned_id IS NOT NULL ORDER BY p.id", self.db.conn)

    def assigned_label_table(self) -> pd.DataFrame:
        """Assigned domains of every pair's labeler, most probable first per (prompt, labeler).

        >>> store.assigned_label_table().to_dict("records")
        [{'prompt_id': 'p1', 'labeler': 'embed:default:softmax', 'dimension': 'safety', 'domain': 'safety.privacy_violation', 'probability': 0.875}, {'prompt_id': 'p2', 'labeler': 'embed:default:softmax', 'dimension': 'culture', 'domain': 'culture.festivals', 'probability': 0.5625}]
        """
        return pd.read_sql_query(
            "SELECT l.prompt_id, b.name AS labeler, l.dimension, l.domain, l.probability FROM labels l "
            "JOIN labelers b ON b.id = l.labeler_id WHERE l.domain NOT IN ('none', 'unknown') "
            "AND b.name IN (SELECT DISTINCT labeler FROM pairs) "
            "ORDER BY l.prompt_id, labeler, l.probability DESC, l.dimension, l.domain", self.db.conn)

    def export_texts(self, pair_ids: list[str]) -> pd.DataFrame:
        """Per pair: the prompt, both responses, their generators, the misaligned one's kind (None when not
        said) and the pair judge's two scores.

        >>> row = store.export_texts(["pair1"]).iloc[0]
        >>> row["misalignment_kind"], float(row["aligned_judge_score"]), float(row["misaligned_judge_score"])
        ('harmful_compliance', 0.125, 0.875)
        """
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
        """Per pair: how many "valid pair" answers said yes and no (examples included).

        >>> store.pair_votes()
        {'pair1': {'yes': 1, 'no': 0}}
        """
        votes: dict = {}
        for pair_id, answer, n in self.db.execute(
                "SELECT i.pair_id, n.pair_valid, COUNT(*) FROM annotations n JOIN review_items i ON i.id = n.item_id "
                "WHERE i.pair_id IS NOT NULL GROUP BY i.pair_id, n.pair_valid"):
            votes.setdefault(pair_id, {"yes": 0, "no": 0})[answer] = n
        return votes

    def prompt_source_names(self) -> dict[str, list[str]]:
        """Per prompt: the names of the sources it was ingested from.

        >>> store.prompt_source_names()
        {'p1': ['prompts.csv'], 'p2': ['prompts.csv']}
        """
        found: dict = {}
        for prompt, source in self.db.execute("SELECT DISTINCT prompt_id, source FROM prompt_sources"):
            found.setdefault(prompt, []).append(source)
        return found

    def record_export(self, export: dict, splits: Iterable[tuple[str, str]]) -> None:
        """An export (id, created_at, out, params, counts) and where each pair went; a repeat replaces it.

        >>> store.record_export({"id": "exp1", "created_at": "2026-12-02", "out": "/data/split", "params": {"seed": 1},
        ...                      "counts": {"test": 1}}, [("pair1", "test")])
        >>> [(e["id"], e["params"], e["counts"]) for e in store.exports()], store.split_counts("exp1")
        ([('exp1', {'seed': 1}, {'test': 1})], {'test': 1})
        """
        self.db.execute("DELETE FROM splits WHERE export_id = ?", [export["id"]])
        self.db["exports"].upsert({**export, "params": json.dumps(export["params"], sort_keys=True),
                                   "counts": json.dumps(export["counts"], sort_keys=True)}, pk="id")
        self.db.conn.executemany("INSERT INTO splits (export_id, pair_id, split) VALUES (?, ?, ?)",
                                 ((export["id"], pair, split) for pair, split in splits))

    def export_at(self, out: str) -> bool:
        """Whether this store has exported to the folder ``out`` (an absolute path).

        >>> store.export_at("/data/split"), store.export_at("/data/other")
        (True, False)
        """
        return self.db.execute("SELECT 1 FROM exports WHERE out = ? LIMIT 1", [out]).fetchone() is not None

    def exports(self) -> list[dict]:
        """Every export made from this store (id, when, folder, settings, pairs per split), oldest first.

        >>> [(e["id"], e["out"], e["params"], e["counts"]) for e in store.exports()]
        [('exp1', '/data/split', {'seed': 0}, {'train': 1})]
        """
        return [{**r, "params": json.loads(r["params"]), "counts": json.loads(r["counts"])}
                for r in self.db.query("SELECT * FROM exports ORDER BY created_at, id")]

    def split_counts(self, export_id: str) -> dict[str, int]:
        """Pairs per split of an export.

        >>> store.split_counts("exp1")
        {'train': 1}
        >>> store.split_counts("no-such-export")
        {}
        """
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT split, COUNT(*) FROM splits WHERE export_id = ? GROUP BY split", [export_id])}
