"""Dedup queries: fingerprints, clusters, the audit of every removal, counts before and after."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import sqlite_utils

from review_store.rows import KEPT, prompt_pages

ORIGIN_RANK = {"seed": 0, "imported": 1, "expanded": 2}  # the canonical-prompt rule: seed first


class DedupQueries:
    db: sqlite_utils.Database

    def dedup_params(self) -> dict | None:
        """The parameters (features, tau, scope) the stored dedup state was built with, or None.

        >>> store.dedup_params()
        {'scope': 'global', 'tau': 10}
        """
        row = self.db.execute("SELECT value FROM meta WHERE key = 'dedup_params'").fetchone()
        return json.loads(row[0]) if row else None

    def reset_dedup(self, params: dict) -> None:
        """Forget fingerprints, clusters and removals (when features, tau or scope change).

        >>> store.reset_dedup({"tau": 8, "scope": "global"})
        >>> store.dedup_params(), store.prompt("p1")["simhash"], store.dedup_audit()
        ({'scope': 'global', 'tau': 8}, None, [])
        """
        self.db.execute("DELETE FROM dedup_removals")
        self.db.execute("UPDATE prompts SET simhash = NULL, simhash_short = NULL, cluster_id = NULL, is_canonical = NULL")
        self.db["meta"].upsert({"key": "dedup_params", "value": json.dumps(params, sort_keys=True)}, pk="key")

    def prompts_to_fingerprint(self, batch: int = 50_000) -> Iterator[list[dict]]:
        """Batches of (id, seq, text) for prompts that have no fingerprint yet, in seq order.

        >>> store.add_prompts([{"id": "p3", "text": "What to wear at a temple festival in Kerala?", "origin": "seed"}], "2026-12-02")
        1
        >>> [[p["id"] for p in batch] for batch in store.prompts_to_fingerprint()]
        [['p3']]
        """
        return prompt_pages(self.db, "p.simhash IS NULL AND p.simhash_short IS NULL", [], batch)

    def set_fingerprints(self, rows: Iterable[tuple[str, int | None]]) -> None:
        """Store fingerprints as (prompt id, signed 64-bit value, or None for a too-short text).

        >>> store.add_prompts([{"id": "p3", "text": "Why?", "origin": "seed"}], "2026-12-02")
        1
        >>> store.set_fingerprints([("p3", None)])
        >>> store.prompt("p3")["simhash"], store.prompt("p3")["simhash_short"]
        (None, 1)
        """
        self.db.conn.executemany(
            "UPDATE prompts SET simhash = ?, simhash_short = ? WHERE id = ?",
            ((value, 1 if value is None else 0, pid) for pid, value in rows))

    def dedup_members(self) -> list[dict]:
        """Prompts that take part in a dedup run: the kept ones and those not yet seen, in seq order.

        >>> [(p["id"], p["is_canonical"]) for p in store.dedup_members()]
        [('p1', 1), ('p2', 1)]
        """
        return list(self.db.query(
            "SELECT id, seq, origin, simhash, is_canonical FROM prompts "
            "WHERE is_canonical IS NULL OR is_canonical = 1 ORDER BY seq"))

    def kept_prompt_ids(self) -> set[str]:
        """Prompts no dedup run removed.

        >>> sorted(store.kept_prompt_ids())
        ['p1', 'p2']
        """
        return {r[0] for r in self.db.execute(f"SELECT id FROM prompts p WHERE {KEPT}")}

    def prompt_domain_pairs(self) -> Iterator[tuple[str, str]]:
        """Every (prompt id, domain) assigned by any labeler, None and Unknown left out.

        >>> sorted(store.prompt_domain_pairs())
        [('p1', 'safety.privacy_violation'), ('p2', 'culture.festivals')]
        """
        for row in self.db.execute(
            "SELECT DISTINCT prompt_id, domain FROM labels WHERE domain NOT IN ('none', 'unknown')"):
            yield row[0], row[1]

    def apply_dedup(self, kept: Iterable[tuple[str, str]], removals: list[dict], params: dict) -> None:
        """Mark prompts kept (id, cluster id) and removed (audit rows); record the parameters.

        >>> store.add_prompts([{"id": "p3", "text": "What to wear at a temple festival in Kerala?", "origin": "seed"}], "2026-12-02")
        1
        >>> store.apply_dedup([], [{"removed_id": "p3", "kept_id": "p2", "distance": 3, "nearest_id": "p2", "nearest_distance": 3,
        ...                         "run_id": 2, "created_at": "2026-12-02"}], {"tau": 10, "scope": "global"})
        >>> store.prompt("p3")["is_canonical"], store.prompt("p3")["cluster_id"], sorted(store.kept_prompt_ids())
        (0, 'p2', ['p1', 'p2'])
        """
        # written in key order: at SaVaCu's size the ids' index no longer fits SQLite's page cache, and
        # random-order writes doubled the cost per removal (208k removals at 382k prompts)
        removals = sorted(removals, key=lambda r: r["removed_id"])
        self.db.conn.executemany("UPDATE prompts SET is_canonical = 1, cluster_id = ? WHERE id = ?",
                                 ((cluster, pid) for pid, cluster in sorted(kept)))
        self.db.conn.executemany("UPDATE prompts SET is_canonical = 0, cluster_id = ? WHERE id = ?",
                                 ((r["kept_id"], r["removed_id"]) for r in removals))
        # members of a cluster whose canonical prompt was just removed follow it to the new one: one pass
        # over the prompts through a keyed table (an UPDATE per removal scanned them all, quadratic at scale)
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS moved_clusters (old TEXT PRIMARY KEY, new TEXT)")
        self.db.execute("DELETE FROM temp.moved_clusters")
        self.db.conn.executemany("INSERT OR REPLACE INTO temp.moved_clusters VALUES (?, ?)",
                                 ((r["removed_id"], r["kept_id"]) for r in removals))
        self.db.execute("UPDATE prompts SET cluster_id = (SELECT new FROM temp.moved_clusters WHERE old = cluster_id) "
                        "WHERE cluster_id IN (SELECT old FROM temp.moved_clusters)")
        self.db.execute("DROP TABLE temp.moved_clusters")
        self.db.conn.executemany(
            "INSERT OR REPLACE INTO dedup_removals (removed_id, kept_id, distance, nearest_id, nearest_distance, "
            "run_id, created_at) VALUES (:removed_id, :kept_id, :distance, :nearest_id, :nearest_distance, :run_id, "
            ":created_at)", removals)
        self.db["meta"].upsert({"key": "dedup_params", "value": json.dumps(params, sort_keys=True)}, pk="key")

    def dedup_audit(self, limit: int | None = 200, offset: int = 0) -> list[dict]:
        """Removals, closest first, with both texts so a reviewer can spot false merges.

        >>> store.add_prompts([{"id": "p3", "text": "What to wear at a temple festival in Kerala?", "origin": "seed"}], "2026-12-02")
        1
        >>> store.apply_dedup([], [{"removed_id": "p3", "kept_id": "p2", "distance": 3, "nearest_id": "p2", "nearest_distance": 3,
        ...                         "run_id": 2, "created_at": "2026-12-02"}], {"tau": 10, "scope": "global"})
        >>> [(r["removed_text"], r["kept_text"], r["distance"]) for r in store.dedup_audit()]
        [('What to wear at a temple festival in Kerala?', 'What should I wear to a temple festival in Kerala?', 3)]
        """
        return list(self.db.query(
            "SELECT r.removed_id, r.kept_id, r.distance, r.nearest_id, r.nearest_distance, r.run_id, "
            "removed.text AS removed_text, kept.text AS kept_text FROM dedup_removals r "
            "JOIN prompts removed ON removed.id = r.removed_id JOIN prompts kept ON kept.id = r.kept_id "
            "ORDER BY r.distance, r.removed_id LIMIT ? OFFSET ?", [-1 if limit is None else limit, offset]))

    def dedup_counts(self, per_domain: bool = True) -> dict | None:
        """Kept, removed and pending prompts, and (``per_domain``) per-domain prompt counts before and
        after dedup: those count every labeler's labels, the one read here that grows faster than the
        store (COUNT DISTINCT over ~1.4M label rows at 382k prompts), so the overview leaves them out.

        >>> store.dedup_counts()
        {'params': {'scope': 'global', 'tau': 10}, 'kept': 2, 'removed': 0, 'pending': 0, 'too_short_exact_only': 0, 'domains': {'culture.festivals': {'before': 1, 'after': 1}, 'safety.privacy_violation': {'before': 1, 'after': 1}}}
        >>> store.dedup_counts(per_domain=False)["kept"]
        2
        """
        params = self.dedup_params()
        if params is None:
            return None
        state = {r["state"]: r["n"] for r in self.db.query(
            "SELECT CASE is_canonical WHEN 1 THEN 'kept' WHEN 0 THEN 'removed' ELSE 'pending' END AS state, "
            "COUNT(*) AS n FROM prompts GROUP BY state")}
        counts = {"params": params, "kept": state.get("kept", 0), "removed": state.get("removed", 0),
                  "pending": state.get("pending", 0),
                  "too_short_exact_only": self.db.execute(
                      "SELECT COUNT(*) FROM prompts WHERE simhash_short = 1").fetchone()[0]}
        if not per_domain:
            return counts
        domains = {}
        for row in self.db.query(
            "SELECT l.dimension, l.domain, COUNT(DISTINCT p.id) AS before, "
            "COUNT(DISTINCT CASE WHEN p.is_canonical = 1 THEN p.id END) AS after "
            "FROM labels l JOIN prompts p ON p.id = l.prompt_id "
            "WHERE l.domain NOT IN ('none', 'unknown') GROUP BY l.dimension, l.domain ORDER BY l.dimension, l.domain"):
            domains[row["domain"]] = {"before": row["before"], "after": row["after"]}
        return {**counts, "domains": domains}
