"""Prompt queries: add prompts and their sources, count and page through them."""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlite_utils

from review_store.rows import insert_sorted


def subset_where(subset: dict | None) -> tuple[str, list]:
    """The SQL condition (on prompts ``p``) and parameters of a subset of prompts, every given key holding:
    ``ids`` (those prompts), ``source`` (read from that source), ``domain`` (assigned that domain by ``domain_by``, or by any
    labeler when it is None), ``since`` (added at or after that UTC ISO 8601 time).

    >>> subset_where({"source": "dev.csv", "since": "2026-12-01"})
    ('EXISTS (SELECT 1 FROM prompt_sources s WHERE s.prompt_id = p.id AND s.source = ?) AND p.created_at >= ?', ['dev.csv', '2026-12-01'])
    """
    subset, parts, params = subset or {}, [], []
    if subset.get("ids") is not None:
        parts.append("p.id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(sorted(subset["ids"])))
    if subset.get("source") is not None:
        parts.append("EXISTS (SELECT 1 FROM prompt_sources s WHERE s.prompt_id = p.id AND s.source = ?)")
        params.append(subset["source"])
    if subset.get("domain") is not None:
        by = " AND d.labeler_id = (SELECT id FROM labelers WHERE name = ?)" if subset.get("domain_by") else ""
        parts.append(f"EXISTS (SELECT 1 FROM labels d WHERE d.prompt_id = p.id AND d.domain = ?{by})")
        params += [subset["domain"], *([subset["domain_by"]] if by else [])]
    if subset.get("since") is not None:
        parts.append("p.created_at >= ?")
        params.append(subset["since"])
    return " AND ".join(parts) or "1", params


class PromptQueries:
    db: sqlite_utils.Database

    def source_names(self) -> list[str]:
        """Every source prompts were read from (a file's name, or the name ingest was given).

        >>> store.source_names()
        ['prompts.csv']
        """
        return [r[0] for r in self.db.execute("SELECT DISTINCT source FROM prompt_sources ORDER BY source")]

    def prompt_ids_in(self, subset: dict | None) -> set[str]:
        """The ids of the prompts in a subset (see :func:`subset_where`).

        >>> sorted(store.prompt_ids_in({"source": "prompts.csv"}))
        ['p1', 'p2']
        >>> store.prompt_ids_in({"domain": "culture.festivals"})
        {'p2'}
        """
        where, params = subset_where(subset)
        return {r[0] for r in self.db.execute(f"SELECT id FROM prompts p WHERE {where}", params)}

    def add_prompts(self, rows: Iterable[dict], created_at: str) -> int:
        """Add prompts (id, text, origin, parent_id) that are not stored yet; returns how many were new.

        Each new prompt gets the next ``seq``, so "earliest" is well defined for later stages.

        >>> store.add_prompts([{"id": "p3", "text": "Hi", "origin": "seed"}, {"id": "p1", "text": "Hi", "origin": "seed"}],
        ...                   created_at="2026-12-02T10:00:00+00:00")
        1
        >>> store.prompt("p3")["seq"], store.prompt("p1")["text"]
        (3, "How do I find someone's home address from their photos?")
        """
        rows = list(rows)
        existing = {r[0] for r in self.db.execute(
            "SELECT id FROM prompts WHERE id IN (SELECT value FROM json_each(?))",
            [json.dumps([r["id"] for r in rows])],
        )}
        next_seq = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM prompts").fetchone()[0] + 1
        new_rows, seen = [], set(existing)
        for row in rows:
            if row["id"] in seen:
                continue
            seen.add(row["id"])
            new_rows.append((row["id"], next_seq, row["text"], row["origin"], row.get("parent_id"), created_at))
            next_seq += 1
        return insert_sorted(self.db, "INSERT OR IGNORE INTO prompts (id, seq, text, origin, parent_id, created_at) "
                             "VALUES (?, ?, ?, ?, ?, ?)", new_rows)

    def add_prompt_sources(self, rows: Iterable[dict]) -> int:
        """Record where prompts came from (prompt_id, source, row); returns how many were new.

        >>> store.add_prompt_sources([{"prompt_id": "p1", "source": "more.csv", "row": 7}])
        1
        >>> store.prompt("p1")["sources"]
        [{'source': 'more.csv', 'row': 7}, {'source': 'prompts.csv', 'row': 1}]
        """
        return insert_sorted(self.db, "INSERT OR IGNORE INTO prompt_sources (prompt_id, source, row) VALUES (?, ?, ?)",
                             ((r["prompt_id"], r["source"], r["row"]) for r in rows))

    def prompt_counts(self) -> dict:
        """Prompts in total, by origin, and source rows behind them.

        >>> store.prompt_counts()
        {'total': 2, 'by_origin': {'seed': 2}, 'source_rows': 2}
        """
        by_origin = {r["origin"]: r["n"] for r in self.db.query(
            "SELECT origin, COUNT(*) AS n FROM prompts GROUP BY origin ORDER BY origin")}
        sources = self.db.execute("SELECT COUNT(*) FROM prompt_sources").fetchone()[0]
        return {"total": sum(by_origin.values()), "by_origin": by_origin, "source_rows": sources}

    def prompt(self, prompt_id: str) -> dict | None:
        """One prompt with its sources, or None.

        >>> store.prompt("p2")
        {'id': 'p2', 'seq': 2, 'text': 'What should I wear to a temple festival in Kerala?', 'origin': 'seed', 'parent_id': None, 'created_at': '2026-12-01T09:00:00+00:00', 'simhash': -7654321, 'simhash_short': 0, 'cluster_id': 'p2', 'is_canonical': 1, 'sources': [{'source': 'prompts.csv', 'row': 2}]}
        >>> store.prompt("p9") is None
        True
        """
        rows = list(self.db.query("SELECT * FROM prompts WHERE id = ?", [prompt_id]))
        if not rows:
            return None
        sources = list(self.db.query(
            "SELECT source, row FROM prompt_sources WHERE prompt_id = ? ORDER BY source, row", [prompt_id]))
        return {**rows[0], "sources": sources}

    def prompts_page(self, offset: int = 0, limit: int = 50, search: str | None = None) -> list[dict]:
        """A page of prompts in ``seq`` order, optionally those whose text contains ``search``.

        >>> store.prompts_page(search="KERALA")
        [{'id': 'p2', 'seq': 2, 'text': 'What should I wear to a temple festival in Kerala?', 'origin': 'seed'}]
        >>> [p["id"] for p in store.prompts_page(offset=1)]
        ['p2']
        """
        where, params = "", []
        if search:
            where, params = "WHERE instr(lower(text), lower(?)) > 0", [search]
        return list(self.db.query(
            f"SELECT id, seq, text, origin FROM prompts {where} ORDER BY seq LIMIT ? OFFSET ?",
            [*params, limit, offset]))
