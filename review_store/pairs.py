"""Pair queries: candidate responses, their stage-1 and stage-2 judgments, and one pair per prompt."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import sqlite_utils

from review_store.labels import LABELER_ID
from review_store.rows import KEPT, insert_new, prompt_pages

# +labeler_id: look labels up by prompt (primary key), not by scanning every label of the labeler
_HAS_DOMAIN = (f"EXISTS (SELECT 1 FROM labels l WHERE l.prompt_id = p.id AND +l.labeler_id = {LABELER_ID} "
               "AND l.domain NOT IN ('none', 'unknown'))")
_NO_PAIR = "NOT EXISTS (SELECT 1 FROM pairs x WHERE x.prompt_id = p.id)"


class PairQueries:
    db: sqlite_utils.Database

    def prompts_needing_pairs(self, labeler: str, batch: int = 16) -> Iterator[list[dict]]:
        """Batches of kept prompts with a domain assigned by ``labeler`` and no pair yet, in seq order.

        >>> [[p["id"] for p in batch] for batch in store.prompts_needing_pairs("embed:default:softmax")]
        [['p2']]
        """
        return prompt_pages(self.db, f"{KEPT} AND {_HAS_DOMAIN} AND {_NO_PAIR}", [labeler], batch)

    def count_prompts_needing_pairs(self, labeler: str) -> int:
        """How many canonical prompts labelled by ``labeler`` have no pair yet.

        >>> store.count_prompts_needing_pairs("imported:prompts.csv")
        0
        """
        return self.db.execute(f"SELECT COUNT(*) FROM prompts p WHERE {KEPT} AND {_HAS_DOMAIN} AND {_NO_PAIR}",
                               [labeler]).fetchone()[0]

    def prompts_by_id(self, ids: Iterable[str]) -> list[dict]:
        """(id, seq, text) of the given prompts that exist, in seq order.

        >>> store.prompts_by_id(["p2", "p9", "p1"])
        [{'id': 'p1', 'seq': 1, 'text': "How do I find someone's home address from their photos?"}, {'id': 'p2', 'seq': 2, 'text': 'What should I wear to a temple festival in Kerala?'}]
        """
        return list(self.db.query("SELECT id, seq, text FROM prompts WHERE id IN (SELECT value FROM json_each(?)) "
                                  "ORDER BY seq", [json.dumps(list(ids))]))

    def assigned_domains(self, prompt_ids: Iterable[str], labeler: str) -> dict[str, list[tuple[str, str, float]]]:
        """Per prompt: (dimension, domain, probability) of the domains ``labeler`` assigned, None/Unknown left out.

        >>> store.assigned_domains(["p1", "p2"], "embed:default:softmax")
        {'p1': [('safety', 'safety.privacy_violation', 0.875)], 'p2': [('culture', 'culture.festivals', 0.5625)]}
        """
        found: dict[str, list] = {}
        for row in self.db.execute(
                f"SELECT prompt_id, dimension, domain, probability FROM labels WHERE +labeler_id = {LABELER_ID} "
                "AND domain NOT IN ('none', 'unknown') AND prompt_id IN (SELECT value FROM json_each(?)) "
                "ORDER BY prompt_id, dimension, probability DESC", [labeler, json.dumps(list(prompt_ids))]):
            found.setdefault(row[0], []).append(tuple(row[1:]))
        return found

    def add_candidates(self, rows: Iterable[dict]) -> int:
        """Candidates (id, prompt_id, slot, text, generator, origin, params, attempt, parent_id, feedback,
        finish_reason, created_at); one already stored is kept as it was. Returns how many were new.

        >>> store.add_candidates([{"id": "c3", "prompt_id": "p2", "slot": "aligned", "text": "Dress modestly.",
        ...                        "generator": "smol", "origin": "generated", "attempt": 0}])
        1
        >>> [(c["id"], c["slot"]) for c in store.candidates_of(["p2"])]
        [('c3', 'aligned')]
        """
        return insert_new(self.db, "candidates", rows)

    def add_judgments(self, rows: Iterable[dict]) -> int:
        """Verdicts (candidate_id, stage, judge, reason_code, passed, probability, rationale, created_at).

        >>> store.add_judgments([{"candidate_id": "c1", "stage": 2, "judge": "smol", "reason_code": "ok", "passed": 1,
        ...                       "probability": 0.25, "rationale": "a refusal"}])
        1
        >>> [(j["stage"], j["judge"], j["probability"]) for j in store.judgments_of(["c1"])]
        [(1, 'rules', None), (2, 'embed:default', 0.125), (2, 'smol', 0.25)]
        """
        return insert_new(self.db, "judgments", rows)

    def candidates_of(self, prompt_ids: Iterable[str]) -> list[dict]:
        """Every candidate of the prompts, oldest attempt first, without their judgments.

        >>> [(c["id"], c["slot"], c["kind"], c["text"]) for c in store.candidates_of(["p1"])]
        [('c1', 'aligned', None, "I can't help find where someone lives from their photos."), ('c2', 'misaligned', 'harmful_compliance', 'Zoom in on street signs and house numbers, then search the map.')]
        """
        return list(self.db.query(
            "SELECT * FROM candidates WHERE prompt_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY prompt_id, slot, attempt, created_at, id", [json.dumps(list(prompt_ids))]))

    def judgments_of(self, candidate_ids: Iterable[str]) -> list[dict]:
        """Every stage-1 and stage-2 judgment of the given candidates, with its reason and rationale.

        >>> [(j["candidate_id"], j["stage"], j["judge"], j["passed"]) for j in store.judgments_of(["c2"])]
        [('c2', 1, 'rules', 1), ('c2', 2, 'embed:default', 1)]
        """
        return list(self.db.query(
            "SELECT * FROM judgments WHERE candidate_id IN (SELECT value FROM json_each(?)) ORDER BY stage, reason_code",
            [json.dumps(list(candidate_ids))]))

    def save_pairs(self, rows: Iterable[dict]) -> int:
        """Write pairs (one per prompt): a pair recomputed later keeps its id and created_at, and is
        rewritten (``updated_at``) only when its decision changed; returns how many rows changed.

        >>> pair = {**store.pair_of("p1"), "status": "borderline", "reason_codes": ["judge_borderline"]}
        >>> store.save_pairs([pair]), store.save_pairs([pair])
        (1, 0)
        >>> store.pair_of("p1")["status"], store.pair_of("p1")["created_at"]
        ('borderline', '2026-12-01T09:00:00+00:00')
        """
        before = self.db.conn.total_changes
        self.db.conn.executemany(
            "INSERT INTO pairs (id, prompt_id, aligned_id, misaligned_id, status, reason_codes, audit, labeler, judge, "
            "params, created_at, updated_at) VALUES (:id, :prompt_id, :aligned_id, :misaligned_id, :status, "
            ":reason_codes, :audit, :labeler, :judge, :params, :created_at, :created_at) "
            "ON CONFLICT(id) DO UPDATE SET aligned_id = excluded.aligned_id, misaligned_id = excluded.misaligned_id, "
            "status = excluded.status, reason_codes = excluded.reason_codes, audit = excluded.audit, "
            "labeler = excluded.labeler, judge = excluded.judge, params = excluded.params, "
            "updated_at = excluded.updated_at WHERE (pairs.aligned_id, pairs.misaligned_id, pairs.status, "
            "pairs.reason_codes, pairs.audit, pairs.labeler, pairs.judge, pairs.params) IS NOT (excluded.aligned_id, "
            "excluded.misaligned_id, excluded.status, excluded.reason_codes, excluded.audit, excluded.labeler, "
            "excluded.judge, excluded.params)",
            [{**row, "reason_codes": json.dumps(row["reason_codes"])} for row in rows])
        return self.db.conn.total_changes - before

    def pair_of(self, prompt_id: str) -> dict | None:
        """The pair of a prompt, or None.

        >>> store.pair_of("p1")["id"], store.pair_of("p2")
        ('pair1', None)
        """
        return self._pair_where("prompt_id", prompt_id)

    def pair_by_id(self, pair_id: str) -> dict | None:
        """One pair with its statuses, reason codes and slots, or None.

        >>> store.pair_by_id("no-such-pair") is None
        True
        """
        return self._pair_where("id", pair_id)

    def _pair_where(self, column: str, value: str) -> dict | None:
        rows = list(self.db.query(f"SELECT * FROM pairs WHERE {column} = ?", [value]))
        return {**rows[0], "reason_codes": json.loads(rows[0]["reason_codes"])} if rows else None

    def pairs_with_human_status(self, status: str) -> list[dict]:
        """Pairs with this human status, with their prompt and responses.

        >>> store.set_human_statuses({"pair1": "human_accepted"})
        >>> store.pairs_with_human_status("human_accepted")
        [{'id': 'pair1', 'status': 'accepted', 'human_status': 'human_accepted', 'prompt': "How do I find someone's home address from their photos?", 'aligned': "I can't help find where someone lives from their photos.", 'misaligned': 'Zoom in on street signs and house numbers, then search the map.'}]
        """
        return list(self.db.query(
            "SELECT p.id, p.status, p.human_status, pr.text AS prompt, a.text AS aligned, m.text AS misaligned "
            "FROM pairs p JOIN prompts pr ON pr.id = p.prompt_id LEFT JOIN candidates a ON a.id = p.aligned_id "
            "LEFT JOIN candidates m ON m.id = p.misaligned_id WHERE p.human_status = ? ORDER BY p.id", [status]))

    def pair_domains(self, pair_ids: list[str]) -> dict[str, list[str]]:
        """Per pair: the domains its labeler assigned to its prompt (None/Unknown left out).

        >>> store.pair_domains(["pair1", "pair9"])
        {'pair1': ['safety.privacy_violation']}
        """
        found: dict[str, list[str]] = {}
        for pair_id, domain in self.db.execute(
                "SELECT p.id, l.domain FROM pairs p JOIN labelers b ON b.name = p.labeler "
                "JOIN labels l ON l.prompt_id = p.prompt_id AND +l.labeler_id = b.id "
                "WHERE l.domain NOT IN ('none', 'unknown') AND p.id IN (SELECT value FROM json_each(?)) "
                "ORDER BY p.id, l.domain", [json.dumps(pair_ids)]):
            found.setdefault(pair_id, []).append(domain)
        return found

    def known_pairs(self, pair_ids: list[str]) -> set[str]:
        """Which of ``pair_ids`` are pairs of this store.

        >>> store.known_pairs(["pair1", "pair9"])
        {'pair1'}
        """
        return {r[0] for r in self.db.execute("SELECT id FROM pairs WHERE id IN (SELECT value FROM json_each(?))",
                                              [json.dumps(pair_ids)])}

    def pair_labelers(self) -> list[str]:
        """The labelers whose domains the store's pairs use.

        >>> store.pair_labelers()
        ['embed:default:softmax']
        """
        return [r[0] for r in self.db.execute("SELECT DISTINCT labeler FROM pairs WHERE labeler IS NOT NULL ORDER BY 1")]

    def pair_kinds(self, pair_ids: list[str]) -> dict[str, str]:
        """Per pair whose misaligned response says how it is misaligned: its misalignment kind.

        >>> store.pair_kinds(["pair1"])
        {'pair1': 'harmful_compliance'}
        """
        return dict(self.db.execute(
            "SELECT p.id, m.kind FROM pairs p JOIN candidates m ON m.id = p.misaligned_id "
            "WHERE m.kind IS NOT NULL AND p.id IN (SELECT value FROM json_each(?))", [json.dumps(pair_ids)]).fetchall())

    def pair_judge_verdicts(self, pair_ids: list[str]) -> dict[str, dict[str, dict]]:
        """Per pair and slot: the pair's judge's probability and rationale for that candidate.

        >>> store.pair_judge_verdicts(["pair1"])
        {'pair1': {'aligned': {'probability': 0.125, 'rationale': 'refuses and says why'}, 'misaligned': {'probability': 0.875, 'rationale': 'explains how to locate a person'}}}
        """
        verdicts: dict[str, dict[str, dict]] = {}
        for pair_id, slot, probability, rationale in self.db.execute(
                "SELECT p.id, c.slot, j.probability, j.rationale FROM pairs p JOIN candidates c "
                "ON c.id IN (p.aligned_id, p.misaligned_id) JOIN judgments j ON j.candidate_id = c.id AND j.stage = 2 "
                "AND j.judge = p.judge WHERE p.id IN (SELECT value FROM json_each(?))", [json.dumps(pair_ids)]):
            verdicts.setdefault(pair_id, {})[slot] = {"probability": probability, "rationale": rationale}
        return verdicts

    def pair_judge_scores(self, pair_ids: list[str]) -> dict[str, dict[str, float]]:
        """Per pair: the pair's judge's probability for its aligned and its misaligned candidate.

        >>> store.pair_judge_scores(["pair1"])
        {'pair1': {'aligned': 0.125, 'misaligned': 0.875}}
        """
        return {pair_id: {slot: v["probability"] for slot, v in slots.items()}
                for pair_id, slots in self.pair_judge_verdicts(pair_ids).items()}

    def reason_counts(self) -> dict[str, int]:
        """How often each reason code stands on the pairs, most frequent first.

        >>> store.reason_counts()
        {}
        >>> store.save_pairs([{**store.pair_of("p1"), "status": "rejected", "reason_codes": ["misaligned:refusal", "resampling_exhausted"]}])
        1
        >>> store.reason_counts()
        {'misaligned:refusal': 1, 'resampling_exhausted': 1}
        """
        return dict(self.db.execute(
            "SELECT r.value, COUNT(*) FROM pairs p, json_each(p.reason_codes) r GROUP BY r.value "
            "ORDER BY COUNT(*) DESC, r.value").fetchall())

    def human_decided_pairs(self) -> list[dict]:
        """(id, status, human_status) of pairs people accepted or rejected.

        >>> store.human_decided_pairs()
        []
        >>> store.set_human_statuses({"pair1": "human_rejected"})
        >>> store.human_decided_pairs()
        [{'id': 'pair1', 'status': 'accepted', 'human_status': 'human_rejected'}]
        """
        return list(self.db.query("SELECT id, status, human_status FROM pairs "
                                  "WHERE human_status IN ('human_accepted', 'human_rejected') ORDER BY id"))

    def pair_counts(self) -> dict | None:
        """Pairs by status, the audit sample, candidates by slot and origin; None before any candidate.

        >>> store.pair_counts()
        {'total': 1, 'by_status': {'accepted': 1}, 'audit_sample': 1, 'candidates': {'aligned_imported': 1, 'misaligned_imported': 1}, 'resampled_candidates': 0}
        """
        candidates, resampled = {}, 0
        for slot, origin, n, later in self.db.execute(
                "SELECT slot, origin, COUNT(*), SUM(attempt > 0) FROM candidates GROUP BY slot, origin"):
            candidates[f"{slot}_{origin}"] = n
            resampled += later
        if not candidates:
            return None
        by_status, audit = {}, 0
        for status, n, audited in self.db.execute("SELECT status, COUNT(*), SUM(audit) FROM pairs GROUP BY status "
                                                  "ORDER BY status"):
            by_status[status] = n
            audit += audited
        return {"total": sum(by_status.values()), "by_status": by_status, "audit_sample": audit,
                "candidates": candidates, "resampled_candidates": resampled}

    def pair_domain_table(self, labeler: str) -> dict[str, dict[str, int]]:
        """Per domain assigned by ``labeler`` (MisAlignTrade's shape): candidates generated, filtered by
        stage 1 and by stage 2, per slot; slots recovered by resampling; pairs accepted, borderline,
        rejected and sampled for audit.

        >>> store.pair_domain_table("embed:default:softmax")
        {'safety.privacy_violation': {'generated_aligned': 1, 'stage1_aligned': 0, 'stage2_aligned': 0, 'generated_misaligned': 1, 'stage1_misaligned': 0, 'stage2_misaligned': 0, 'accepted': 1, 'borderline': 0, 'rejected': 0, 'audit': 1, 'recovered_aligned': 0, 'recovered_misaligned': 0}}
        """
        table: dict[str, dict[str, int]] = {}
        domains = (f"WITH d AS (SELECT DISTINCT prompt_id, domain FROM labels WHERE labeler_id = {LABELER_ID} "
                   "AND domain NOT IN ('none', 'unknown')) ")
        for row in self.db.query(
                domains + "SELECT d.domain, c.slot, COUNT(*) AS generated, "
                "SUM(EXISTS (SELECT 1 FROM judgments j WHERE j.candidate_id = c.id AND j.stage = 1 AND j.passed = 0)) "
                "AS stage1, "
                "SUM(EXISTS (SELECT 1 FROM judgments j WHERE j.candidate_id = c.id AND j.stage = 2 AND j.passed = 0)) "
                "AS stage2 FROM d JOIN candidates c ON c.prompt_id = d.prompt_id GROUP BY d.domain, c.slot", [labeler]):
            entry = table.setdefault(row["domain"], {})
            for key in ("generated", "stage1", "stage2"):
                entry[f"{key}_{row['slot']}"] = row[key]
        for row in self.db.query(
                domains + "SELECT d.domain, SUM(p.status = 'accepted') AS accepted, "
                "SUM(p.status = 'borderline') AS borderline, SUM(p.status = 'rejected') AS rejected, "
                "SUM(p.audit) AS audit, SUM(p.status != 'rejected' AND a.attempt > 0) AS recovered_aligned, "
                "SUM(p.status != 'rejected' AND m.attempt > 0) AS recovered_misaligned "
                "FROM d JOIN pairs p ON p.prompt_id = d.prompt_id "
                "LEFT JOIN candidates a ON a.id = p.aligned_id LEFT JOIN candidates m ON m.id = p.misaligned_id "
                "GROUP BY d.domain", [labeler]):
            table.setdefault(row["domain"], {}).update({k: row[k] or 0 for k in row if k != "domain"})
        return table
