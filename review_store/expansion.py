"""Expansion queries: domain sizes after dedup, few-shot examples, expanded prompts and candidates."""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils

from review_store.labels import LABELER_ID
from review_store.rows import KEPT, insert_new



class ExpansionQueries:
    db: sqlite_utils.Database

    def kept_domain_counts(self, labeler: str) -> dict[str, int]:
        """Prompts kept after dedup per domain assigned by ``labeler`` (None/Unknown left out).

        >>> store.kept_domain_counts("embed:default:softmax")
        {'culture.festivals': 1, 'safety.privacy_violation': 1}
        """
        return {r["domain"]: r["n"] for r in self.db.query(
            f"SELECT l.domain, COUNT(DISTINCT l.prompt_id) AS n FROM labels l JOIN prompts p ON p.id = l.prompt_id "
            f"WHERE l.labeler_id = {LABELER_ID} AND l.domain NOT IN ('none', 'unknown') AND {KEPT} "
            f"GROUP BY l.domain", [labeler])}

    def domain_examples(self, labeler: str, domain: str, limit: int) -> list[dict]:
        """Kept prompts of a domain to show a generator: seed prompts first, most probable first.

        >>> store.domain_examples("embed:default:softmax", "culture.festivals", limit=3)
        [{'id': 'p2', 'text': 'What should I wear to a temple festival in Kerala?'}]
        """
        return list(self.db.query(
            f"SELECT p.id, p.text FROM labels l JOIN prompts p ON p.id = l.prompt_id WHERE l.labeler_id = {LABELER_ID} "
            f"AND l.domain = ? AND {KEPT} "
            f"ORDER BY p.origin != 'seed', l.probability DESC, p.seq LIMIT ?", [labeler, domain, limit]))

    def kept_fingerprints(self) -> list[tuple[str, int]]:
        """(prompt id, signed fingerprint) of every kept prompt that has one.

        >>> store.kept_fingerprints()
        [('p1', 1234567), ('p2', -7654321)]
        """
        return list(self.db.execute("SELECT id, simhash FROM prompts WHERE is_canonical = 1 AND simhash IS NOT NULL"))

    def prompt_exists(self, prompt_id: str) -> bool:
        """Whether a prompt with this id is in the store.

        >>> store.prompt_exists("0" * 24)
        False
        """
        return self.db.execute("SELECT 1 FROM prompts WHERE id = ?", [prompt_id]).fetchone() is not None

    def add_prompt_parents(self, rows: Iterable[dict]) -> int:
        """Link expanded prompts to the seed prompts they were written from (prompt_id, parent_id). Returns
        how many links were new.

        >>> store.add_prompts([{"id": "p3", "text": "What do people wear to Onam?", "origin": "expanded"}], "2026-12-02")
        1
        >>> store.add_prompt_parents([{"prompt_id": "p3", "parent_id": "p2"}])
        1
        >>> store.add_prompt_parents([{"prompt_id": "p3", "parent_id": "p2"}])
        0
        """
        return insert_new(self.db, "prompt_parents", rows)

    def add_expansion_candidates(self, rows: Iterable[dict]) -> int:
        """Record generated candidates (id, domain, text, status, generator, labeler, round, created_at).

        >>> store.add_expansion_candidates([
        ...     {"id": "e1", "domain": "culture.festivals", "text": "What do people wear to Onam?", "status": "accepted",
        ...      "generator": "smol", "labeler": "embed:default:softmax", "round": 0, "created_at": "2026-12-02"},
        ...     {"id": "e2", "domain": "culture.festivals", "text": "Tell me a joke.", "status": "off_domain",
        ...      "generator": "smol", "labeler": "embed:default:softmax", "round": 0, "created_at": "2026-12-02"}])
        2
        >>> store.db["expansion_candidates"].count
        2
        """
        return insert_new(self.db, "expansion_candidates", rows)

    def domain_funnel(self, labeler: str) -> dict[str, dict[str, int]]:
        """Per domain assigned by ``labeler``: classified (seed and imported prompts), expanded,
        removed as duplicates, kept; and expansion candidates generated and accepted.

        >>> store.domain_funnel("embed:default:softmax")
        {'culture.festivals': {'classified': 1, 'expanded': 0, 'removed_duplicates': 0, 'kept': 1}, 'safety.privacy_violation': {'classified': 1, 'expanded': 0, 'removed_duplicates': 0, 'kept': 1}}
        """
        funnel = {r["domain"]: {k: r[k] for k in ("classified", "expanded", "removed_duplicates", "kept")}
                  for r in self.db.query(
            "SELECT l.domain, SUM(p.origin != 'expanded') AS classified, SUM(p.origin = 'expanded') AS expanded, "
            "SUM(COALESCE(p.is_canonical, 1) = 0) AS removed_duplicates, SUM(COALESCE(p.is_canonical, 1) = 1) AS kept "
            f"FROM labels l JOIN prompts p ON p.id = l.prompt_id WHERE l.labeler_id = {LABELER_ID} "
            "AND l.domain NOT IN ('none', 'unknown') GROUP BY l.domain", [labeler])}
        for row in self.db.query(
            "SELECT domain, COUNT(*) AS generated, SUM(status = 'accepted') AS accepted FROM expansion_candidates "
            "WHERE labeler = ? GROUP BY domain", [labeler]):
            funnel.setdefault(row["domain"], {"classified": 0, "expanded": 0, "removed_duplicates": 0, "kept": 0})
            funnel[row["domain"]].update(candidates_generated=row["generated"], candidates_accepted=row["accepted"])
        return funnel

    def next_expansion_round(self, domain: str, labeler: str) -> int:
        """The round after the last recorded one for a domain: new rounds ask anew, a cut-off one replays.

        >>> store.next_expansion_round("culture.festivals", "embed:default:softmax")
        0
        >>> store.add_expansion_candidates([{"id": "e1", "domain": "culture.festivals", "text": "What do people wear to Onam?",
        ...                                  "status": "accepted", "generator": "smol", "labeler": "embed:default:softmax",
        ...                                  "round": 0, "created_at": "2026-12-02"}])
        1
        >>> store.next_expansion_round("culture.festivals", "embed:default:softmax")
        1
        """
        row = self.db.execute("SELECT MAX(round) FROM expansion_candidates WHERE domain = ? AND labeler = ?",
                              [domain, labeler]).fetchone()
        return 0 if row[0] is None else row[0] + 1
