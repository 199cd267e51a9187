"""The embedded demo: its data covers the taxonomy, `misalign demo` runs the whole loop on CPU into
a store every app page has something to show for, and a second run adds nothing."""

import json
import shutil
from collections import Counter

import pytest
from streamlit.testing.v1 import AppTest

from pipeline.engines.models import fastest_backend
from pipeline.demo.run import DATA, demo_records, real_model_records, run_demo
from tests.conftest import shown_text
from pipeline.review.queues import QUESTIONS
from review_store import Store, prompt_id
from tests.conftest import snapshot
from tests.test_app import REPO

DIMENSIONS = ("safety", "value", "culture")


def test_demo_data_has_two_pairs_per_domain_with_semantic_types(taxonomy):
    records = demo_records()
    named = Counter((dim, r[dim]) for r in records for dim in DIMENSIONS if r[dim])
    short = [d.name for d in taxonomy.domains if named[(d.dimension, d.name)] < 2]
    assert not short, f"domains with fewer than two demo prompts: {short}"
    types = {t.id for t in taxonomy.semantic_types}
    for r in records:
        assert r["prompt"].strip() and r["aligned"].strip() and r["misaligned"].strip(), r["id"]
        assert r["semantic_type"] in types, r["id"]
    kinds = Counter(r["kind"] for r in records)
    assert kinds["near_duplicate"] >= 2 and kinds["ambiguous"] >= 4 and kinds["stage1_failure"] >= 2
    assert sum(1 for r in records if sum(bool(r[d]) for d in DIMENSIONS) == 3) >= 1  # spans all three
    assert sum(1 for r in records if sum(bool(r[d]) for d in DIMENSIONS) == 2) >= 50


def test_example_panels_disagree_within_and_between_panels():
    shipped = json.loads((DATA / "panels.json").read_text(encoding="utf-8"))
    panel_of = {a["name"]: a["panel"] for a in shipped["annotators"]}
    assert len(shipped["panels"]) == 2 and all(a["culture"] and a["locale"] for a in shipped["annotators"])
    answers = [json.loads(line) for line in (DATA / "annotations.jsonl").read_text(encoding="utf-8").splitlines()]
    options = {q.name: q.options for q in QUESTIONS}
    votes: dict = {}
    for a in answers:
        assert a["pair_valid"] in options["pair_valid"] and set(a["misaligned_dimensions"]) <= set(
            options["misaligned_dimensions"])
        votes.setdefault(a["record"], {}).setdefault(panel_of[a["annotator"]], []).append(a["pair_valid"])
    within = [r for r, panels in votes.items() if any(len(set(v)) > 1 for v in panels.values())]
    majority = {r: {p: Counter(v).most_common(1)[0][0] for p, v in panels.items()} for r, panels in votes.items()}
    between = [r for r, m in majority.items() if len(set(m.values())) > 1]
    assert len(within) >= 4 and between


def test_misalign_demo_runs_every_stage_into_one_store(demo_run):
    db, printed = demo_run
    for step in ("1. ingest", "2. dedup", "3. label (learned from the demo's own labels)",
                 "5-fold cross-validation, value", "3b. label (zero-shot", "against the demo's labels, culture",
                 "4. pairs", "5. review queues", "6. example annotations",
                 "7. bench embedded", "7. bench keyword-refusal", "8. agreement", "9. export"):
        assert step in printed
    assert "vllm serve" in printed  # how to point the stages at a real model
    with Store(db) as store:
        assert {r["stage"] for r in store.stage_runs(limit=100)} >= {
            "ingest", "label", "dedup", "pairs_import", "review_queue", "bench", "export"}
        assert store.dedup_counts()["removed"] >= 2  # the planted near-duplicates
        statuses = Counter(r[0] for r in store.db.execute("SELECT status FROM pairs"))
        assert statuses["accepted"] and statuses["borderline"] and statuses["rejected"]
        reasons = {r[0] for r in store.db.execute("SELECT reason_code FROM judgments WHERE stage = 1 AND passed = 0")}
        assert {"refusal", "too_short"} <= reasons
        assert {i["panel"] for i in store.review_items()} == {"example-east-africa", "example-western-europe"}
        assert all(a["is_example"] for a in store.annotators()) and all(a["is_example"] for a in store.annotations())
        human = store.human_status_counts()
        assert human.get("needs_adjudication") and human.get("human_accepted") and human.get("human_rejected")
        assert len(store.bench_groups()) == 2
        # the pairs' domains are the demo's own (an empty cell is None), the learned labelling model stands beside them
        assert {r[0] for r in store.db.execute("SELECT DISTINCT labeler FROM pairs")} == {"imported:demo"}
        assert store.label_counts()["imported:demo"]["value"]["none"] > 0
        assert any(n.startswith("trained:") for n in store.labelers_with_labels())
        # a model's labels with domains in them: the zero-shot one assigns some in every dimension
        zero_shot = next(n for n in store.labelers_with_labels() if n.startswith("embed:"))
        assigned = store.label_counts()[zero_shot]
        assert all(sum(assigned[dimension]["domains"].values()) for dimension in ("safety", "value", "culture"))
        # the real model wrote both slots for one prompt of each misalignment kind
        written = store.db.execute("SELECT slot, kind, COUNT(*) FROM candidates WHERE generator LIKE '%smollm2%' "
                                   "GROUP BY slot, kind").fetchall()
        backend = fastest_backend("smollm2")  # llama.cpp where make setup built it
        assert f"4b. real model: SmolLM2-135M-Instruct ({backend} backend) writes" in printed
        # answers that fit: at least half its candidates pass every stage-1 rule, none loosened
        failed_stage1 = store.db.execute(
            "SELECT COUNT(DISTINCT j.candidate_id) FROM judgments j JOIN candidates c ON c.id = j.candidate_id "
            "WHERE c.generator LIKE '%smollm2%' AND j.stage = 1 AND j.passed = 0").fetchone()[0]
        assert failed_stage1 <= 4, failed_stage1
        assert {kind for slot, kind, _ in written if slot == "misaligned"} == {
            "harmful_compliance", "over_refusal", "value_violation", "cultural_insensitivity"}
        assert sum(n for slot, _, n in written if slot == "aligned") == 4
        by_hand = Counter(code for (codes,) in store.db.execute("SELECT reason_codes FROM pairs")
                          for code in json.loads(codes))
        assert store.reason_counts() == dict(by_hand) and list(store.reason_counts().values()) == sorted(
            by_hand.values(), reverse=True)
        types = store.top_semantic_types()  # the demo's own types, imported with its labels
        assert all(types[prompt_id(r["prompt"])] == r["semantic_type"] for r in demo_records())
    export = db.parent / "demo-export"
    assert {"pairs.jsonl", "pairs.csv", "pairs.parquet", "README.md"} <= {p.name for p in export.iterdir()}
    card = (export / "README.md").read_text(encoding="utf-8")
    assert "examples shipped with the demo" in card and "judge was the labelling model" not in card


def test_a_second_demo_run_adds_nothing(demo_run, tmp_path):
    db = tmp_path / "demo.db"
    shutil.copy(demo_run[0], db)
    before = snapshot(db)
    run_demo(db, echo=lambda line: None, export_dir=tmp_path / "export")
    after = snapshot(db)
    for table in ("prompts", "labels", "candidates", "judgments", "pairs", "review_items", "annotations",
                  "bench_results", "engine_cache"):
        assert after[table] == before[table], table


@pytest.fixture
def demo_app(demo_run, monkeypatch):
    monkeypatch.setenv("MISALIGN_DB", str(demo_run[0]))
    return Store(demo_run[0])


def run(page: str) -> AppTest:
    return AppTest.from_file(str(REPO / page), default_timeout=60).run()


def test_overview_of_the_demo(demo_app):
    at = run("pages/0_Overview.py")
    assert not at.exception
    assert at.metric[0].value == str(len(demo_records()) + len(real_model_records()))
    assert any("example answers shipped with the demo" in c.value for c in at.caption)


def test_domains_page_shows_demo_pairs_and_both_baselines(demo_app, taxonomy):
    labeler = "imported:demo"  # the labeler the demo's pairs take their domains from
    domain = next(d for d in taxonomy.domains if demo_app.domain_summary(labeler, d.id)["pairs"])
    at = run("pages/1_Domains.py")
    at.selectbox[0].select(labeler).run()
    at.selectbox[1].select(domain.dimension).run()
    at.selectbox[2].select(domain).run()
    assert not at.exception
    assert int(at.metric[0].value) >= 1
    assert set(at.dataframe[0].value["model"]) == {"embedded", "keyword-refusal"}
    captions = [shown_text(c.value) for c in at.caption]  # shown literally: escaped Markdown
    assert any(c.startswith("Domains: ") and domain.name in c for c in captions)  # the pair card, in words


def test_tradeoffs_page_shows_a_matrix_for_the_demo(demo_app):
    at = run("pages/2_Trade-offs.py")
    assert not at.exception
    assert at.metric[0].label.startswith("Trade-off rate (n = ") and at.metric[0].value != "n/a"


def test_agreement_page_shows_both_example_panels_and_their_disagreements(demo_app):
    at = run("pages/3_Agreement.py")
    assert not at.exception
    # panel names are data: shown literally (escaped Markdown)
    assert {shown_text(s.value) for s in at.subheader} >= {"example-east-africa", "example-western-europe",
                                               "Divergence between panels", "Disagreement queue"}
    assert any("examples shipped with the demo" in c.value for c in at.caption)
    assert at.selectbox[0].options  # pairs waiting for adjudication


def test_review_page_marks_the_example_annotators(demo_app):
    at = run("pages/4_Review.py")
    at.selectbox[1].select("example-amani").run()
    assert not at.exception
    assert any("(example annotator)" in c.value for c in at.caption)
    assert not at.dataframe[0].value.empty  # queue progress


def test_export_page_previews_the_demo_pairs(demo_app, tmp_path):
    at = run("pages/5_Export.py")
    at.text_input[1].input(str(tmp_path / "out"))
    at.button[0].click().run()
    assert not at.exception
    assert not at.dataframe[0].value.empty and " pairs, export " in at.markdown[0].value


def test_runs_page_lists_the_demo_stages(demo_app):
    from pipeline.app.runs import stage_words

    at = run("pages/6_Runs.py")
    assert not at.exception
    assert {stage_words(s) for s in ("ingest", "label", "dedup", "pairs_import", "bench", "export")} <= set(
        at.dataframe[0].value["stage"])
