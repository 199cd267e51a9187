"""Labelled responses: model responses with people's verdict (aligned or misaligned), the
dimensions they violate and how (their kind), and a benchmark's verdicts on them."""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlite_utils

from review_store.bench import encoded_results
from review_store.labels import LABELER_ID
from review_store.rows import insert_new


class ResponseQueries:
    db: sqlite_utils.Database

    def add_responses(self, rows: Iterable[dict]) -> int:
        """Responses (id, prompt_id, text, model, verdict, dimensions, kind, finish_reason, votes, source, row,
        created_at); one already stored is kept as it was. Returns how many were new.

        >>> store.add_responses([{"id": "r2", "prompt_id": "p1", "text": "Look at the street signs.", "model": "smol",
        ...                       "verdict": "misaligned", "dimensions": ["safety"], "kind": "harmful_compliance",
        ...                       "finish_reason": "stop", "votes": {"asha": "misaligned"}, "source": "verdicts.csv", "row": 2}])
        1
        >>> store.db["responses"].count
        2
        """
        return insert_new(self.db, "responses", (
            {**r, "dimensions": json.dumps(r["dimensions"]), "votes": json.dumps(r["votes"], sort_keys=True)}
            for r in rows))

    def bench_responses(self, models: list[str] | None = None) -> list[dict]:
        """(id, prompt_id, prompt, text, model, verdict, dimensions, kind, finish_reason, cluster) of the labelled responses (of
        ``models`` when given), in id order.

        >>> [(r["id"], r["prompt"][:22], r["model"], r["verdict"], r["cluster"]) for r in store.bench_responses()]
        [('r1', 'What should I wear to ', 'smol', 'aligned', 'p2')]
        >>> store.bench_responses(["gpt"])
        []
        """
        where, params = ("WHERE r.model IN (SELECT value FROM json_each(?))", [json.dumps(models)]) if models else ("", [])
        rows = list(self.db.query(
            "SELECT r.id, r.prompt_id, p.text AS prompt, r.text, r.model, r.verdict, r.dimensions, r.kind, r.finish_reason, "
            f"COALESCE(p.cluster_id, p.id) AS cluster FROM responses r JOIN prompts p ON p.id = r.prompt_id {where} "
            "ORDER BY r.id", params))
        for row in rows:
            row["dimensions"] = json.loads(row["dimensions"])
        return rows

    def export_responses(self) -> list[dict]:
        """Every labelled response as an export writes it: id, prompt, response, model, verdict, dimensions,
        kind, finish_reason, annotators (how many answered), source, in id order.

        >>> store.export_responses()
        [{'id': 'r1', 'prompt': 'What should I wear to a temple festival in Kerala?', 'response': 'A mundu and a shirt, or a saree; cover your shoulders.', 'model': 'smol', 'verdict': 'aligned', 'dimensions': [], 'kind': None, 'finish_reason': 'stop', 'source': 'verdicts.csv', 'annotators': 1}]
        """
        rows = list(self.db.query(
            "SELECT r.id, p.text AS prompt, r.text AS response, r.model, r.verdict, r.dimensions, r.kind, "
            "r.finish_reason, r.votes, r.source FROM responses r JOIN prompts p ON p.id = r.prompt_id ORDER BY r.id"))
        for row in rows:
            row["dimensions"] = json.loads(row["dimensions"])
            row["annotators"] = len(json.loads(row.pop("votes") or "{}"))
        return rows

    def response_keys(self) -> dict[tuple[str, str, str], str]:
        """(prompt id, model, text) -> response id: how an outside verdict file names a response.

        >>> store.response_keys()
        {('p2', 'smol', 'A mundu and a shirt, or a saree; cover your shoulders.'): 'r1'}
        """
        return {(p, m, t): i for i, p, m, t in self.db.execute("SELECT id, prompt_id, model, text FROM responses")}

    def response_domains(self, labeler: str) -> dict[str, list[str]]:
        """Per response: the domains ``labeler`` assigned to its prompt (None/Unknown left out).

        >>> store.response_domains("embed:default:softmax"), store.response_domains("imported:prompts.csv")
        ({'r1': ['culture.festivals']}, {})
        """
        found: dict[str, list[str]] = {}
        for response_id, domain in self.db.execute(
                "SELECT r.id, l.domain FROM responses r JOIN labels l ON l.prompt_id = r.prompt_id "
                f"AND +l.labeler_id = {LABELER_ID} WHERE l.domain NOT IN ('none', 'unknown') ORDER BY r.id, l.domain",
                [labeler]):
            found.setdefault(response_id, []).append(domain)
        return found

    def bench_result_responses(self, run_id: str) -> set[str]:
        """Responses that already have results in a run (a resumed run skips them).

        >>> store.add_bench_response_results([{"run_id": "run1", "response_id": "r1", "flagged": 0, "probability": 0.0,
        ...                                    "usable": 1}])
        1
        >>> store.bench_result_responses("run1")
        {'r1'}
        """
        return {r[0] for r in self.db.execute("SELECT response_id FROM bench_response_results WHERE run_id = ?",
                                              [run_id])}

    def add_bench_response_results(self, rows: Iterable[dict]) -> int:
        """Result rows of a benchmark on labelled responses (run, response, flagged, probability, dimensions,
        raw, usable); one already stored is kept. Returns how many were new.

        >>> store.add_bench_response_results([{"run_id": "run1", "response_id": "r1", "flagged": 1, "probability": 0.75,
        ...                                    "dimensions": ["culture"], "dimension_probabilities": {"culture": 0.75},
        ...                                    "usable": 1}])
        1
        >>> store.add_bench_response_results([{"run_id": "run1", "response_id": "r1", "flagged": 0, "usable": 1}])
        0
        """
        return insert_new(self.db, "bench_response_results", encoded_results(rows))

    def bench_response_results(self, group_id: str) -> list[dict]:
        """Every result of a benchmark on responses, with the run's index; ``usable`` 0 for an unusable answer.

        >>> store.add_bench_response_results([{"run_id": "run1", "response_id": "r1", "flagged": 1, "probability": 0.75,
        ...                                    "dimensions": ["culture"], "dimension_probabilities": {"culture": 0.75},
        ...                                    "usable": 1}])
        1
        >>> [(r["run_index"], r["response_id"], r["flagged"], r["dimensions"], r["dimension_probabilities"])
        ...  for r in store.bench_response_results("bench1")]
        [(0, 'r1', 1, ['culture'], {'culture': 0.75})]
        """
        rows = list(self.db.query(
            "SELECT b.run_index, r.response_id, r.flagged, r.probability, r.dimensions, r.dimension_probabilities, r.usable "
            "FROM bench_response_results r JOIN bench_runs b ON b.id = r.run_id WHERE b.group_id = ? "
            "ORDER BY b.run_index, r.response_id", [group_id]))
        for row in rows:
            row["dimensions"] = json.loads(row["dimensions"])
            row["dimension_probabilities"] = json.loads(row.get("dimension_probabilities") or "{}")
        return rows
