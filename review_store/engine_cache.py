"""Engine cache queries: model answers stored by request hash, replayed on re-runs; text vectors by
(model, text) hash."""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlite_utils

from review_store.clock import utc_now
from review_store.rows import insert_new


class EngineCacheQueries:
    db: sqlite_utils.Database

    def _stored(self, sql: str, keys: Iterable) -> dict:
        """(key, value) rows of ``sql`` (its ``?`` a JSON array of keys), 10,000 keys a query."""
        keys = list(dict.fromkeys(keys))
        found = {}
        for begin in range(0, len(keys), 10_000):
            found.update(self.db.execute(sql, [json.dumps(keys[begin:begin + 10_000])]))
        return found

    def cached_responses(self, keys: Iterable[str]) -> dict[str, object]:
        """Stored answers for the keys that have one (text for JSON answers, bytes for vectors).

        >>> store.add_cached_responses([{"key": "k1", "backend": "hf", "model": "smol", "kind": "generate",
        ...                              "request": "{}", "response": '{"text": "Hello"}'}])
        1
        >>> store.cached_responses(["k1", "k2"])
        {'k1': '{"text": "Hello"}'}
        """
        return self._stored("SELECT key, response FROM engine_cache WHERE key IN (SELECT value FROM json_each(?))", keys)

    def add_cached_responses(self, rows: Iterable[dict]) -> int:
        """Store answers (key, backend, model, kind, request, response); returns how many were new.

        >>> row = {"key": "k1", "backend": "hf", "model": "smol", "kind": "generate", "request": "{}", "response": '{"text": "Hi"}'}
        >>> store.add_cached_responses([row]), store.add_cached_responses([{**row, "response": '{"text": "Bye"}'}])
        (1, 0)
        >>> store.cached_responses(["k1"])
        {'k1': '{"text": "Hi"}'}
        """
        now = utc_now()
        return insert_new(self.db, "engine_cache", ({**r, "created_at": now} for r in rows))

    def engine_cache_counts(self) -> dict[str, int]:
        """Stored answers per backend:model:kind.

        >>> store.add_cached_responses([{"key": "k1", "backend": "hf", "model": "smol", "kind": "generate",
        ...                              "request": "{}", "response": '{"text": "Hello"}'}])
        1
        >>> store.engine_cache_counts()
        {'hf:smol:generate': 1}
        """
        return {f"{r['backend']}:{r['model']}:{r['kind']}": r["n"] for r in self.db.query(
            "SELECT backend, model, kind, COUNT(*) AS n FROM engine_cache GROUP BY backend, model, kind")}

    def text_vectors(self, ids: Iterable[int]) -> dict[int, bytes]:
        """Stored vectors for the (model, text) hashes that have one.

        >>> store.add_text_vectors([(42, b"vector-a")])
        >>> store.text_vectors([42, 43])
        {42: b'vector-a'}
        """
        return self._stored("SELECT id, vector FROM text_vectors WHERE id IN (SELECT value FROM json_each(?))", ids)

    def add_text_vectors(self, rows: Iterable[tuple[int, bytes]]) -> None:
        """Store (hash, vector) rows; a hash already stored keeps its vector.

        >>> store.add_text_vectors([(42, b"vector-a")])
        >>> store.add_text_vectors([(42, b"vector-b")])
        >>> store.text_vectors([42])
        {42: b'vector-a'}
        """
        self.db.conn.executemany("INSERT OR IGNORE INTO text_vectors (id, vector) VALUES (?, ?)", rows)
