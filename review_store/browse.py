"""Browsing queries for the app: one domain's counts, probabilities, semantic types and pairs."""

from __future__ import annotations

import json

import numpy as np
import sqlite_utils

from review_store.labels import LABELER_ID
from review_store.rows import KEPT

_PAIR_COLUMNS = ("x.id, x.status, x.human_status, x.reason_codes, pr.text AS prompt, a.text AS aligned, "
                 "m.text AS misaligned, (SELECT group_concat(n.annotator || CASE WHEN n.is_example = 1 THEN ' (example)' ELSE '' END "
                 "|| ': ' || n.pair_valid, '; ') FROM annotations n JOIN review_items i ON i.id = n.item_id WHERE i.pair_id = x.id) AS human_verdicts")
_PAIR_JOINS = ("JOIN prompts pr ON pr.id = x.prompt_id LEFT JOIN candidates a ON a.id = x.aligned_id "
               "LEFT JOIN candidates m ON m.id = x.misaligned_id")


class BrowseQueries:
    db: sqlite_utils.Database

    def domain_summary(self, labeler: str, domain: str) -> dict:
        """Kept prompts assigned to the domain, their pairs by pipeline and human status (one pass).

        >>> store.domain_summary("embed:default:softmax", "safety.privacy_violation")
        {'prompts': 1, 'pairs': {'accepted': 1}, 'human': {}}
        """
        prompts, statuses, human = 0, {}, {}
        for kept, status, human_status, n in self.db.execute(
                f"SELECT {KEPT} AS kept, x.status, x.human_status, COUNT(*) FROM labels l "
                "JOIN prompts p ON p.id = l.prompt_id LEFT JOIN pairs x ON x.prompt_id = l.prompt_id "
                f"AND x.labeler = ? WHERE l.labeler_id = {LABELER_ID} AND l.domain = ? GROUP BY 1, 2, 3",
                [labeler, labeler, domain]):
            prompts += n if kept else 0
            if status:
                statuses[status] = statuses.get(status, 0) + n
            if human_status:
                human[human_status] = human.get(human_status, 0) + n
        return {"prompts": prompts, "pairs": statuses, "human": human}

    def domain_probability_histogram(self, labeler: str, domain: str, bins: int = 20,
                                     floor: float = 0.01) -> dict[float, int]:
        """The labeler's probabilities of the domain of at least ``floor`` (assigned or not), counted in ``bins``
        equal bins: {bin start: count}.

        >>> store.domain_probability_histogram("embed:default:softmax", "culture.festivals", bins=4)
        {0.0: 1, 0.5: 1}
        """
        layout = (self.labeler(labeler) or {}).get("domains") or {}
        dimension = next((d for d, order in layout.items() if domain in order), None)
        if dimension is None:  # no stored distributions: the assigned labels' probabilities
            probabilities = np.array([r[0] for r in self.db.execute(
                f"SELECT probability FROM labels WHERE labeler_id = {LABELER_ID} AND domain = ?", [labeler, domain])])
        else:
            _, domains, matrix = self.label_distributions(labeler, dimension)
            probabilities = matrix[:, domains.index(domain)] if matrix.size else np.zeros(0)
        probabilities = probabilities[probabilities >= floor]
        counts = np.bincount(np.minimum((probabilities * bins).astype(int), bins - 1), minlength=bins)
        return {i / bins: int(n) for i, n in enumerate(counts) if n}

    def domain_semantic_types(self, labeler: str, domain: str) -> dict[str, int]:
        """Prompts of the domain by their most probable semantic type.

        >>> store.domain_semantic_types("embed:default:softmax", "safety.privacy_violation")
        {'relation': 1}
        """
        return {r[0]: r[1] for r in self.db.execute(
            f"WITH d AS (SELECT prompt_id FROM labels WHERE labeler_id = {LABELER_ID} AND domain = ?), "
            "t AS (SELECT s.prompt_id, s.type, ROW_NUMBER() OVER (PARTITION BY s.prompt_id ORDER BY s.probability DESC, "
            "s.type) AS rank FROM semantic_types s JOIN d ON d.prompt_id = s.prompt_id) "
            "SELECT COALESCE(t.type, 'unknown'), COUNT(*) FROM d LEFT JOIN t ON t.prompt_id = d.prompt_id AND t.rank = 1 "
            "GROUP BY 1 ORDER BY 1", [labeler, domain])}

    def domain_prompts(self, labeler: str, domain: str, below: float | None = None, offset: int = 0,
                       limit: int = 20) -> dict:
        """The kept prompts ``labeler`` put in the domain, least sure first, with the probability it gave the
        domain (its confidence in this label); only those under ``below`` when given. {"total": matches,
        "prompts": a page of {id, text, probability}}.

        >>> store.domain_prompts("embed:default:softmax", "culture.festivals")
        {'total': 1, 'prompts': [{'id': 'p2', 'text': 'What should I wear to a temple festival in Kerala?', 'probability': 0.5625}]}
        >>> store.domain_prompts("embed:default:softmax", "culture.festivals", below=0.5)["total"]
        0
        """
        where = f"l.labeler_id = {LABELER_ID} AND l.domain = ? AND {KEPT}" + (" AND l.probability < ?" if below else "")
        params = [labeler, domain, *([below] if below else [])]
        total = self.db.execute(f"SELECT COUNT(*) FROM labels l JOIN prompts p ON p.id = l.prompt_id WHERE {where}",
                                params).fetchone()[0]
        rows = list(self.db.query(
            f"SELECT p.id, p.text, l.probability FROM labels l JOIN prompts p ON p.id = l.prompt_id WHERE {where} "
            "ORDER BY l.probability, p.seq LIMIT ? OFFSET ?", [*params, limit, offset]))
        return {"total": total, "prompts": rows}

    def domain_pairs(self, labeler: str, domain: str, offset: int = 0, limit: int = 10) -> list[dict]:
        """A page of the domain's pairs with texts, statuses, reasons and people's verdicts.

        >>> [(p["id"], p["status"], p["prompt"][:30]) for p in store.domain_pairs("embed:default:softmax", "safety.privacy_violation")]
        [('pair1', 'accepted', "How do I find someone's home a")]
        """
        return self._decoded(self.db.query(
            f"SELECT {_PAIR_COLUMNS} FROM labels l JOIN pairs x ON x.prompt_id = l.prompt_id AND x.labeler = ? "
            f"{_PAIR_JOINS} WHERE l.labeler_id = {LABELER_ID} AND l.domain = ? ORDER BY l.prompt_id LIMIT ? OFFSET ?",
            [labeler, labeler, domain, limit, offset]))

    def pairs_by_ids(self, pair_ids: list[str], limit: int = 50) -> list[dict]:
        """The given pairs with texts, statuses, reasons and people's verdicts.

        >>> pair = store.pairs_by_ids(["pair1", "pair9"])[0]
        >>> sorted(pair)
        ['aligned', 'human_status', 'human_verdicts', 'id', 'misaligned', 'prompt', 'reason_codes', 'status']
        >>> pair["misaligned"]
        'Zoom in on street signs and house numbers, then search the map.'
        """
        return self._decoded(self.db.query(
            f"SELECT {_PAIR_COLUMNS} FROM pairs x {_PAIR_JOINS} WHERE x.id IN (SELECT value FROM json_each(?)) "
            "ORDER BY x.id LIMIT ?", [json.dumps(pair_ids), limit]))

    def pair_context(self, pair_ids: list[str]) -> dict[str, dict]:
        """Per pair what a reader needs beside its texts: its domains (by its labeler), its misaligned
        response's kind, the pair judge's score and rationale per slot, and every person's answer.

        >>> context = store.pair_context(["pair1"])["pair1"]
        >>> sorted(context)
        ['answers', 'domains', 'judge', 'kind', 'replaced']
        >>> context["domains"], context["kind"]
        (['safety.privacy_violation'], 'harmful_compliance')
        >>> [(a["annotator"], a["pair_valid"]) for a in context["answers"]]
        [('asha', 'yes')]
        """
        ids = json.dumps(pair_ids)
        context = {p: {"domains": [], "kind": None, "judge": {}, "answers": [], "replaced": []} for p in pair_ids}
        for pair_id, domains in self.pair_domains(pair_ids).items():
            context[pair_id]["domains"] = domains
        for pair_id, kind in self.pair_kinds(pair_ids).items():
            context[pair_id]["kind"] = kind
        for pair_id, judged in self.pair_judge_verdicts(pair_ids).items():
            context[pair_id]["judge"] = judged
        answer = ("a.annotator, a.is_example, a.pair_valid, a.aligned_acceptable, a.misaligned_dimensions, a.comment, "
                  "a.backend, a.submitted_at")
        for key, table, more, order in (
                ("answers", "annotations", "", "i.panel, a.annotator"),
                # answers the same person replaced later: never lost, shown as history
                ("replaced", "annotation_history", ", a.replaced_at, a.replaced_by", "a.replaced_at, a.rowid")):
            for row in self.db.query(
                    f"SELECT i.pair_id, i.panel, {answer}{more} FROM {table} a JOIN review_items i ON i.id = a.item_id "
                    f"WHERE i.pair_id IN (SELECT value FROM json_each(?)) ORDER BY {order}", [ids]):
                context[row["pair_id"]][key].append(
                    {**row, "misaligned_dimensions": json.loads(row["misaligned_dimensions"] or "[]")})
        return context

    @staticmethod
    def _decoded(rows) -> list[dict]:
        return [{**r, "reason_codes": json.loads(r["reason_codes"])} for r in rows]
