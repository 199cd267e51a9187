import os
import random
import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

import review_store.store as store_module
from review_store import SCHEMA_VERSION, Notes, StageReport, Store, StoreError, content_id, normalise_text, prompt_id


def test_store_is_wal_with_foreign_keys_and_busy_timeout(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert store.schema_version == SCHEMA_VERSION


def test_foreign_keys_are_enforced(store):
    with pytest.raises(sqlite3.IntegrityError):
        with store.transaction():
            store.add_prompt_sources([{"prompt_id": "no-such-prompt", "source": "x", "row": 1}])


def test_origin_is_checked(store):
    with pytest.raises(sqlite3.IntegrityError, match="origin"):
        with store.transaction():
            store.add_prompts([{"id": "p", "text": "t", "origin": "invented"}], created_at="now")


def test_a_failed_transaction_leaves_nothing_behind(store):
    before = store.change_counter()
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.add_prompts([{"id": "p", "text": "t", "origin": "seed"}], created_at="now")
            raise RuntimeError("crash mid-way")
    assert store.prompt_counts()["total"] == 0
    assert store.change_counter() == before


def test_change_counter_grows_with_each_committed_write(store):
    before = store.change_counter()
    with store.transaction():
        store.add_prompts([{"id": "a", "text": "a", "origin": "seed"}], created_at="now")
        with store.transaction():  # nested: one commit, one change
            store.add_prompts([{"id": "b", "text": "b", "origin": "seed"}], created_at="now")
    assert store.change_counter() == before + 1


def test_add_prompts_keeps_the_first_copy_and_counts_only_new_ones(store):
    with store.transaction():
        assert store.add_prompts([{"id": "a", "text": "first", "origin": "seed"}], created_at="t1") == 1
        assert store.add_prompts([{"id": "a", "text": "first", "origin": "seed"},
                                  {"id": "b", "text": "second", "origin": "seed"}], created_at="t2") == 1
    a, b = store.prompt("a"), store.prompt("b")
    assert a["created_at"] == "t1" and a["seq"] < b["seq"]


def test_ids_are_content_hashes_of_normalised_text():
    assert prompt_id("Hello\r\n  world ") == prompt_id("Hello\n world")
    assert prompt_id("Hello") != prompt_id("hello")  # case is kept: near-duplicates are dedup's job
    assert content_id("ab", "c") != content_id("a", "bc")
    assert normalise_text(" a \t b \n\n\n\n c ") == "a b\n\nc"
    assert normalise_text("e\u0301") == "\u00e9"


def test_normalisation_gives_the_ids_earlier_stores_hold():
    # the definition ids were computed with: every run of horizontal whitespace becomes one space
    def defined(text):
        text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
        text = "\n".join(line.strip() for line in re.sub(r"[^\S\n]+", " ", text).split("\n"))
        return re.sub(r"\n{3,}", "\n\n", text).strip()

    rng = random.Random(7)
    alphabet = ["a", "b", " ", "  ", "\t", "\u00a0", "\u2003", "\x0b", "\x0c", "\x1c", "\x85", "\u200b", "\r", "\n",
                "\r\n", "\u2028", "\u3000", "e\u0301"]
    texts = ["a b", " a", "a \t b", "a\u00a0b", "a \u00a0 b", "a\t", "\t\ta\n \n\n\nb", "x \r\n y"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))) for _ in range(5_000)]
    for text in texts:
        assert normalise_text(text) == defined(text), repr(text)


def test_stage_runs_round_trip(store):
    @dataclass
    class IngestNotes(Notes):
        new_prompts: int = 0
        servers: dict | None = None

    report = StageReport("ingest", items_in=3, kept=2, dropped={"empty_prompt": 1}, seconds=0.5,
                         params={"file": "x.csv"}, notes=IngestNotes(new_prompts=2))
    run_id = store.record_stage_run(report)
    [row] = store.stage_runs()
    assert row["id"] == run_id and row["dropped"] == {"empty_prompt": 1}
    assert row["notes"] == {"new_prompts": 2}  # a figure with no value is left out, and no empty left_out
    report.leave_out("empty_prompt", ["x.csv row 3"])
    store.record_stage_run(report)
    assert store.stage_runs()[0]["notes"]["left_out"] == {"empty_prompt": ["x.csv row 3"]}
    assert "new_prompts: 2" in report.summary()
    assert store.status()["stage_runs"] == {"ingest": 2}


def test_an_older_store_is_migrated_forward_keeping_its_data(db_path, monkeypatch):
    with Store(db_path) as store, store.transaction():
        store.add_prompts([{"id": "a", "text": "kept", "origin": "seed"}], created_at="t")

    def add_notes_table(db):
        db["notes"].create({"id": int, "text": str}, pk="id")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, add_notes_table])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with Store(db_path) as store:
        assert store.schema_version == SCHEMA_VERSION + 1
        assert store.db["notes"].exists()
        assert store.prompt("a")["text"] == "kept"


def test_a_newer_store_is_refused(db_path):
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this misalign"):
        Store(db_path)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("just some text, not a database\n" * 100)
    with pytest.raises(StoreError, match="not a misalign store"):
        Store(path)


@pytest.mark.parametrize("other_application", [
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)",
    "CREATE TABLE prompts (id TEXT); PRAGMA user_version = 3",  # a table and a schema version of its own
])
def test_another_applications_sqlite_file_is_left_exactly_as_it_was(tmp_path, cli, other_application):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.executescript(other_application)
    conn.close()
    before = path.read_bytes()
    result = cli("--db", path, "status", db=False)
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1
    assert "not a misalign store but another application's SQLite file" in result.stderr
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_a_store_from_before_the_application_id_still_opens_and_is_marked(db_path):
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA application_id = 0")
    conn.close()
    with Store(db_path) as store:
        assert store.db.execute("PRAGMA application_id").fetchone()[0] == store_module.APPLICATION_ID


def test_a_folder_a_pipe_or_a_device_as_the_store_is_one_line(tmp_path, cli):
    os.mkfifo(tmp_path / "pipe")
    for path, kind in ((tmp_path, "folder"), (tmp_path / "pipe", "named pipe"), (Path("/dev/null"), "device")):
        result = cli("--db", path, "status", db=False)
        assert result.exit_code == 1 and result.stderr.splitlines() == [
            f"error: {path}: not a store file but a {kind}; --db names a store file"]
    assert not list(Path("/dev").glob("null-*"))


def test_a_v11_store_keeps_every_assigned_label_and_its_distributions_after_the_compact_schema(db_path, monkeypatch):
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:11])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 11)
    with Store(db_path) as old, old.transaction():
        old.add_prompts([{"id": p, "text": f"prompt {p}", "origin": "seed"} for p in ("a", "b", "c")], created_at="t")
        old.db["labelers"].insert({"name": "embed:mini:softmax", "engine": "embedded", "backend": "embed",
                                   "model": "mini", "mode": "softmax", "delta": 0.5, "taxonomy_version": "1"})
        rows = [("a", "safety", "safety.self_harm", 1.0, "imported:dev.csv", 1),
                ("a", "culture", "culture.museums", 1.0, "imported:dev.csv", 1),
                ("b", "safety", "none", 1.0, "imported:dev.csv", 1),
                ("a", "safety", "safety.self_harm", 0.7, "embed:mini:softmax", 1),
                ("a", "safety", "none", 0.2, "embed:mini:softmax", 0),
                ("a", "safety", "safety.privacy_violation", 0.1, "embed:mini:softmax", 0),
                ("b", "safety", "none", 0.6, "embed:mini:softmax", 1),
                ("b", "safety", "safety.self_harm", 0.4, "embed:mini:softmax", 0),
                ("c", "safety", "unknown", 1.0, "embed:mini:softmax", 1)]
        old.db["labels"].insert_all([dict(zip(("prompt_id", "dimension", "domain", "probability", "labeler",
                                               "assigned"), r), taxonomy_version="1", created_at="t") for r in rows])
        assigned_before = sorted((r[4], r[0], r[1], r[2], r[3]) for r in rows if r[5])
    monkeypatch.undo()
    with Store(db_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assigned_after = sorted((name, *row) for name in ("imported:dev.csv", "embed:mini:softmax")
                                for row in store.assigned_labels(name))
        assert assigned_after == assigned_before
        assert store.labeler("embed:mini:softmax")["model"] == "mini"  # provenance kept, an id given
        assert store.labeler("imported:dev.csv")["engine"] == "imported"
        prompt_ids, domains, probabilities = store.label_distributions("embed:mini:softmax", "safety")
        found = {(p, d): round(float(probabilities[i, j]), 3) for i, p in enumerate(prompt_ids)
                 for j, d in enumerate(domains) if probabilities[i, j] > 0}
        assert found == {("a", "safety.self_harm"): 0.7, ("a", "none"): 0.2, ("a", "safety.privacy_violation"): 0.1,
                         ("b", "none"): 0.6, ("b", "safety.self_harm"): 0.4}
        assert store.label_counts()["embed:mini:softmax"]["safety"] == {
            "domains": {"safety.self_harm": 1}, "none": 1, "unknown": 1}
        assert store.count_prompts_without_labels("embed:mini:softmax") == 0


def test_a_v18_store_keeps_every_semantic_type_after_the_compact_schema(db_path, monkeypatch):
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:18])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 18)
    with Store(db_path) as old, old.transaction():
        old.add_prompts([{"id": p, "text": f"prompt {p}", "origin": "seed"} for p in ("a", "b")], created_at="t")
        old.add_labels([{"prompt_id": "a", "dimension": "safety", "domain": "none", "probability": 1.0,
                         "labeler": "embed:mini:softmax"}])
        rows = [("a", "object", 0.2, "embed:mini:softmax"), ("a", "relation", 0.8, "embed:mini:softmax"),
                ("b", "attribute", 0.6, "embed:mini:softmax"), ("b", "object", 0.4, "embed:mini:softmax"),
                ("b", "object", 1.0, "imported:dev.csv")]  # a labeler with types only: not yet recorded
        old.db["semantic_types"].insert_all(dict(zip(("prompt_id", "type", "probability", "labeler"), r)) for r in rows)
    monkeypatch.undo()
    with Store(db_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert sorted((*row, name) for name in ("embed:mini:softmax", "imported:dev.csv")
                      for row in store.semantic_types_of(name)) == sorted(rows)
        assert store.semantic_type_counts() == {
            "embed:mini:softmax": {"attribute": 1, "relation": 1}, "imported:dev.csv": {"object": 1}}
        assert store.labeler("imported:dev.csv")["engine"] == "imported"
        assert store.labeler_id("imported:dev.csv") != store.labeler_id("embed:mini:softmax")
        assert {(r["prompt_id"], r["type"]) for r in store.training_types(["imported:dev.csv"])} == {("b", "object")}


def test_every_public_store_method_says_what_it_does_with_an_example_that_runs():
    """As sqlite-utils documents every method: each public method (and property) of the store has a
    docstring with a ``>>>`` example that calls it, run by pytest's doctests on the example store
    (``conftest.example_store``); none is skipped."""
    import doctest
    import inspect

    from review_store import Store

    missing = []
    for name, member in inspect.getmembers(Store, lambda m: inspect.isfunction(m) or isinstance(m, property)):
        if name.startswith("_"):
            continue
        doc = ((member.fget if isinstance(member, property) else member).__doc__ or "").strip()
        examples = doctest.DocTestParser().get_examples(doc)
        runs = [e for e in examples if not e.options.get(doctest.SKIP) and f".{name}" in e.source
                or name == "close" and "with Store(" in e.source]
        if not doc or not runs:
            missing.append(name)
    assert not missing, missing


def _two_prompts(store):
    with store.transaction():
        store.add_prompts([{"id": "p1", "text": "How do I bake bread?", "origin": "seed"},
                           {"id": "p2", "text": "Which festival is in May?", "origin": "seed"}], created_at="2026-12-01")


def test_engine_cache_and_text_vectors_keep_the_first_answer(store):
    row = {"key": "k1", "backend": "hf", "model": "m", "kind": "generate", "request": "{}", "response": '{"a": 1}'}
    with store.transaction():
        assert store.add_cached_responses([row]) == 1
        assert store.add_cached_responses([{**row, "response": '{"a": 2}'}]) == 0  # a repeat keeps what it had
        store.add_text_vectors([(7, b"\x00\x01"), (7, b"\xff"), (8, b"\x02")])
    assert store.cached_responses(["k1", "k2"]) == {"k1": '{"a": 1}'}
    assert store.text_vectors([7, 8, 9]) == {7: b"\x00\x01", 8: b"\x02"}


def test_fingerprints_are_set_read_back_and_forgotten_with_the_dedup_settings(store):
    _two_prompts(store)
    assert [p["id"] for batch in store.prompts_to_fingerprint() for p in batch] == ["p1", "p2"]
    with store.transaction():
        store.set_fingerprints([("p1", -5), ("p2", None)])  # p2: too short to fingerprint
        store.apply_dedup([("p1", "p1"), ("p2", "p2")], [], {"tau": 3})
    assert list(store.prompts_to_fingerprint()) == [] and store.kept_fingerprints() == [("p1", -5)]
    assert store.dedup_params() == {"tau": 3}
    with store.transaction():
        store.reset_dedup({"tau": 4})
    assert [p["id"] for batch in store.prompts_to_fingerprint() for p in batch] == ["p1", "p2"]
    assert store.kept_fingerprints() == [] and store.dedup_params() == {"tau": 4}


def test_label_failures_are_counted_and_replaced_labels_are_exactly_the_new_ones(store):
    _two_prompts(store)
    with store.transaction():
        store.add_labeler({"name": "human:Pacific", "engine": "human", "created_at": "2026-12-01"})
        store.add_labels([{"prompt_id": p, "dimension": "safety", "domain": "none", "probability": 1.0,
                           "labeler": "human:Pacific"} for p in ("p1", "p2")])
        store.add_label_failures([{"prompt_id": "p1", "dimension": "value", "labeler": "hf:x", "raw": "??",
                                   "reason": "unusable_answer", "created_at": "2026-12-01"}])
        store.replace_labels("human:Pacific", ["p1"], [
            {"prompt_id": "p1", "dimension": "culture", "domain": "culture.festivals", "probability": 1.0,
             "labeler": "human:Pacific"}], [])
    assert store.label_failure_counts() == {"hf:x": {"unusable_answer": 1}}
    assert sorted(store.assigned_labels("human:Pacific")) == [
        ("p1", "culture", "culture.festivals", 1.0), ("p2", "safety", "none", 1.0)]  # p2 untouched


def test_expansion_rounds_count_up_per_domain_and_labeler(store):
    assert store.next_expansion_round("culture.festivals", "x") == 0
    with store.transaction():
        store.add_expansion_candidates([{"id": f"c{r}", "domain": "culture.festivals", "text": "t", "status": "exists",
                                         "generator": "g", "labeler": "x", "round": r, "created_at": "now"}
                                        for r in (0, 1)])
    assert store.next_expansion_round("culture.festivals", "x") == 2
    assert store.next_expansion_round("culture.festivals", "y") == 0


def test_table_bytes_and_vacuum_give_space_back(store):
    _two_prompts(store)
    with store.transaction():
        store.add_text_vectors([(i, bytes(4096)) for i in range(200)])
    assert store.table_bytes()["text_vectors"] > 200 * 4096
    before = store.vacuum()
    assert before == Path(store.path).stat().st_size > 200 * 4096  # the file's bytes, the log written into it
    with store.transaction():
        store.db.execute("DELETE FROM text_vectors")
    assert store.vacuum() < before - 200 * 4096 and store.table_bytes().get("text_vectors", 0) < 4 * 4096
