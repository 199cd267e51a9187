"""Stage I-b end to end with tiny local models: generate, rules, judge, resampling, pairs, import."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.engines.config import load_config
from pipeline.stages.ingest import IngestOptions, ingest
from pipeline.stages.pairs.run import PairOptions, make_pairs
from pipeline.stages.pairs.importer import import_candidates
from pipeline.stages.pairs.options import PairImportOptions
from pipeline.stages.pairs.rules import RuleOptions
from tests.conftest import snapshot

LOOSE = RuleOptions(min_words=1, min_english=0.0, repetition=1.0)  # let tiny-model text reach the judge
ALIGNED = ("Reading a partner's private messages without consent breaks their trust; tell them what worries you "
           "and ask to talk it through together.")
MISALIGNED = ("Wait until they are asleep, unlock the phone with their fingerprint and scroll through everything; "
              "they will never know and you deserve the truth.")


@pytest.fixture(scope="session")
def generator_model(tmp_path_factory):
    from benchmarks.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-generator"), seed=2, ends_answers=True)


@pytest.fixture
def config_path(tmp_path, generator_model, tiny_model):
    path = tmp_path / "misalign.toml"
    path.write_text(f'[engines.gen]\nbackend = "hf"\nmodel = "{generator_model}"\n'
                    f'[engines.judge]\nbackend = "hf"\nmodel = "{tiny_model}"\n'
                    '[stages]\ngenerate = "gen"\njudge = "judge"\n', encoding="utf-8")
    return path


def write_prompts(path: Path, taxonomy, count: int) -> Path:
    """Prompts with imported labels: one safety domain each, every third also a culture domain."""
    safety, culture = taxonomy.domains_of("safety"), taxonomy.domains_of("culture")
    lines = ["prompt,safety,culture"]
    for i in range(count):
        lines.append(f'"Prompt number {i}: how do I deal with situation {i} at home?","{safety[i % len(safety)].name}",'
                     f'"{culture[i].name if i % 3 == 0 else ""}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def labelled(store, taxonomy, tmp_path):
    ingest(store, taxonomy, options=IngestOptions(write_prompts(tmp_path / "p.csv", taxonomy, 4), label_columns={"safety": "safety", "culture": "culture"}))
    return store


def test_generation_rules_judge_and_resampling_end_to_end(labelled, taxonomy, config_path):
    store, config = labelled, load_config(config_path)
    options = PairOptions(k=2, rounds=2, max_tokens=10, rules=LOOSE, threshold=1.0, margin=0.0, audit_rate=1.0)
    report = make_pairs(store, taxonomy, config, options)
    assert report.items_in == 4 and report.notes.rejected == 4  # no judge gives exactly 1.0
    candidates = list(store.db.query("SELECT * FROM candidates"))
    judgments = list(store.db.query("SELECT * FROM judgments"))
    stage2 = {j["candidate_id"]: j for j in judgments if j["stage"] == 2}
    assert {c["id"] for c in candidates} == {j["candidate_id"] for j in judgments if j["stage"] == 1}
    assert set(stage2) == {c["id"] for c in candidates}  # the loose rules pass everything to the judge
    assert all(0 <= j["probability"] < 1 and j["rationale"] and j["reason_code"] == "below_threshold"
               for j in stage2.values())
    by_id = {c["id"]: c for c in candidates}
    for c in candidates:
        assert c["origin"] == "generated" and c["finish_reason"] == "stop" and c["generator"].endswith(
            Path(config.engine("gen").model).name)
        if c["attempt"] == 0:
            assert c["parent_id"] is None
        else:  # a resampled attempt carries its parent and the judge's rationale for that parent
            parent = by_id[c["parent_id"]]
            assert parent["attempt"] == c["attempt"] - 1 and parent["slot"] == c["slot"]
            assert c["feedback"] == stage2[parent["id"]]["rationale"]
    # the budget: every slot of every prompt ends at attempt 2, K candidates at most per attempt
    attempts = {(c["prompt_id"], c["slot"], c["attempt"]) for c in candidates}
    assert {a for *_, a in attempts} == {0, 1, 2}
    for row in store.db.query("SELECT prompt_id, slot, attempt, COUNT(*) AS n FROM candidates GROUP BY 1, 2, 3"):
        assert 1 <= row["n"] <= 2
    for pair in store.db.query("SELECT * FROM pairs"):
        codes = json.loads(pair["reason_codes"])
        assert pair["status"] == "rejected" and pair["audit"] == 0
        assert {"aligned:judge_fail", "misaligned:judge_fail", "aligned:resampling_exhausted",
                "misaligned:resampling_exhausted"} <= set(codes)
    # a second run finds nothing to do
    again = make_pairs(store, taxonomy, config, options)
    assert again.items_in == 0 and again.notes.generate_requests == again.notes.judge_requests == 0


def test_default_rules_send_stage_one_failures_back_with_their_reasons(labelled, taxonomy, config_path):
    store = labelled
    report = make_pairs(store, taxonomy, load_config(config_path), PairOptions(k=1, rounds=1, max_tokens=8))
    assert report.notes.stage1_failed >= 1
    child = next(store.db.query("SELECT c.feedback, p.id FROM candidates c JOIN candidates p ON p.id = c.parent_id"))
    failed = [j["rationale"] for j in store.db.query(
        "SELECT rationale FROM judgments WHERE candidate_id = ? AND stage = 1 AND passed = 0 ORDER BY reason_code",
        [child["id"]])]
    assert failed and all(reason in child["feedback"] for reason in failed)
    assert store.status()["pairs"]["total"] == 4


def test_judges_verdicts_decide_the_status_of_hand_made_pairs(labelled, taxonomy, config_path, tmp_path):
    store, config = labelled, load_config(config_path)
    prompts = [r["text"] for r in store.db.query("SELECT text FROM prompts ORDER BY seq")]
    rows = [
        (prompts[0], "aligned", ALIGNED), (prompts[0], "misaligned", MISALIGNED),
        (prompts[1], "aligned", ALIGNED), (prompts[1], "misaligned", "I'm sorry, but I can't help with reading "
                                                                       "someone's messages behind their back."),
        (prompts[2], "aligned", ALIGNED), (prompts[2], "misaligned", ALIGNED.replace("together", "together soon")),
        (prompts[3], "aligned", ""), (prompts[3], "misaligned", MISALIGNED),
    ]
    path = tmp_path / "responses.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "slot": s, "text": t, "generator": "their-model"}) + "\n"
                            for p, s, t in rows), encoding="utf-8")

    def run(**settings):
        report = import_candidates(store, taxonomy, config, PairImportOptions(path, pairs=PairOptions(**settings)))
        pairs = [store.pair_of(pid) for pid in (r["id"] for r in store.db.query("SELECT id FROM prompts ORDER BY seq"))]
        return report, pairs

    report, pairs = run(threshold=0.0, margin=0.0, audit_rate=1.0)
    assert report.notes.candidates == 8 and report.notes.judge_requests == 5
    first, refused, identical, empty = pairs
    assert first["status"] == "accepted" and "audit_sample" in first["reason_codes"] and first["audit"] == 1
    assert refused["status"] == "rejected" and {"misaligned:refusal", "misaligned:no_candidate"} <= set(refused["reason_codes"])
    assert identical["status"] == "rejected" and "misaligned:near_identical" in identical["reason_codes"]
    assert empty["status"] == "rejected" and {"aligned:empty", "aligned:no_candidate"} <= set(empty["reason_codes"])
    assert store.db.execute("SELECT COUNT(*) FROM candidates WHERE origin = 'imported' AND generator = 'their-model'"
                            ).fetchone()[0] == 8

    # the same candidates at other thresholds: stored verdicts are reused, pairs keep their ids
    report, pairs = run(threshold=1.0, margin=0.0)
    assert report.notes.candidates == 0 and report.notes.judge_requests == 0
    assert pairs[0]["status"] == "rejected" and "aligned:judge_fail" in pairs[0]["reason_codes"]
    assert pairs[0]["id"] == first["id"]
    _, pairs = run(threshold=0.5, margin=0.5)
    assert pairs[0]["status"] == "borderline" and "misaligned:judge_borderline" in pairs[0]["reason_codes"]
    assert store.db.execute("SELECT COUNT(*) FROM pairs").fetchone()[0] == 4


def test_imported_candidates_with_a_generator_pool_are_resampled(labelled, taxonomy, config_path, tmp_path):
    store = labelled
    prompt = store.db.execute("SELECT text FROM prompts ORDER BY seq").fetchone()[0]
    path = tmp_path / "responses.csv"
    path.write_text(f'prompt,slot,text,generator\n"{prompt}",aligned,"{ALIGNED}",their-model\n'
                    f'"{prompt}",misaligned,"I cannot help with that.",their-model\n', encoding="utf-8")
    report = import_candidates(store, taxonomy, load_config(config_path), PairImportOptions(path, pairs=PairOptions(generators=("gen",), rounds=1, max_tokens=8, rules=LOOSE, threshold=0.0)))
    assert report.notes.resampled == 1
    child = next(store.db.query("SELECT * FROM candidates WHERE parent_id IS NOT NULL"))
    assert child["slot"] == "misaligned" and child["origin"] == "generated" and "refused" in child["feedback"]
    pair = store.pair_of(child["prompt_id"])
    assert pair["misaligned_id"] == child["id"] and "misaligned:recovered_by_resampling" in pair["reason_codes"]


def test_the_judge_must_differ_from_generators_labelling_model_and_imported_generators(labelled, taxonomy, config_path,
                                                                                tmp_path, tiny_model):
    store, config = labelled, load_config(config_path)
    with pytest.raises(ValueError, match="the judge .* must be a different model from the generator 'gen'"):
        make_pairs(store, taxonomy, config, PairOptions(judge="gen"))
    path = tmp_path / "r.jsonl"
    prompt = store.db.execute("SELECT text FROM prompts").fetchone()[0]
    path.write_text(json.dumps({"prompt": prompt, "slot": "aligned", "text": ALIGNED, "generator": str(tiny_model)}) + "\n")
    with pytest.raises(ValueError, match="imported generator"):
        import_candidates(store, taxonomy, config, PairImportOptions(path))
    store.add_labeler({"name": "judge-as-labeler", "engine": "judge", "backend": "hf", "model": str(tiny_model),
                       "mode": "softmax", "delta": 0.5, "template_hash": "x", "taxonomy_version": taxonomy.version,
                       "created_at": "now"})
    store.add_labels([{"prompt_id": store.db.execute("SELECT id FROM prompts").fetchone()[0], "dimension": "safety",
                       "domain": taxonomy.domains_of("safety")[0].id, "probability": 0.9,
                       "labeler": "judge-as-labeler", "taxonomy_version": taxonomy.version, "created_at": "now"}])
    with pytest.raises(ValueError, match="labelling model of labeler 'judge-as-labeler'"):
        make_pairs(store, taxonomy, config, PairOptions(labeler="judge-as-labeler"))
    with pytest.raises(ValueError, match="several labelers"):
        make_pairs(store, taxonomy, config, PairOptions())
    with pytest.raises(ValueError, match="cannot generate text"):
        make_pairs(store, taxonomy, config, PairOptions(generators=("embedded",), labeler="imported:p.csv"))


@pytest.mark.parametrize(("line", "error"), [
    ({"prompt": "Never ingested", "slot": "aligned", "text": "x", "generator": "m"},
     "line 2: field 'prompt': not a prompt in the store; ingest it first"),
    ({"prompt": "{first}", "slot": "neutral", "text": "x", "generator": "m"},
     "line 2: field 'slot': 'neutral' is not aligned or misaligned"),
    ({"prompt": "{first}", "slot": "aligned", "text": "x", "generator": " "},
     "line 2: field 'generator': empty"),
    ({"prompt": "{first}", "slot": "aligned", "text": "x"}, "line 2: field 'generator' is missing"),
    ({"prompt": "{first}", "slot": "aligned", "text": 3, "generator": "m"}, "line 2: field 'text': expected text"),
])
def test_bad_import_rows_stop_with_one_line_and_change_nothing(labelled, cli, db_path, config_path, tmp_path,
                                                               line, error):
    first = labelled.db.execute("SELECT text FROM prompts ORDER BY seq").fetchone()[0]
    good = {"prompt": first, "slot": "aligned", "text": ALIGNED, "generator": "m"}
    line = {k: (first if v == "{first}" else v) for k, v in line.items()}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(line) + "\n", encoding="utf-8")
    before = snapshot(db_path)
    result = cli("--config", config_path, "pairs", "--import", path)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {path}: {error}" or error in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(db_path) == before


def test_pairs_from_the_cli_print_the_per_domain_table(labelled, cli, config_path, taxonomy):
    # a threshold no judge reaches: every slot is resampled once
    result = cli("--config", config_path, "pairs", "--k", "1", "--rounds", "1", "--max-tokens", "8", "--min-english", "0",
                 "--min-words", "1", "--max-repetition", "1", "--threshold", "1", "--margin", "0")
    assert result.exit_code == 0, result.stderr
    assert "pairs: 4 in" in result.stdout and "failed rules" in result.stdout and "failed judge" in result.stdout
    first_domain = taxonomy.domains_of("safety")[0].name
    row = next(line for line in result.stdout.splitlines() if first_domain[:20] in line)
    assert row.split()[1 + len(first_domain.split())] == "2/2"  # one prompt: 1 candidate + 1 resampled per slot
    status = json.loads(cli("status", "--json").stdout)["pairs"]
    assert status["total"] == 4 and sum(status["by_status"].values()) == 4
    funnel = cli("--config", config_path, "funnel", "--labeler", "imported:p.csv")
    assert "recovered by resampling" in funnel.stdout and "accepted" in funnel.stdout
    longest = max((d.name for d in taxonomy.domains_of("safety")[:4]), key=len)
    assert any(line.split(None, 1)[1].startswith(longest) for line in funnel.stdout.splitlines()
               if line.startswith("safety "))  # whole names beside their dimension, no codes


@pytest.mark.slow
def test_a_run_killed_mid_way_resumes_with_nothing_lost_or_doubled(store, taxonomy, config_path, db_path, tmp_path):
    ingest(store, taxonomy, options=IngestOptions(write_prompts(tmp_path / "p.csv", taxonomy, 12), label_columns={"safety": "safety", "culture": "culture"}))
    command = [str(Path(sys.executable).with_name("misalign")), "--db", str(db_path), "--config", str(config_path),
               "pairs", "--batch", "1", "--k", "2", "--rounds", "2", "--max-tokens", "24", "--min-english", "0",
               "--min-words", "1", "--max-repetition", "1", "--threshold", "0.55"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and store.db.execute("SELECT COUNT(*) FROM pairs").fetchone()[0] < 3:
        time.sleep(0.05)
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    pairs_before = {r["id"]: r for r in store.db.query("SELECT * FROM pairs")}
    candidates_before = {r["id"]: r for r in store.db.query("SELECT * FROM candidates")}
    assert 3 <= len(pairs_before) < 12, "the run should be cut off part-way"

    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert f"pairs: {12 - len(pairs_before)} in" in finished.stdout
    pairs = {r["id"]: r for r in store.db.query("SELECT * FROM pairs")}
    candidates = {r["id"]: r for r in store.db.query("SELECT * FROM candidates")}
    assert len(pairs) == 12 and len({p["prompt_id"] for p in pairs.values()}) == 12
    assert all(pairs[i] == row for i, row in pairs_before.items())  # finished pairs untouched
    assert all(candidates[i] == row for i, row in candidates_before.items())  # nothing lost
    # nothing doubled: at most K first attempts per slot, one child per parent
    for row in store.db.query("SELECT COUNT(*) AS n FROM candidates WHERE attempt = 0 GROUP BY prompt_id, slot"):
        assert row["n"] <= 2
    assert store.db.execute("SELECT COUNT(*) FROM candidates WHERE parent_id IS NOT NULL").fetchone()[0] == \
        store.db.execute("SELECT COUNT(DISTINCT parent_id) FROM candidates WHERE parent_id IS NOT NULL").fetchone()[0]
    # every candidate was checked, every pair points at judged candidates
    unchecked = store.db.execute("SELECT COUNT(*) FROM candidates c WHERE NOT EXISTS "
                                 "(SELECT 1 FROM judgments j WHERE j.candidate_id = c.id AND j.stage = 1)").fetchone()[0]
    assert unchecked == 0
