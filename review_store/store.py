"""The SQLite review store: one file, WAL, busy timeout, foreign keys, forward migrations.

Every write transaction starts with ``BEGIN IMMEDIATE``, so a second process that wants to write
waits (up to the busy timeout, ``MISALIGN_BUSY_TIMEOUT`` seconds, default 10) for the first to
commit, instead of failing half-way when its read snapshot turns stale; if the store stays busy it
gets one ``StoreError`` ("store is busy ...") with nothing of its transaction written.

>>> from review_store import Store
>>> store = Store(":memory:")
>>> store.schema_version == SCHEMA_VERSION
True
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from review_store.bench import BenchQueries
from review_store.browse import BrowseQueries
from review_store.dedup import DedupQueries
from review_store.engine_cache import EngineCacheQueries
from review_store.expansion import ExpansionQueries
from review_store.export import ExportQueries
from review_store.labels import LabelQueries
from review_store.pairs import PairQueries
from review_store.review import ReviewQueries
from review_store.prompts import PromptQueries
from review_store.records import N, Notes, StageReport
from review_store.responses import ResponseQueries
from review_store.schema import MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_SECONDS = 10.0
BUSY = "store is busy: another misalign process is writing to {path}; try again"


class StoreError(Exception):
    """A store that cannot be opened or used as asked; the message says why."""


PAGE_CACHE_KIB = 128 * 1024
# PRAGMA application_id of a misalign store ("MSLN"): another application's SQLite file is never touched
APPLICATION_ID = 0x4D534C4E
FIRST_TABLES = {"meta", "prompts", "prompt_sources", "labels", "stage_runs"}  # what every store has had since v1


class Store(PromptQueries, LabelQueries, DedupQueries, EngineCacheQueries, ExpansionQueries, PairQueries,
            ReviewQueries, BenchQueries, ExportQueries, BrowseQueries, ResponseQueries):
    """A misalign store at ``path`` (created and migrated on open).

    Writes go through :meth:`transaction`, which commits all or nothing and bumps the change
    counter the app caches on.
    """

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path, self.read_only = str(path), read_only
        if self.path != ":memory:" and not read_only:
            _check_writable(Path(self.path))
        timeout = float(os.environ.get("MISALIGN_BUSY_TIMEOUT", BUSY_TIMEOUT_SECONDS))
        try:
            conn = _read_only_connection(Path(self.path), timeout) if read_only else sqlite3.connect(
                self.path, timeout=timeout, check_same_thread=False)
            self.db = sqlite_utils.Database(conn)
            self.db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._check_ours()  # before anything is written, WAL included
            if read_only:
                self._check_current()
                return
            self.db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            raise self._busy_or(exc) from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a misalign store ({exc})") from None
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA synchronous = NORMAL")
        # up to 128 MiB of pages (SQLite's default is 2 MiB): writes that land all over a large table's
        # indexes (ingest, dedup, labelling) ran about twice as fast (20 against 46 µs a prompt inserted)
        self.db.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
        self._migrate()

    def _check_ours(self) -> None:
        """A new empty file, a store (marked with :data:`APPLICATION_ID`, or from before the mark: every
        table of v1), or one line saying it is another application's file, left as it was."""
        application_id = self.db.execute("PRAGMA application_id").fetchone()[0]
        tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if application_id == APPLICATION_ID or (application_id == 0 and (
                (not tables and self.schema_version == 0) or (self.schema_version and FIRST_TABLES <= tables))):
            return
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(f"{self.path}: not a misalign store but another application's SQLite file "
                         f"({len(tables)} table{'' if len(tables) == 1 else 's'}: {shown or 'none'}); it was left as it was")

    def _check_current(self) -> None:
        """A store opened read-only is read as it is: it must have this misalign's schema."""
        if self.schema_version != SCHEMA_VERSION:
            newer = self.schema_version > SCHEMA_VERSION
            raise StoreError(f"{self.path}: a read-only store of schema v{self.schema_version}, "
                             + ("newer than this misalign; upgrade misalign" if newer else
                                f"older than this misalign's v{SCHEMA_VERSION}; open it once where it can be "
                                "written to migrate it"))

    def _busy_or(self, exc: sqlite3.OperationalError) -> Exception:
        """A locked store as one line for the user; any other SQLite error as it is (a bug)."""
        if "locked" in str(exc) or "busy" in str(exc):
            return StoreError(BUSY.format(path=self.path))
        return exc

    def close(self) -> None:
        """Close the connection (the store is usable as a context manager, which closes it too).

        >>> with Store("other.db") as other:
        ...     other.add_panel({"name": "West Africa", "min_submissions": 3})
        >>> other.db.execute("SELECT 1")
        Traceback (most recent call last):
        ...
        sqlite3.ProgrammingError: Cannot operate on a closed database.
        """
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        """The version of the store's tables (SQLite's ``user_version``), raised by each migration.

        >>> store.schema_version == SCHEMA_VERSION
        True
        """
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: store schema v{current} is newer than this misalign (v{SCHEMA_VERSION}); upgrade misalign"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                MIGRATIONS[version - 1](self.db)
                self.db.execute(f"PRAGMA user_version = {version}")
        if self.db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    @contextmanager
    def transaction(self) -> Iterator["Store"]:
        """All writes inside commit together or not at all. Nested blocks are savepoints.

        The outermost block takes the write lock first (``BEGIN IMMEDIATE``, waiting up to the busy
        timeout): a store another process keeps busy raises ``StoreError`` before anything is written.

        >>> with store.transaction():
        ...     store.add_panel({"name": "West Africa", "min_submissions": 3})
        >>> try:
        ...     with store.transaction():
        ...         store.add_panel({"name": "East Asia", "min_submissions": 3})
        ...         raise KeyboardInterrupt
        ... except KeyboardInterrupt:
        ...     pass
        >>> [p["name"] for p in store.panels()]
        ['South Asia', 'West Africa']
        """
        if self.db.conn.in_transaction:
            with self.db.atomic():
                yield self
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._busy_or(exc) from None
        try:
            yield self
            if self.db["meta"].exists():
                self.db.execute(
                    "INSERT INTO meta (key, value) VALUES ('changes', '1') "
                    "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
                )
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def change_counter(self) -> int:
        """A number that grows with every committed write: a cache key for readers.

        >>> before = store.change_counter()
        >>> with store.transaction():
        ...     store.add_panel({"name": "West Africa", "min_submissions": 3})
        >>> store.change_counter() - before
        1
        """
        row = self.db.execute("SELECT value FROM meta WHERE key = 'changes'").fetchone()
        return int(row[0]) if row else 0

    def vacuum(self) -> int:
        """Give the space of deleted rows back to the file system (SQLite keeps it otherwise). Returns the
        file's bytes after.

        >>> store.vacuum() > 0
        True
        """
        self.db.execute("VACUUM")
        # in WAL mode the vacuumed pages sit in the log until a checkpoint: write them to the file first
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return Path(self.path).stat().st_size

    # -- stage runs ---------------------------------------------------------------------------

    @contextmanager
    def stage_run(self, stage: str, params: dict | None = None, notes: N | None = None) -> Iterator[StageReport[N]]:
        """Run a stage: yields its report (timed from here) and records it when the block ends.

        A stage whose last writes must commit with its run (dedup's removals name the run) calls
        ``record_stage_run`` in that transaction itself; a run that raises is not recorded. ``notes`` is the
        stage's own :class:`Notes` (a plain one when not given).

        >>> store = Store(":memory:")
        >>> with store.stage_run("ingest", {"file": "x.csv"}) as report:
        ...     report.items_in = report.kept = 3
        >>> report.run_id, store.stage_runs("ingest")[0]["kept"]
        (1, 3)
        """
        report = StageReport(stage, params=dict(params or {}), notes=notes if notes is not None else Notes())
        yield report
        if report.run_id is None:
            self.record_stage_run(report)

    def record_stage_run(self, report: StageReport) -> int:
        """Store one stage run's report, timed to now; returns its id (also set as ``report.run_id``).

        >>> from review_store import StageReport
        >>> store.record_stage_run(StageReport("export", items_in=1, kept=1, params={"seed": 0}))
        3
        >>> store.stage_runs("export")[0]["params"]
        {'seed': 0}
        """
        report.seconds = report.elapsed()
        with self.transaction():
            report.run_id = (
                self.db["stage_runs"]
                .insert(
                    {
                        "stage": report.stage,
                        "started_at": report.started_at,
                        "seconds": round(report.seconds, 3),
                        "items_in": report.items_in,
                        "kept": report.kept,
                        "dropped": json.dumps(report.dropped, sort_keys=True),
                        "params": json.dumps(report.params, sort_keys=True, default=str),
                        "notes": json.dumps(report.notes.as_dict(), sort_keys=True, default=str),
                    }
                )
                .last_pk
            )
        return report.run_id

    def stage_runs(self, stage: str | None = None, limit: int = 100) -> list[dict]:
        """The latest stage runs, newest first, with their JSON fields decoded.

        >>> [(r["stage"], r["items_in"], r["kept"], r["params"]) for r in store.stage_runs()]
        [('dedup', 2, 2, {'tau': 10}), ('ingest', 2, 2, {'file': 'prompts.csv'})]
        >>> store.stage_runs("export")
        []
        """
        where, params = ("stage = ?", [stage]) if stage else (None, [])
        rows = self.db["stage_runs"].rows_where(where, params, order_by="id desc", limit=limit)
        return [
            {**row, **{k: json.loads(row[k] or "{}") for k in ("dropped", "params", "notes")}}
            for row in rows
        ]

    def _dedup_status(self, counts: dict | None, audit_limit: int) -> dict | None:
        if counts is None:
            return None
        audit = self.dedup_audit(limit=audit_limit)
        return {**counts, "audit": [
            {k: row[k] for k in ("removed_id", "kept_id", "distance", "nearest_id", "nearest_distance", "run_id")}
            for row in audit]}

    # -- status ---------------------------------------------------------------------------------

    def overview(self) -> dict:
        """The counts the app's overview shows: prompts, labels, dedup, pairs, review (no per-domain funnel).

        >>> figures = store.overview()
        >>> figures["prompts"]["total"], figures["pairs"]["by_status"], figures["review"]["human_statuses"]
        (2, {'accepted': 1}, {})
        """
        return {
            "db": self.path,
            "schema_version": self.schema_version,
            "prompts": self.prompt_counts(),
            "labels": self.label_counts(),
            "dedup": self.dedup_counts(per_domain=False),
            "pairs": self.pair_counts(),
            "review": {"progress": self.review_progress(), "human_statuses": self.human_status_counts(),
                       "example_answers": self.example_answer_count()},
        }

    def table_bytes(self) -> dict[str, int]:
        """Bytes on disk per table, its indexes counted with it (SQLite's ``dbstat``).

        >>> sizes = store.table_bytes()
        >>> sizes["prompts"] > 0, "annotations" in sizes
        (True, True)
        """
        sizes: dict[str, int] = {}
        for table, size in self.db.execute(
                "SELECT COALESCE(m.tbl_name, s.name), SUM(s.pgsize) FROM dbstat s "
                "LEFT JOIN sqlite_schema m ON m.name = s.name GROUP BY 1"):
            sizes[table] = sizes.get(table, 0) + size
        return sizes

    def status(self, audit_limit: int = 200) -> dict:
        """The store in numbers: what ``misalign status --json`` prints (the overview, the funnel per
        labeler, the dedup audit, semantic types, label failures, the engine cache, the fitted labelling models'
        size, stage runs).

        >>> status = store.status()
        >>> status["engine_cache"], status["label_failures"], list(status["funnel"])
        ({}, {'embed:default:softmax': {'unparsable': 1}}, ['embed:default:softmax', 'imported:prompts.csv'])
        """
        figures = self.overview()
        return {
            **figures,
            "semantic_types": self.semantic_type_counts(),
            "label_failures": self.label_failure_counts(),
            "funnel": {labeler: self.domain_funnel(labeler) for labeler in figures["labels"]},
            "dedup": self._dedup_status(self.dedup_counts(), audit_limit),
            "engine_cache": self.engine_cache_counts(),
            "text_vectors": self.db["text_vectors"].count,
            "label_models": dict(zip(("models", "bytes"), self.db.execute(
                "SELECT COUNT(*), COALESCE(SUM(length(model)), 0) FROM label_models").fetchone())),
            "stage_runs": {row["stage"]: row["n"] for row in self.db.query(
                "SELECT stage, COUNT(*) AS n FROM stage_runs GROUP BY stage ORDER BY stage")},
        }


def _check_writable(path: Path) -> None:
    """A store is written to (and its WAL files made beside it): a read-only file or folder, or a
    missing folder, is one line before any work."""
    folder = path.parent
    if path.exists() and not path.is_file():
        raise StoreError(f"{path}: not a store file but a {_kind(path)}; --db names a store file")
    if not folder.is_dir():
        raise StoreError(f"{path}: folder {folder} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise StoreError(f"{path}: the store is read-only (its file cannot be written); "
                         "copy it somewhere writable or change its permissions")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"{path}: the folder {folder} is read-only; a store needs to write its journal beside it")


def is_writable(path: Path) -> bool:
    """Whether a store at ``path`` can be written: the file (if any) and its folder."""
    try:
        _check_writable(path)
    except StoreError:
        return False
    return True


def _read_only_connection(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection that never writes. A WAL store on a read-only file system cannot make its shared-memory
    file, so it is then read as immutable (no other process can be writing to it there either)."""
    uri = path.resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout, check_same_thread=False)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=timeout, check_same_thread=False)


def _kind(path: Path) -> str:
    """What a path that is not a regular file is, in words."""
    for test, word in ((Path.is_dir, "folder"), (Path.is_fifo, "named pipe"), (Path.is_char_device, "device"),
                       (Path.is_block_device, "device"), (Path.is_socket, "socket")):
        if test(path):
            return word
    return "special file"


# What the studio's pages may read, and nothing else (pipeline.app.shared.read refuses any other method):
# queries only, run on a read-only connection besides.
APP_READS = frozenset(getattr(Store, name) for name in (
    "annotations", "annotators", "answer_counts", "answered_items", "bench_groups", "bench_summaries", "domain_bench_figures",
    "domain_pairs", "domain_probability_histogram", "domain_prompts", "domain_semantic_types", "domain_summary",
    "labelers_with_labels", "overview", "pair_bench_flags", "pair_context", "pair_domains", "pair_labelers",
    "pairs_by_ids", "panels", "pending_items", "review_progress", "stage_runs"))
