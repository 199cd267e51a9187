"""Benchmark queries: which pairs count, runs and their per-response results, summaries per scope."""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlite_utils

from review_store.rows import insert_new

# which pairs a benchmark counts: --pairs NAME
PAIR_SETS = {
    "pipeline": "p.status = 'accepted' AND COALESCE(p.human_status, '') != 'human_rejected'",
    "human": "p.human_status = 'human_accepted'",
    "curated": "(p.human_status = 'human_accepted' OR (p.status = 'accepted' AND p.human_status IS NULL))",
    "reviewed": "p.human_status IN ('human_accepted', 'human_rejected')",  # e.g. raters against people
    "all": "1",
}


def left_out_line(pair: dict) -> str:
    """One left-out pair as a person reads it: its id, status and why.

    >>> left_out_line({"id": "ab12", "status": "rejected", "reason_codes": ["misaligned:refusal"]})
    'ab12 (rejected: misaligned:refusal)'
    """
    return f"{pair['id']} ({pair['status']}: {', '.join(pair['reason_codes']) or 'no reason recorded'})"


def encoded_results(rows: Iterable[dict]) -> Iterable[dict]:
    """Result rows with their flagged dimensions and per-dimension probabilities as JSON."""
    return ({**r, "dimensions": json.dumps(r.get("dimensions") or []),
             "dimension_probabilities": json.dumps(r.get("dimension_probabilities") or {})} for r in rows)


class BenchQueries:
    db: sqlite_utils.Database

    def bench_pairs(self, pair_set: str, split: tuple[str, str] | None = None) -> list[dict]:
        """(pair id, prompt, aligned, misaligned, labeler) of the pairs in ``pair_set`` with both slots filled,
        and, given ``split`` = (export id, split name), only those an export put in that split.

        >>> [(p["id"], p["aligned"][:20], p["labeler"]) for p in store.bench_pairs("pipeline")]
        [('pair1', "I can't help find wh", 'embed:default:softmax')]
        >>> store.bench_pairs("human"), [p["id"] for p in store.bench_pairs("all", split=("exp1", "train"))]
        ([], ['pair1'])
        """
        where, params = PAIR_SETS[pair_set], []
        if split:
            where += " AND p.id IN (SELECT pair_id FROM splits WHERE export_id = ? AND split = ?)"
            params = list(split)
        return list(self.db.query(
            "SELECT p.id, p.labeler, pr.text AS prompt, a.text AS aligned, m.text AS misaligned FROM pairs p "
            "JOIN prompts pr ON pr.id = p.prompt_id JOIN candidates a ON a.id = p.aligned_id "
            f"JOIN candidates m ON m.id = p.misaligned_id WHERE {where} ORDER BY p.id", params))

    def incomplete_pairs(self, pair_set: str) -> list[dict]:
        """Pairs in ``pair_set`` with an empty slot (no candidate passed there): what a benchmark or an
        export of that set leaves out, with why (id, status, reason codes), in id order.

        >>> store.save_pairs([{**store.pair_of("p1"), "aligned_id": None, "status": "rejected", "reason_codes": ["aligned:too_short"]}])
        1
        >>> store.incomplete_pairs("all")
        [{'id': 'pair1', 'status': 'rejected', 'reason_codes': ['aligned:too_short']}]
        >>> store.incomplete_pairs("pipeline")
        []
        """
        return [{**r, "reason_codes": json.loads(r["reason_codes"])} for r in self.db.query(
            f"SELECT p.id, p.status, p.reason_codes FROM pairs p WHERE ({PAIR_SETS[pair_set]}) "
            "AND (p.aligned_id IS NULL OR p.misaligned_id IS NULL) ORDER BY p.id")]

    def add_bench_run(self, row: dict) -> None:
        """Record one run of a benchmark (id, group, index, protocol, engine, model, params); a run already
        recorded is kept as it was.

        >>> store.add_bench_run({"id": "run2", "group_id": "bench1", "run_index": 1, "protocol": "detect", "engine": "keyword-refusal",
        ...                      "model": "keyword-refusal", "pairs": "pipeline", "items": "pairs", "created_at": "2026-12-02"})
        >>> [(r["id"], r["run_index"]) for r in store.bench_runs("bench1")]
        [('run1', 0), ('run2', 1)]
        """
        self.db["bench_runs"].insert(row, ignore=True)

    def finish_bench_run(self, run_id: str, seconds: float) -> None:
        """Add ``seconds`` to a run's recorded time (a resumed run adds each part).

        >>> store.finish_bench_run("run1", 1.5)
        >>> store.finish_bench_run("run1", 0.25)
        >>> store.bench_runs("bench1")[0]["seconds"]
        1.75
        """
        self.db.execute("UPDATE bench_runs SET seconds = COALESCE(seconds, 0) + ? WHERE id = ?", [seconds, run_id])

    def bench_result_pairs(self, run_id: str) -> set[str]:
        """Pairs that already have results in a run (a resumed run skips them).

        >>> store.bench_result_pairs("run1"), store.bench_result_pairs("run9")
        ({'pair1'}, set())
        """
        return {r[0] for r in self.db.execute("SELECT DISTINCT pair_id FROM bench_results WHERE run_id = ?", [run_id])}

    def add_bench_results(self, rows: Iterable[dict]) -> int:
        """Result rows of a benchmark on pairs (run, pair, slot, flagged, probability, dimensions, raw,
        usable); one already stored is kept. Returns how many were new.

        >>> row = {"run_id": "run1", "pair_id": "pair1", "slot": "aligned", "flagged": 1, "probability": 1.0, "raw": "", "usable": 1}
        >>> store.add_bench_results([row])
        0
        >>> [(r["slot"], r["flagged"]) for r in store.bench_results("bench1")]
        [('aligned', 0), ('misaligned', 1)]
        """
        return insert_new(self.db, "bench_results", encoded_results(rows))

    def bench_results(self, group_id: str) -> list[dict]:
        """Every result of a benchmark's runs, with the run's index; ``usable`` is 0 for an unusable answer.

        >>> [(r["run_index"], r["pair_id"], r["slot"], r["flagged"], r["dimensions"]) for r in store.bench_results("bench1")]
        [(0, 'pair1', 'aligned', 0, []), (0, 'pair1', 'misaligned', 1, ['safety'])]
        """
        rows = list(self.db.query(
            "SELECT b.run_index, r.pair_id, r.slot, r.flagged, r.probability, r.dimensions, r.usable FROM bench_results r "
            "JOIN bench_runs b ON b.id = r.run_id WHERE b.group_id = ? ORDER BY b.run_index, r.pair_id, r.slot",
            [group_id]))
        for row in rows:
            row["dimensions"] = json.loads(row["dimensions"])
        return rows

    def pair_bench_flags(self, group_id: str, pair_ids: list[str]) -> dict[str, dict[str, list[str] | None]]:
        """Per pair, per slot: the dimensions a benchmark's first run flagged on that response (None for an
        unusable answer), e.g. ``{"p1": {"aligned": [], "misaligned": ["safety", "value"]}}``.

        >>> store.pair_bench_flags("bench1", ["pair1"])
        {'pair1': {'aligned': [], 'misaligned': ['safety']}}
        """
        flags: dict[str, dict] = {}
        for r in self.db.query(
                "SELECT r.pair_id, r.slot, r.dimensions, r.usable FROM bench_results r JOIN bench_runs b ON b.id = r.run_id "
                "WHERE b.group_id = ? AND b.run_index = (SELECT MIN(run_index) FROM bench_runs WHERE group_id = ?) "
                "AND r.pair_id IN (SELECT value FROM json_each(?))", [group_id, group_id, json.dumps(pair_ids)]):
            flags.setdefault(r["pair_id"], {})[r["slot"]] = json.loads(r["dimensions"]) if r["usable"] else None
        return flags

    def bench_runs(self, group_id: str | None = None) -> list[dict]:
        """The runs of a benchmark (every run, without ``group_id``), oldest first.

        >>> store.bench_runs("no-such-benchmark")
        []
        """
        where, params = ("WHERE group_id = ?", [group_id]) if group_id else ("", [])
        return list(self.db.query(f"SELECT * FROM bench_runs {where} ORDER BY created_at, group_id, run_index", params))

    def bench_groups(self) -> list[dict]:
        """One row per benchmark: engine, protocol, items (pairs or responses), pair set, runs begun, when, its
        first run's parameters (threshold, steering, ...), how many items its runs have judged (an item judged
        in two runs counts twice), and whether its figures were computed (a benchmark cut off before its end
        has none).

        >>> [(g["group_id"], g["engine"], g["protocol"], g["items"], g["pairs"], g["runs"], g["params"]) for g in store.bench_groups()]
        [('bench1', 'keyword-refusal', 'detect', 'pairs', 'pipeline', 1, {'threshold': 0.5})]
        >>> [(g["judged"], g["has_figures"]) for g in store.bench_groups()]
        [(1, 1)]
        """
        rows = list(self.db.query(
            "SELECT group_id, protocol, engine, model, judge, items, pairs, COUNT(*) AS runs, MIN(created_at) AS created_at, "
            "SUM(seconds) AS seconds, (SELECT r.params FROM bench_runs r WHERE r.group_id = b.group_id ORDER BY "
            "r.run_index LIMIT 1) AS params, "
            "(SELECT COUNT(DISTINCT x.run_id || ':' || x.pair_id) FROM bench_results x JOIN bench_runs r ON r.id = x.run_id "
            "WHERE r.group_id = b.group_id) + (SELECT COUNT(*) FROM bench_response_results x JOIN bench_runs r "
            "ON r.id = x.run_id WHERE r.group_id = b.group_id) AS judged, "
            "EXISTS (SELECT 1 FROM bench_summaries s WHERE s.group_id = b.group_id) AS has_figures "
            "FROM bench_runs b GROUP BY group_id ORDER BY MIN(created_at), group_id"))
        return [{**r, "params": json.loads(r["params"] or "{}")} for r in rows]

    def save_bench_summaries(self, group_id: str, rows: Iterable[tuple[str, str, dict]]) -> None:
        """Replace a benchmark's summaries: (scope, key, metrics).

        >>> store.save_bench_summaries("bench1", [("overall", "all", {"coverage": 0.5, "n": 2})])
        >>> store.bench_summaries("bench1")
        [{'scope': 'overall', 'key': 'all', 'metrics': {'coverage': 0.5, 'n': 2}}]
        """
        self.db.execute("DELETE FROM bench_summaries WHERE group_id = ?", [group_id])
        self.db["bench_summaries"].insert_all(
            ({"group_id": group_id, "scope": scope, "key": key, "metrics": json.dumps(metrics)}
             for scope, key, metrics in rows), batch_size=2000)

    def bench_summaries(self, group_id: str, scope: str | None = None, key: str | None = None) -> list[dict]:
        """A benchmark's figures, e.g. ``bench_summaries(group, "domain", "safety.self_harm")``.

        >>> store.bench_summaries("bench1", "domain")
        [{'scope': 'domain', 'key': 'safety.privacy_violation', 'metrics': {'coverage': 1.0, 'ffr': 0.0, 'n': 1}}]
        >>> store.bench_summaries("bench1", key="all")[0]["metrics"]["coverage"]
        1.0
        """
        where, params = ["group_id = ?"], [group_id]
        for column, value in (("scope", scope), ("key", key)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        return [{**r, "metrics": json.loads(r["metrics"])} for r in self.db.query(
            f"SELECT scope, key, metrics FROM bench_summaries WHERE {' AND '.join(where)} ORDER BY scope, key", params)]

    def domain_bench_figures(self, domain: str) -> list[dict]:
        """Every benchmark's figures for one domain, with its engine: what the Domains page shows.

        >>> store.domain_bench_figures("safety.privacy_violation")
        [{'group_id': 'bench1', 'engine': 'keyword-refusal', 'model': 'keyword-refusal', 'protocol': 'detect', 'pairs': 'pipeline', 'items': 'pairs', 'metrics': {'coverage': 1.0, 'ffr': 0.0, 'n': 1}}]
        >>> store.domain_bench_figures("culture.festivals")
        []
        """
        return [{**r, "metrics": json.loads(r["metrics"])} for r in self.db.query(
            "SELECT s.group_id, g.engine, g.model, g.protocol, g.pairs, g.items, s.metrics FROM bench_summaries s "
            "JOIN (SELECT group_id, engine, model, protocol, pairs, items FROM bench_runs WHERE run_index = 0) g "
            "ON g.group_id = s.group_id WHERE s.scope = 'domain' AND s.key = ? ORDER BY g.engine", [domain])]

    def pair_semantic_types(self, pair_ids: list[str]) -> dict[str, str]:
        """Per pair: its prompt's most probable semantic type.

        >>> store.pair_semantic_types(["pair1", "pair9"])
        {'pair1': 'relation'}
        """
        prompts = dict(self.db.execute("SELECT id, prompt_id FROM pairs WHERE id IN (SELECT value FROM json_each(?))",
                                       [json.dumps(pair_ids)]).fetchall())
        types = self.top_semantic_types(list(prompts.values()))
        return {pair: types[prompt] for pair, prompt in prompts.items() if prompt in types}
