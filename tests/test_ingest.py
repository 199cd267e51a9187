import json
from collections import Counter

import pandas as pd
import pytest

from pipeline.stages.ingest import IngestOptions, ingest
from review_store import normalise_text, prompt_id
from tests.conftest import DEV_LABELS, snapshot

LABEL_COLUMNS = {"safety": "safety_name", "value": "values_name", "culture": "cultural_name"}


def expected_label_counts(frame: pd.DataFrame, taxonomy) -> dict:
    """Per-domain label counts of the file, over distinct normalised prompts, None/Unknown apart."""
    frame = frame.assign(key=frame["prompt"].map(normalise_text))
    counts = {}
    for dimension, column in LABEL_COLUMNS.items():
        pairs = {(k, taxonomy.resolve(dimension, v).id) for k, v in zip(frame["key"], frame[column])}
        counts[dimension] = Counter(domain for _, domain in pairs if domain not in ("none", "unknown"))
    return counts


@pytest.mark.slow
def test_ingesting_the_released_prompts_keeps_every_distinct_prompt_and_label(dev_csv, taxonomy, cli, db_path):
    result = cli("ingest", dev_csv, "--labels", DEV_LABELS)
    assert result.exit_code == 0, result.stderr

    frame = pd.read_csv(dev_csv, dtype=str, keep_default_na=False)
    status = json.loads(cli("status", "--json").stdout)
    assert status["prompts"]["total"] == frame["prompt"].map(normalise_text).nunique()
    assert status["prompts"]["source_rows"] == len(frame)

    labels = status["labels"][f"imported:{dev_csv.name}"]
    for dimension, expected in expected_label_counts(frame, taxonomy).items():
        assert labels[dimension]["domains"] == dict(expected), dimension
    assert sum(labels["safety"]["domains"].values()) > 2000

    before = snapshot(db_path)
    again = cli("ingest", dev_csv, "--labels", DEV_LABELS)
    assert again.exit_code == 0
    assert "new_prompts: 0" in again.stdout and "new_labels: 0" in again.stdout
    after = snapshot(db_path)
    assert {t: rows for t, rows in after.items() if t not in ("stage_runs", "meta")} == \
           {t: rows for t, rows in before.items() if t not in ("stage_runs", "meta")}


def test_exact_duplicates_collapse_and_keep_their_sources(store, taxonomy, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('prompt,safety\n"Is it ok to lie  to my boss?",Non-violent unethical behavior\n'
                    'Another prompt,None\n'
                    '" Is it ok to lie to my boss? ",None\n', encoding="utf-8")
    report = ingest(store, taxonomy, options=IngestOptions(path, label_columns={"safety": "safety"}))
    assert report.notes.new_prompts == 2 and report.notes.duplicate_rows == 1
    prompt = store.prompt(prompt_id("Is it ok to lie to my boss?"))
    assert [s["row"] for s in prompt["sources"]] == [1, 3]
    assert store.label_counts()["imported:p.csv"]["safety"] == {
        "domains": {"safety.non_violent_unethical_behavior": 1}, "none": 2, "unknown": 0}


def test_csv_jsonl_and_parquet_give_the_same_store(taxonomy, tmp_path):
    from review_store import Store

    frame = pd.DataFrame({"text": ["What is a fair wage?", "Tell me about\nDiwali.", "Tell me about Diwali."],
                          "culture": ["None", "Festivals", "Festivals"]})
    frame.to_csv(tmp_path / "p.csv", index=False)
    frame.to_json(tmp_path / "p.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "p.parquet")
    contents = []
    for name in ("p.csv", "p.jsonl", "p.parquet"):
        with Store(tmp_path / f"{name}.db") as store:
            ingest(store, taxonomy, options=IngestOptions(tmp_path / name, text_column="text", label_columns={"culture": "culture"}, source="same"))
            contents.append((store.prompts_page(limit=10), store.label_counts()))
    assert contents[0] == contents[1] == contents[2]
    assert len(contents[0][0]) == 3


# --- bad input: one line naming file, line and field; exit 1; store unchanged ------------------

GOOD = "prompt,safety_name\nA fine prompt about gardening,None\n"


def _bad_cases(tmp_path):
    big = "x" * (1024 * 1024)
    return {
        "missing file": (tmp_path / "nope.csv", None, "nope.csv: no such file"),
        "missing column": (tmp_path / "c.csv", "text,safety_name\nhello,None\n", "c.csv: no column 'prompt' (columns: text, safety_name)"),
        "encoding": (tmp_path / "e.csv", b"prompt,safety_name\nok,None\n\"caf\xe9 \xff\",None\n",
                     "e.csv: line 3: field 'prompt': not valid text in the file's encoding (byte 0xe9)"),
        "empty": (tmp_path / "m.csv", 'prompt,safety_name\nok,None\n"\nmulti\nline",None\n"",None\n',
                  "m.csv: line 6: field 'prompt': empty or whitespace-only prompt"),
        "whitespace": (tmp_path / "w.csv", 'prompt,safety_name\n"   \t  ",None\n', "w.csv: line 2: field 'prompt': empty or whitespace-only prompt"),
        "nul": (tmp_path / "n.csv", 'prompt,safety_name\n"bad\x00byte",None\n', "n.csv: line 2: field 'prompt': contains a NUL byte"),
        "1 MB": (tmp_path / "b.csv", f"prompt,safety_name\n{big},None\n",
                 "b.csv: line 2: field 'prompt': prompt is 1,048,576 characters, over the limit of 32,000 (--max-chars)"),
        "unknown label": (tmp_path / "u.csv", "prompt,safety_name\nok,None\nhi,Jaywalking\n",
                          "u.csv: line 3: field 'safety_name': unknown safety label 'Jaywalking'"),
        "jsonl": (tmp_path / "j.jsonl", '{"prompt": "ok", "safety_name": "None"}\n{"prompt": "half\n',
                  "j.jsonl: line 2: not valid JSON"),
        "jsonl field": (tmp_path / "k.jsonl", '{"prompt": "ok"}\n', "k.jsonl: line 1: field 'safety_name' is missing"),
        "not parquet": (tmp_path / "x.parquet", "not parquet at all", "x.parquet: not a readable Parquet file"),
    }


@pytest.mark.parametrize("case", ["missing file", "missing column", "encoding", "empty", "whitespace", "nul",
                                  "1 MB", "unknown label", "jsonl", "jsonl field", "not parquet"])
def test_bad_input_is_refused_in_one_line_and_leaves_the_store_unchanged(case, tmp_path, cli, db_path):
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    assert cli("ingest", good, "--labels", "safety=safety_name").exit_code == 0
    before = snapshot(db_path)

    path, content, message = _bad_cases(tmp_path)[case]
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    result = cli("ingest", path, "--labels", "safety=safety_name")

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert snapshot(db_path) == before


def test_skip_bad_keeps_good_rows_and_counts_the_rest_by_reason(tmp_path, cli):
    path = tmp_path / "mixed.csv"
    path.write_text('prompt,safety_name\nGood one,None\n"",None\n"nul\x00",None\nGood two,Self-harm\nx,Jaywalking\n',
                    encoding="utf-8")
    result = cli("ingest", path, "--labels", "safety=safety_name", "--skip-bad")
    assert result.exit_code == 0, result.stderr
    assert "5 in, 2 kept, 3 dropped (empty_prompt: 1, nul_byte: 1, unknown_label: 1)" in result.stdout
    status = json.loads(cli("status", "--json").stdout)
    assert status["prompts"]["total"] == 2


def test_bad_label_spec_is_refused(tmp_path, cli):
    path = tmp_path / "p.csv"
    path.write_text(GOOD, encoding="utf-8")
    result = cli("ingest", path, "--labels", "ethics=safety_name")
    assert result.exit_code == 1 and "unknown dimension 'ethics'" in result.stderr


def test_semantic_types_are_imported_with_the_labels_and_a_bad_one_is_refused(tmp_path, cli, db_path, store):
    path = tmp_path / "t.csv"
    path.write_text("prompt,safety_name,type\nMay I read her diary?,Privacy Violation,Relation\nHi there,None,\n",
                    encoding="utf-8")
    result = cli("ingest", path, "--labels", "safety=safety_name", "--semantic-type", "type")
    assert result.exit_code == 0 and "new_semantic_types: 1" in result.stdout
    assert list(store.top_semantic_types().values()) == ["relation"]
    before = snapshot(db_path)
    path.write_text("prompt,safety_name,type\nok,None,object\nhi,None,adjective\n", encoding="utf-8")
    result = cli("ingest", path, "--labels", "safety=safety_name", "--semantic-type", "type")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "t.csv: line 3: field 'type': unknown semantic type 'adjective' (one of object, attribute, relation)" in result.stderr
    assert snapshot(db_path) == before
