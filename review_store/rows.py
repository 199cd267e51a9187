"""Shared writing and paging helpers of the store's query modules."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import sqlite_utils

# a prompt dedup has kept, or not yet seen (alias p)
KEPT = "(p.is_canonical IS NULL OR p.is_canonical = 1)"


def insert_new(db: sqlite_utils.Database, table: str, rows: Iterable[dict]) -> int:
    """INSERT OR IGNORE the rows; returns how many were new."""
    before = db.conn.total_changes
    db[table].insert_all(rows, ignore=True, batch_size=2000)
    return db.conn.total_changes - before


def insert_sorted(db: sqlite_utils.Database, sql: str, rows: Iterable[tuple]) -> int:
    """Run the ``INSERT OR IGNORE`` statement ``sql`` over ``rows`` (tuples, the key first) in key order;
    returns how many were new.

    Rows in key order land on neighbouring pages of the key's index; in file order, at 382k prompts,
    nearly each landed on a page out of SQLite's cache. Plain ``executemany``: no per-row Python.
    """
    before = db.conn.total_changes
    db.conn.executemany(sql, sorted(rows))
    return db.conn.total_changes - before


def prompt_pages(db: sqlite_utils.Database, where: str, params: list, batch: int) -> Iterator[list[dict]]:
    """Batches of prompts (id, seq, text) matching ``where`` (alias ``p``), in seq order.

    Pages by seq rather than OFFSET, so rows the caller updates between batches are not skipped.
    """
    last = -1
    while True:
        rows = list(db.query(f"SELECT id, seq, text FROM prompts p WHERE seq > ? AND ({where}) ORDER BY seq LIMIT ?",
                             [last, *params, batch]))
        if not rows:
            return
        yield rows
        last = rows[-1]["seq"]
