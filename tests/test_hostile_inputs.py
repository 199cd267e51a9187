"""Text in this data is adversarial by design, and users make mistakes: every case here is one a
new user or an attacker tried. Each checks what they would see (the message, the exit status) and
that the store is left as it was, or that the text came through exactly."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.text.cells import spreadsheet_safe

RTL = "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd and \u0645\u0631\u062d\u0628\u0627"  # Hebrew and Arabic
SHAPES = [
    "  leading spaces then the answer: ask the owner before you read anything of theirs.",
    "trailing spaces on each line   \nand on the next one too, so keep your distance and respect them.   ",
    "\ttabs\tinside\tthe text\tof an answer that says you should ask for consent first.",
    "Windows line ends\r\nare kept as they are\r\nbecause a response is data, and data is never rewritten.\r\n",
    "Here is the code:\n\n```python\ndef respect(person):\n    if person.consents:\n        return True\n\n"
    "    return False\n```\n\nIndentation matters in Python, so it must survive export.",
    "Emoji stay as they are \U0001F600\U0001F44D\U0001F3FD and so does the rest of this helpful answer text.",
    f"Right-to-left text {RTL} sits inside an English answer that explains why privacy matters.",
    "\n\nblank lines before and after the answer, which still explains what to do instead\n\n\n",
    "Combining accents e\u0301 and precomposed \u00e9 stay distinct: this answer is about asking first.",
    "Non-breaking\u00a0spaces and thin\u2009spaces stay in an answer that tells you to ask the owner.",
]


def _responses(n: int) -> list[tuple[str, str, str]]:
    """(prompt, aligned, misaligned) with every awkward shape, n of them."""
    rows = []
    for i in range(n):
        shape = SHAPES[i % len(SHAPES)]
        prompt = f"  Question {i}:\twhat should I do with my flatmate's diary?  " + ("\r\nbe honest" if i % 3 else "")
        ending = "   \r\n" if i % 2 else "\n\n"
        misaligned = f"\t Read it whenever you like, case {i}; nobody will ever know \U0001F440 or care, so go ahead.{ending}"
        rows.append((prompt, f"{shape} (case {i}, the aligned one)", misaligned))
    return rows


def test_fifty_awkward_responses_come_out_of_the_export_byte_exact(cli, tmp_path):
    rows = _responses(50)
    prompts, responses = tmp_path / "prompts.jsonl", tmp_path / "responses.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p, "safety": "Privacy Violation"}) + "\n" for p, _, _ in rows),
                       encoding="utf-8")
    with responses.open("w", encoding="utf-8") as f:
        for prompt, aligned, misaligned in rows:
            for slot, text in (("aligned", aligned), ("misaligned", misaligned)):
                f.write(json.dumps({"prompt": prompt, "slot": slot, "text": text, "generator": "hand"}) + "\n")
    assert cli("ingest", prompts, "--labels", "safety=safety").exit_code == 0
    imported = cli("pairs", "--import", responses, "--threshold", "0", "--margin", "0", "--min-english", "0")
    assert imported.exit_code == 0, imported.stderr
    out = tmp_path / "export"
    exported = cli("export", "--licence", "unknown", "--out", out, "--status", "all", "--format", "jsonl,parquet,csv")
    assert exported.exit_code == 0, exported.stderr
    expected = {p: (a, m) for p, a, m in rows}
    with (out / "pairs.jsonl").open(encoding="utf-8", newline="") as f:
        lines = [json.loads(line) for line in f]
    parquet = pd.read_parquet(out / "pairs.parquet")
    csv = pd.read_csv(out / "pairs.csv", dtype=str, keep_default_na=False)
    assert len(lines) == len(parquet) == len(csv) == 50
    for frame in (pd.DataFrame(lines), parquet):
        for record in frame.to_dict("records"):
            assert (record["aligned_response"], record["misaligned_response"]) == expected[record["prompt"]]
    # CSV neutralises what a spreadsheet would run (a leading tab included), and only that
    originals = {spreadsheet_safe(p): (spreadsheet_safe(a), spreadsheet_safe(m)) for p, (a, m) in expected.items()}
    for record in csv.to_dict("records"):
        assert (record["aligned_response"], record["misaligned_response"]) == originals[record["prompt"]]
    assert sum(r["misaligned_response"].startswith("'\t") for r in csv.to_dict("records")) == 50


# -- a store shared by processes -------------------------------------------------------------

MISALIGN = Path(sys.executable).with_name("misalign")


def _misalign(*args, env=None, cwd=None, wait=True):
    command = [str(MISALIGN), *map(str, args)]
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def _holding_the_write_lock(db: Path, seconds: float) -> subprocess.Popen:
    """Another process in a write transaction for ``seconds``; returns once it holds the lock."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE'); print('held', flush=True)\n"
        f"time.sleep({seconds}); c.execute('COMMIT')\n")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def _fingerprint(db: Path) -> dict:
    """Row counts of every table and the integrity check: what 'the store is unchanged' means."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        counts = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
        counts["integrity"] = conn.execute("PRAGMA integrity_check").fetchone()[0]
    return counts


def _prompt_file(path: Path, n: int, start: int = 0) -> Path:
    path.write_text("prompt\n" + "".join(f"Prompt number {i}: how should a visitor greet elders at a festival?\n"
                                         for i in range(start, start + n)), encoding="utf-8")
    return path


def test_a_writer_waits_for_another_process_to_commit(tmp_path):
    db = tmp_path / "shared.db"
    assert _misalign("init", "--db", db).returncode == 0
    holder = _holding_the_write_lock(db, 4)  # longer than the ~3 s after which ingest used to fail
    done = _misalign("ingest", _prompt_file(tmp_path / "p.csv", 5), "--db", db)
    holder.wait()
    assert done.returncode == 0, done.stderr
    assert _fingerprint(db)["prompts"] == 5


def test_a_store_that_stays_busy_is_one_line_and_nothing_written(tmp_path):
    db = tmp_path / "shared.db"
    assert _misalign("ingest", _prompt_file(tmp_path / "a.csv", 3), "--db", db).returncode == 0
    before = _fingerprint(db)
    holder = _holding_the_write_lock(db, 6)
    busy = _misalign("ingest", _prompt_file(tmp_path / "b.csv", 4, start=10), "--db", db,
                     env={**os.environ, "MISALIGN_BUSY_TIMEOUT": "1"})
    holder.wait()
    assert busy.returncode == 1
    assert busy.stderr == f"error: store is busy: another misalign process is writing to {db}; try again\n"
    assert _fingerprint(db) == before


def test_two_labelling_models_on_one_store_both_finish_with_nothing_doubled(tmp_path):
    db = tmp_path / "shared.db"
    assert _misalign("ingest", _prompt_file(tmp_path / "p.csv", 400), "--db", db).returncode == 0
    first, second = (_misalign("label", "--db", db, "--no-types", wait=False) for _ in range(2))
    results = [(p.wait(timeout=300), *p.communicate()) for p in (first, second)]
    for code, _, stderr in results:
        assert code == 0 and "Traceback" not in stderr, stderr
    with sqlite3.connect(db) as conn:
        per_prompt = conn.execute("SELECT COUNT(DISTINCT prompt_id), COUNT(*) FROM labels").fetchone()
        doubled = conn.execute("SELECT COUNT(*) FROM (SELECT 1 FROM labels GROUP BY prompt_id, dimension, domain, "
                               "labeler_id HAVING COUNT(*) > 1)").fetchone()[0]
        runs = conn.execute("SELECT COUNT(*) FROM stage_runs WHERE stage = 'label'").fetchone()[0]
    assert per_prompt[0] == 400 and doubled == 0 and runs == 2
    assert _fingerprint(db)["integrity"] == "ok"


# -- broken input files ----------------------------------------------------------------------

@pytest.fixture
def ingested(cli, db_path, tmp_path):
    """A store with three prompts already in it, and its fingerprint."""
    assert cli("ingest", _prompt_file(tmp_path / "first.csv", 3)).exit_code == 0
    return _fingerprint(db_path)


@pytest.mark.parametrize("content, message", [
    ("prompt,culture,prompt\nfirst text,Festivals,second text\n",
     "line 1: column 'prompt' appears twice (fields 1 and 3); rename one"),
    ('prompt,culture\n"an unterminated quote, Festivals\nnext prompt,Museums\nlast prompt,\n',
     "line 2: a quoted field opened here is never closed"),
])
def test_a_broken_csv_is_refused_naming_the_line(cli, db_path, tmp_path, ingested, content, message):
    path = tmp_path / "broken.csv"
    path.write_text(content, encoding="utf-8")
    result = cli("ingest", path, "--labels", "culture=culture")
    assert result.exit_code == 1 and result.stderr.startswith(f"error: {path}: {message}")
    assert result.stderr.count("\n") == 1
    assert _fingerprint(db_path) == ingested


def test_skip_bad_skips_and_counts_structurally_bad_rows(cli, db_path, tmp_path):
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text("prompt,culture\ngood one about festivals,Festivals\ntoo,many,fields\n"
                        "another good one about museums,Museums\n", encoding="utf-8")
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text('{"prompt": "a good json prompt about greetings"}\n{"prompt": "broken\n["a", "list"]\n'
                     '{"text": "no prompt key"}\n{"prompt": "a second good json prompt"}\n', encoding="utf-8")
    stopped = cli("ingest", jsonl)
    assert stopped.exit_code == 1 and f"{jsonl}: line 2: not valid JSON" in stopped.stderr
    first = cli("ingest", csv_file, "--skip-bad", "--labels", "culture=culture")
    assert first.exit_code == 0 and "2 kept, 1 dropped (wrong_field_count: 1)" in first.stdout
    second = cli("ingest", jsonl, "--skip-bad")
    assert second.exit_code == 0
    assert "5 in, 2 kept, 3 dropped (invalid_json: 1, missing_field: 1, not_an_object: 1)" in second.stdout
    assert _fingerprint(db_path)["prompts"] == 4


def test_a_utf16_file_gets_a_hint_and_no_nul_bytes(cli, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("prompt\nHow do I greet elders at a festival?\n".encode("utf-16"))
    refused = cli("ingest", path)
    assert refused.exit_code == 1 and "\x00" not in refused.stderr
    assert refused.stderr == f"error: {path}: the file starts with a UTF-16 byte-order mark, not UTF-8; pass --encoding utf-16\n"
    assert cli("ingest", path, "--encoding", "utf-16").exit_code == 0


# -- where results are written ---------------------------------------------------------------

@pytest.fixture
def pair_store(db_path, taxonomy):
    """A store of 300 accepted pairs, deduplicated, as an export needs it."""
    from benchmarks.bench_read import build, dedup_as_run
    from review_store import Store

    with Store(db_path) as store:
        build(store, taxonomy, 300, runs=0)
        dedup_as_run(store, 300)
    return db_path


@pytest.mark.parametrize("target, message", [
    ("a-file", "is a file, not a folder"),
    ("/dev/null", "is a file, not a folder"),
    ("a-file/under", "which is a file"),
    ("/", "is the filesystem root"),
    ("~", "is your home folder"),
    ("someone-elses", "is not empty and holds no earlier output of this kind"),
    (".", "holds"),
])
def test_an_export_target_that_would_destroy_something_is_refused(cli, pair_store, tmp_path, monkeypatch,
                                                                  target, message):
    monkeypatch.chdir(pair_store.parent)
    (tmp_path / "a-file").write_text("keep me", encoding="utf-8")
    (tmp_path / "someone-elses").mkdir()
    (tmp_path / "someone-elses" / "thesis.tex").write_text("keep me too", encoding="utf-8")
    before = _fingerprint(pair_store)
    out = str(Path(target).expanduser()) if target == "~" else target
    result = cli("export", "--licence", "unknown", "--out", out, "--status", "all")
    assert result.exit_code == 1 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert _fingerprint(pair_store) == before
    assert (tmp_path / "a-file").read_text(encoding="utf-8") == "keep me"
    assert (tmp_path / "someone-elses" / "thesis.tex").is_file()


def test_exporting_again_replaces_the_folder_whole(cli, pair_store, tmp_path):
    out = tmp_path / "curated"
    assert cli("export", "--licence", "unknown", "--out", out, "--status", "all", "--format", "jsonl,csv,parquet").exit_code == 0
    assert cli("export", "--licence", "unknown", "--out", out, "--status", "all", "--format", "jsonl").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "pairs.jsonl"]  # no stale CSV or Parquet
    foreign = tmp_path / "other"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    assert cli("export", "--licence", "unknown", "--out", foreign, "--status", "all", "--overwrite").exit_code == 0
    assert not (foreign / "notes.txt").exists() and (foreign / "README.md").is_file()


def test_exporting_through_a_link_replaces_the_folder_it_points_to_and_keeps_the_link(cli, pair_store, tmp_path):
    target, link = tmp_path / "curated-v1", tmp_path / "latest"
    assert cli("export", "--licence", "unknown", "--out", target, "--status", "all", "--format", "jsonl,csv").exit_code == 0
    link.symlink_to(target)
    assert cli("export", "--licence", "unknown", "--out", link, "--status", "all", "--format", "jsonl", "--overwrite").exit_code == 0
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert sorted(p.name for p in target.iterdir()) == ["README.md", "pairs.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # nothing left beside them


def test_funnel_csv_and_report_targets_are_checked_too(cli, pair_store, tmp_path):
    refused = cli("funnel", "--labeler", "imported:synthetic", "--csv", tmp_path)
    assert refused.exit_code == 1 and "--csv" in refused.stderr and "is a folder" in refused.stderr
    device = cli("funnel", "--labeler", "imported:synthetic", "--csv", "/dev/null")
    assert device.exit_code == 1 and "not a regular file" in device.stderr
    assert Path("/dev/null").is_char_device()


def test_an_export_killed_at_any_moment_leaves_the_folder_as_it_was_or_complete(tmp_path, taxonomy):
    import random
    import signal
    import time

    from benchmarks.bench_read import build, dedup_as_run
    from review_store import Store

    db, out = tmp_path / "big.db", tmp_path / "curated"
    with Store(db) as store:
        build(store, taxonomy, 40_000, runs=0)
        dedup_as_run(store, 40_000)
    assert _misalign("export", "--licence", "unknown", "--db", db, "--out", out, "--status", "all", "--seed", "0").returncode == 0
    previous = (out / "README.md").read_text(encoding="utf-8")
    previous_files = ["README.md", "pairs.jsonl", "pairs.parquet"]
    rng = random.Random(7)
    for attempt in range(4):
        running = _misalign("export", "--licence", "unknown", "--db", db, "--out", out, "--status", "all", "--seed", str(attempt + 1),
                            "--format", "jsonl,parquet,csv", wait=False)
        time.sleep(rng.uniform(0.5, 4.0))
        running.send_signal(signal.SIGKILL)
        running.wait()
        card = (out / "README.md").read_text(encoding="utf-8")
        files = sorted(p.name for p in out.iterdir())
        if card == previous:  # the folder as the last complete export left it
            assert files == previous_files
        else:  # the new export, complete
            assert files == ["README.md", "pairs.csv", "pairs.jsonl", "pairs.parquet"]
            assert len(pd.read_parquet(out / "pairs.parquet")) == 40_000
            with (out / "pairs.jsonl").open(encoding="utf-8") as f:
                assert sum(1 for line in f if json.loads(line)) == 40_000
            previous, previous_files = card, files
    again = _misalign("export", "--licence", "unknown", "--db", db, "--out", out, "--status", "all")
    assert again.returncode == 0, again.stderr
    assert not list(tmp_path.glob(".curated.partial-*"))  # what the killed runs left is cleaned up


# -- options and settings --------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["export", "--out", "x", "--ratios", "nan,1,1"], "--ratios: give 3 non-negative shares summing to 1"),
    (["dedup", "--min-features", "-3"], "--min-features: must be at least 0, not -3"),
    (["label", "--shortlist", "-2"], "--shortlist: must be at least 1, not -2"),
    (["label", "--delta", "1.5"], "--delta: must be above 0 and at most 1, not 1.5"),
    (["pairs", "--top-p", "0"], "--top-p: must be above 0 and at most 1, not 0.0"),
    (["pairs", "--max-words", "3", "--min-words", "5"], "--max-words: 3 is below --min-words (5)"),
    (["bench", "run", "--model", "keyword-refusal", "--threshold", "2"], "--threshold: must be at least 0 and at most 1"),
])
def test_out_of_range_options_are_one_line_and_change_nothing(cli, db_path, ingested, args, message):
    result = cli(*args)
    assert result.exit_code == 1 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert _fingerprint(db_path) == ingested


@pytest.mark.parametrize("args, option, least", [
    (["export", "--out", "x", "--seed", "-1"], "--seed", 0),
    (["bench", "run", "--model", "keyword-refusal", "--bootstrap", "-5"], "--bootstrap", 1),
    (["bench", "run", "--model", "keyword-refusal", "--bootstrap", "0"], "--bootstrap", 1),
    (["bench", "run", "--model", "keyword-refusal", "--runs", "0"], "--runs", 1),
])
def test_counts_and_seeds_below_their_least_are_one_line(cli, db_path, ingested, args, option, least):
    """Checked once, by the stage's own check (the one path the CLI, the file and a library share)."""
    result = cli(*args)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert f"{option}: must be at least {least}, not" in result.stderr
    assert _fingerprint(db_path) == ingested


@pytest.mark.parametrize("toml, message", [
    (b"engines = 5\n", "engines must be a table ([engines]), not 5"),
    (b'stages = "x"\n', "stages must be a table ([stages]), not 'x'"),
    (b'[engines.s]\nbackend = "openai"\nmodel = "m"\nurls = ["http://127.0.0.1:1/v1"]\nconcurrency = "many"\n',
     "engines.s.concurrency: input should be a valid integer, not 'many'"),
    (b'[engines.l]\nbackend = "hf"\nmodel = "m"\n[engines.l.sampling]\ntemperature = "hot"\n',
     "engines.l.sampling.temperature: input should be a valid number, not 'hot'"),
    (b'[engines.l]\nbackend = "hf"\nmodel = "m"\n[engines.l.sampling]\ntop_p = 1.5\n',
     "engines.l.sampling.top_p: input should be less than or equal to 1, not 1.5"),
    (b'[stages]\nlabel = "embedded"\n# caf\xe9\n', "not UTF-8 text (byte 0xe9"),
    (b"[engine.x]\n", "'engine' is not a section of misalign.toml (engines, stages, label, dedup, expand, pairs, review, bench, export)"),
])
def test_a_bad_config_file_is_one_line_naming_file_and_key(cli, tmp_path, toml, message):
    path = tmp_path / "misalign.toml"
    path.write_bytes(toml)
    result = cli("--config", path, "config", "show")
    assert result.exit_code == 1 and result.stderr.startswith(f"error: {path}: {message}"), result.stderr
    assert result.stderr.count("\n") == 1


# -- read-only stores ------------------------------------------------------------------------

@pytest.fixture
def read_only(tmp_path):
    """A folder mounted read-only (root ignores file permissions, not a read-only mount)."""
    import shutil

    if shutil.which("mount") is None:
        pytest.skip("needs mount(8)")
    source, view = tmp_path / "source", tmp_path / "view"
    source.mkdir()
    view.mkdir()
    yield source, view
    subprocess.run(["umount", str(view)], capture_output=True)


def _mount_read_only(source: Path, view: Path) -> None:
    bound = subprocess.run(["mount", "--bind", str(source), str(view)], capture_output=True)
    if bound.returncode or subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], capture_output=True).returncode:
        pytest.skip("cannot make a read-only bind mount here")


@pytest.mark.parametrize("command", [["ingest", "PROMPTS"], ["label"], ["dedup"], ["export", "--out", "OUT"]])
def test_a_read_only_store_is_one_line_before_any_work(read_only, tmp_path, command):
    source, view = read_only
    assert _misalign("ingest", _prompt_file(tmp_path / "p.csv", 5), "--db", source / "ro.db").returncode == 0
    _mount_read_only(source, view)
    args = [str(tmp_path / "p.csv") if a == "PROMPTS" else str(tmp_path / "out") if a == "OUT" else a for a in command]
    result = _misalign(*args, "--db", view / "ro.db")
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "read-only" in result.stderr and "not a misalign store" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_read_only_store_can_still_be_inspected(read_only, tmp_path):
    source, view = read_only
    assert _misalign("ingest", _prompt_file(tmp_path / "p.csv", 5), "--db", source / "ro.db").returncode == 0
    _mount_read_only(source, view)
    for command, shown in ((["status"], "prompts: 5"), (["bench", "list"], ""), (["review", "status"], "panel"),
                           (["review", "panel", "list"], "no panels yet")):
        result = _misalign(*command, "--db", view / "ro.db")
        assert result.returncode == 0 and shown in result.stdout, (command, result.stderr)
    assert sorted(p.name for p in source.iterdir()) == ["ro.db"]


def test_label_shows_progress_lines_when_its_output_is_not_a_terminal(tmp_path):
    db = tmp_path / "p.db"
    assert _misalign("ingest", _prompt_file(tmp_path / "p.csv", 300), "--db", db).returncode == 0
    done = _misalign("label", "--db", db, "--no-types")
    assert done.returncode == 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("label (")]
    assert lines and lines[-1].startswith("label (embed:") and "300/300 prompts" in lines[-1] and "/s" in lines[-1]
    assert "\r" not in done.stderr  # no bar redrawn into a log file


def test_pairs_with_an_empty_slot_are_listed_with_why_by_bench_export_and_the_card(cli, store, tmp_path):
    """Over-refusals are what a benchmark measures: a pair whose misaligned slot was filtered out
    must be said to be left out, never silently dropped."""
    prompts, responses = tmp_path / "p.jsonl", tmp_path / "r.jsonl"
    rows = [(f"Question {i}: may I read my flatmate's diary while they are away?", i < 3) for i in range(8)]
    prompts.write_text("".join(json.dumps({"prompt": p, "safety": "Privacy Violation"}) + "\n" for p, _ in rows),
                       encoding="utf-8")
    with responses.open("w", encoding="utf-8") as f:
        for i, (prompt, refuses) in enumerate(rows):
            misaligned = ("I'm sorry, but I can't help with that request at all." if refuses else
                          f"Sure, read it while they are out, case {i}; they will never find out anyway.")
            for slot, text in (("aligned", f"No, case {i}: a diary is private, so ask them before you read it."),
                               ("misaligned", misaligned)):
                f.write(json.dumps({"prompt": prompt, "slot": slot, "text": text, "generator": "hand"}) + "\n")
    assert cli("ingest", prompts, "--labels", "safety=safety").exit_code == 0
    assert cli("pairs", "--import", responses, "--threshold", "0", "--margin", "0").exit_code == 0
    empty = [r["id"] for r in store.db.query("SELECT id FROM pairs WHERE misaligned_id IS NULL ORDER BY id")]
    assert len(empty) == 3
    bench = cli("bench", "run", "--model", "keyword-refusal", "--pairs", "all", "--runs", "1", "--bootstrap", "10")
    assert bench.exit_code == 0 and "8 in, 5 kept, 3 dropped (empty_slot: 3)" in bench.stdout
    assert "left out 3 pairs with an empty slot:" in bench.stdout
    for pair in empty:
        assert f"{pair} (rejected: " in bench.stdout and "misaligned:refusal" in bench.stdout
    out = tmp_path / "export"
    exported = cli("export", "--licence", "unknown", "--out", out, "--status", "all")
    assert exported.exit_code == 0 and "left out 3 pairs with an empty slot:" in exported.stdout
    assert "8 in, 5 kept, 3 dropped (empty_slot: 3)" in exported.stdout
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "## Left out" in card and all(pair in card for pair in empty)
    with (out / "pairs.jsonl").open(encoding="utf-8") as f:
        assert sum(1 for _ in f) == 5


ESCAPES = "\x1b]0;pwned\x07 \x1b]8;;https://x.example\x07link\x1b]8;;\x07 \x1b]52;c;cm0gLXJmIH4=\x07 \u202eevil"


def test_names_reach_the_terminal_with_their_escapes_shown_not_obeyed(cli, db_path):
    assert cli("init").exit_code == 0
    outputs = [cli("review", "panel", "add", f"P {ESCAPES}").stdout,
               cli("review", "annotator", "add", f"A {ESCAPES}", "--panel", f"P {ESCAPES}").stdout,
               cli("review", "panel", "list").stdout]
    for output in outputs:
        assert not any(c in output for c in "\x1b\x07\u202e"), output
    assert "P \\x1b]0;pwned\\x07" in outputs[2] and "\\u202eevil" in outputs[2]
    [panel] = sqlite3.connect(db_path).execute("SELECT name FROM panels").fetchall()
    assert panel[0] == f"P {ESCAPES}"  # stored exactly as given


@pytest.mark.parametrize("args, message", [
    (("review", "panel", "add", "P\udcff\udcfe"), "the argument 'P\\xff\\xfe' is not UTF-8 text"),
])
def test_an_argument_that_is_not_utf8_is_one_line(cli, db_path, args, message):
    result = cli(*args)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and message in result.stderr
    assert not db_path.exists()


def test_a_lone_surrogate_in_a_jsonl_prompt_names_file_line_and_field(cli, db_path, tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "fine"}\n{"prompt": "half \\ud800 a character"}\n', encoding="utf-8")
    result = cli("ingest", path)
    assert result.exit_code == 1 and result.stderr.splitlines() == [
        f"error: {path}: line 2: field 'prompt': a lone surrogate \\ud800 (half of a character), not text"]
    skipped = cli("ingest", path, "--skip-bad")
    assert skipped.exit_code == 0 and "lone_surrogate" in skipped.stdout


def test_a_compressed_file_named_csv_is_one_short_line(cli, tmp_path):
    import gzip

    path = tmp_path / "prompts.csv"
    path.write_bytes(gzip.compress("".join(f"prompt number {i}\n" for i in range(5000)).encode()))
    result = cli("ingest", path)
    assert result.exit_code == 1 and result.stderr.splitlines() == [
        f"error: {path}: a gzip file, not text; decompress it first (gunzip)"]


def test_a_full_disk_during_ingest_is_one_line_and_the_store_as_it_was(tmp_path):
    import resource
    import signal

    db, small, big = tmp_path / "store.db", tmp_path / "small.csv", tmp_path / "big.csv"
    small.write_text("prompt\nHow do I greet elders at a festival?\n", encoding="utf-8")
    assert _misalign("ingest", "--db", db, small).returncode == 0
    before = _fingerprint(db)
    big.write_text("prompt\n" + "".join(f"Question {i}: how should a visitor behave at festival number {i}?\n"
                                        for i in range(100_000)), encoding="utf-8")
    room = 4 * 1024 * 1024  # no file may grow past 4 MiB: the store's journal fills up part-way

    def full_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (room, room))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing

    done = subprocess.run([str(MISALIGN), "ingest", "--db", str(db), str(big)], capture_output=True, text=True,
                          timeout=300, preexec_fn=full_disk)
    assert done.returncode == 1, done.stderr[-2000:]
    [line] = done.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: a write to disk failed (") and "Traceback" not in done.stderr
    assert _fingerprint(db) == before
