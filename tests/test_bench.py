"""Stage II: metric functions against scikit-learn and hand counts; benchmarks end to end on a real store."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix, recall_score

from pipeline.bench.run import BenchOptions, run_bench
from pipeline.bench.metrics import alignment_score, bootstrap_interval, detector_metrics, macro, tradeoffs
from pipeline.engines.config import load_config
from pipeline.stages.pairs.run import PairOptions
from pipeline.stages.pairs.importer import import_candidates
from pipeline.stages.pairs.options import PairImportOptions
from pipeline.review.queues import add_annotator, add_panel, QueueOptions, build_queues, submit
from tests.pair_fixtures import seed_pairs


def test_alignment_score_of_the_papers_single_dimension_models():
    assert alignment_score(0.976, 0.50) == pytest.approx(0.661, abs=5e-4)
    assert alignment_score(1.0, 0.0) == 1.0 and alignment_score(0.0, 1.0) == 0.0


def test_coverage_and_ffr_are_recall_and_false_positive_rate():
    rng = np.random.default_rng(3)
    misaligned, aligned = rng.random(200) < 0.7, rng.random(150) < 0.2
    figures = detector_metrics(list(misaligned), list(aligned))
    truth = [1] * 200 + [0] * 150
    predicted = list(misaligned.astype(int)) + list(aligned.astype(int))
    tn, fp, fn, tp = confusion_matrix(truth, predicted).ravel()
    assert figures["coverage"] == pytest.approx(recall_score(truth, predicted))
    assert figures["ffr"] == pytest.approx(fp / (fp + tn))


def test_edge_cases_no_misaligned_items_all_flagged_none_flagged():
    assert math.isnan(detector_metrics([], [True, False])["coverage"])
    assert math.isnan(detector_metrics([], [True, False])["alignment_score"])
    everything = detector_metrics([True, True], [True, True])
    assert (everything["coverage"], everything["ffr"], everything["alignment_score"]) == (1.0, 1.0, 0.0)
    nothing = detector_metrics([False], [False])
    assert (nothing["coverage"], nothing["ffr"], nothing["alignment_score"]) == (0.0, 0.0, 0.0)
    # macro: unweighted mean over groups, groups without items left out
    groups = [detector_metrics([True], [False]), detector_metrics([False, False], [True]), detector_metrics([], [])]
    assert macro(groups)["coverage"] == 0.5 and macro(groups)["ffr"] == 0.5


def test_tradeoff_rate_and_matrix_by_hand():
    right = {"a": {"safety": True, "culture": False},  # right on safety, wrong on culture: a trade-off
             "b": {"safety": True, "value": True},      # right on both: none
             "c": {"safety": False, "value": False},    # wrong on both: none
             "d": {"culture": True}}                    # one dimension: not counted
    result = tradeoffs(right, ("safety", "value", "culture"))
    assert result["items"] == 3 and result["rate"] == pytest.approx(1 / 3)
    assert result["matrix"]["safety"]["culture"] == 1.0 and result["matrix"]["culture"]["safety"] == 0.0
    assert result["matrix"]["safety"]["value"] == 0.0 and math.isnan(result["matrix"]["value"]["culture"])


def test_bootstrap_interval_brackets_the_estimate():
    misaligned, aligned = np.array([1, 1, 0, 1, 1, 1, 0, 1.0]), np.array([0, 0, 1, 0, 0, 0, 0, 1.0])
    ci = bootstrap_interval(misaligned, aligned, samples=500)
    assert ci["coverage"][0] <= misaligned.mean() <= ci["coverage"][1]
    assert ci["ffr"][0] <= aligned.mean() <= ci["ffr"][1]


@pytest.fixture
def accepted_pairs(store, taxonomy, tmp_path):
    pairs = seed_pairs(store, taxonomy, tmp_path)
    import_candidates(store, taxonomy, load_config(), PairImportOptions(tmp_path / "responses.jsonl", pairs=PairOptions(threshold=0.0, margin=0.0)))
    return store, pairs


@pytest.fixture
def bench_config(tmp_path, tiny_model):
    from benchmarks.tiny_model import build_tiny_model

    writer = build_tiny_model(tmp_path / "writer", seed=3, ends_answers=True)
    path = tmp_path / "bench.toml"
    path.write_text(f'[engines.tiny]\nbackend = "hf"\nmodel = "{tiny_model}"\n'
                    f'[engines.writer]\nbackend = "hf"\nmodel = "{writer}"\n', encoding="utf-8")
    return path


def test_detector_benchmark_with_the_tiny_model_three_runs_and_a_report(accepted_pairs, taxonomy, cli, bench_config,
                                                                        tmp_path):
    store, pairs = accepted_pairs
    result = cli("--config", bench_config, "bench", "run", "--model", "tiny", "--runs", "3", "--bootstrap", "100")
    assert result.exit_code == 0, result.stderr
    [group] = store.bench_groups()
    assert group["runs"] == 3 and group["engine"] == "tiny"
    rows = store.db.execute("SELECT COUNT(*) FROM bench_results").fetchone()[0]
    assert rows == len(pairs) * 2 * 3
    # the phrasings differ per run, so the tiny model's probabilities differ between runs
    probabilities = {tuple(r) for r in store.db.execute(
        "SELECT b.run_index, r.probability FROM bench_results r JOIN bench_runs b ON b.id = r.run_id "
        "WHERE r.pair_id = ? AND r.slot = 'aligned'", [pairs[0]])}
    assert len({p for _, p in probabilities}) == 3
    overall = store.bench_summaries(group["group_id"], "overall")[0]["metrics"]
    flags = store.bench_results(group["group_id"])
    coverage = np.mean([r["flagged"] for r in flags if r["slot"] == "misaligned"])
    assert overall["coverage"][0] == pytest.approx(coverage)  # micro: every response of every run counts once
    domain = store.domain_bench_figures("safety.privacy_violation")
    assert domain[0]["engine"] == "tiny" and domain[0]["metrics"]["pairs"] == 1
    again = cli("--config", bench_config, "bench", "run", "--model", "tiny", "--runs", "3", "--bootstrap", "100")
    assert "engine_requests: 0" in again.stdout  # finished runs are not asked again
    out = tmp_path / "report"
    report = cli("--config", bench_config, "bench", "report", "--out", out)
    assert report.exit_code == 0, report.stderr
    assert "trade-off rate =" in report.stdout
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "## Overall" in markdown and "## Tradeoff" in markdown and "trade-off rate" in markdown
    assert {p.name for p in out.glob("*.csv")} >= {"overall.csv", "domain.csv", "dimension.csv", "tradeoff.csv"}
    # a domain of one pair has its figures but no interval: it would look more certain than it is
    # the figures unrounded, as stored, for scripts: the CSVs round to 3 decimals
    exact = json.loads(cli("--config", bench_config, "bench", "report", "--json").stdout)
    [stored] = [f["metrics"] for f in exact["summaries"] if f["scope"] == "overall"]
    assert stored["coverage"][0] == coverage and exact["benchmark"]["group_id"] == group["group_id"]
    domains = pd.read_csv(out / "domain.csv")
    assert (domains["pairs"] < 5).any() and (domains.loc[domains["pairs"] < 5, "coverage 95% CI"] == "none: n < 5").all()


@pytest.mark.parametrize("baseline", ["embedded", "keyword-refusal"])
def test_cpu_baselines_run_once_as_their_answers_cannot_vary(accepted_pairs, taxonomy, baseline):
    store, pairs = accepted_pairs
    report = run_bench(store, None, load_config(), BenchOptions(engine=baseline, runs=3, bootstrap=100))
    assert report.notes.runs_note == f"{baseline} gives the same answers every run: 1 run, not 3"
    overall = store.bench_summaries(report.notes.group_id, "overall")[0]["metrics"]
    if baseline == "keyword-refusal":  # the hand-written responses never refuse: everything is flagged
        assert overall["coverage"] == [1.0, 0.0] and overall["ffr"] == [1.0, 0.0]
        assert overall["alignment_score"][0] == 0.0
    assert overall["runs"] == 1 and overall["pairs"] == len(pairs)
    dimension = {s["key"]: s["metrics"] for s in store.bench_summaries(report.notes.group_id, "dimension")}
    assert dimension["safety"]["pairs"] == 2 and dimension["culture"]["pairs"] == 2
    again = run_bench(store, None, load_config(), BenchOptions(engine=baseline, runs=3))  # resumed: nothing left to judge
    assert (again.items_in, again.kept, again.dropped) == (len(pairs), len(pairs), {})
    assert (again.notes.judged, again.notes.already_judged) == (0, len(pairs))
    assert f"{len(pairs)} in, {len(pairs)} kept" in again.summary() and f"already_judged: {len(pairs)}" in again.summary()


def test_each_domain_has_its_own_interval_and_trade_off_matrix_with_the_pairs_behind_each_cell(accepted_pairs,
                                                                                                 taxonomy):
    store, pairs = accepted_pairs
    group = run_bench(store, None, load_config(), BenchOptions(engine="embedded", bootstrap=200)).notes.group_id
    results = {(r["pair_id"], r["slot"]): r["dimensions"] for r in store.bench_results(group)}
    domains = store.pair_domains(pairs)
    for domain, members in ((d, [p for p in pairs if d in domains.get(p, [])]) for d in {d for ds in domains.values() for d in ds}):
        [figures] = [s["metrics"] for s in store.bench_summaries(group, "domain", domain)]
        [tradeoff] = [s["metrics"] for s in store.bench_summaries(group, "tradeoff", domain)]
        right = {p: {d: d in results[p, "misaligned"] and d not in results[p, "aligned"]
                     for d in sorted({taxonomy.domain(x).dimension for x in domains[p]})} for p in members}
        expected = tradeoffs(right, ("safety", "value", "culture"))  # checked by hand above
        assert tradeoff["items"] == expected["items"]
        for d1, d2 in (("safety", "value"), ("value", "culture"), ("culture", "safety")):
            behind = [p for p in members if d1 in right[p] and d2 in right[p] and right[p][d1] and not right[p][d2]]
            assert tradeoff["behind"][f"{d1}>{d2}"] == {"pairs": behind, "total": len(behind)}
        if len(members) >= 2:
            low, high = figures["ci"]["coverage"]
            assert low <= figures["coverage"][0] <= high
        else:
            assert all(v != v for v in figures["ci"]["coverage"])  # one pair: no interval


def test_generator_protocol_with_a_judge(accepted_pairs, taxonomy, bench_config, cli):
    store, pairs = accepted_pairs
    bad = cli("--config", bench_config, "bench", "run", "--model", "writer", "--protocol", "generate", "--judge", "writer")
    assert bad.exit_code == 1 and "must be a different model" in bad.stderr
    result = cli("--config", bench_config, "bench", "run", "--model", "writer", "--protocol", "generate",
                 "--judge", "tiny", "--runs", "2")
    assert result.exit_code == 0, result.stderr
    answers = list(store.db.query("SELECT * FROM bench_results"))
    assert len(answers) == len(pairs) * 2 and all(a["slot"] == "answer" and a["raw"] is not None for a in answers)
    assert all(set(json.loads(a["dimension_probabilities"])) == {"safety", "value", "culture"} for a in answers)
    [group] = store.bench_groups()
    domains = store.bench_summaries(group["group_id"], "domain")
    assert {d["key"] for d in domains} >= {"safety.privacy_violation", "culture.festivals"}
    assert all(0 <= d["metrics"]["misalignment_rate"][0] <= 1 for d in domains)


def test_judge_calibration_against_people(accepted_pairs, taxonomy, cli):
    from pipeline.review.agreement import judge_calibration

    store, pairs = accepted_pairs
    add_panel(store, "Panel", min_submissions=1)
    add_annotator(store, "kim", ("Panel",))
    store.db.execute("UPDATE pairs SET audit = 1")  # every accepted pair goes to the audit queue
    build_queues(store, options=QueueOptions("Panel", queues=("audit",)))
    verdicts = ["yes", "no", "yes", "no"]
    for item, verdict in zip(sorted(store.review_items(panel="Panel"), key=lambda i: pairs.index(i["pair_id"])), verdicts):
        submit(store, item["id"], "kim", {"pair_valid": verdict, "aligned_acceptable": "yes",
                                          "misaligned_dimensions": ["value"]})
    store.db.execute("UPDATE pairs SET status = 'rejected' WHERE id = ?", [pairs[1]])
    calibration = judge_calibration(store)
    judge = [1, 0, 1, 1]  # accepted, rejected, accepted, accepted
    human = [1, 0, 1, 0]
    assert calibration["overall"]["kappa"] == pytest.approx(cohen_kappa_score(judge, human))
    low, high = calibration["overall"]["kappa_interval"]  # resampled pairs; a resample of one class has none
    assert -1 <= low <= calibration["overall"]["kappa"] <= high <= 1
    assert calibration["overall"]["confusion"]["accepted"] == {"human_accepted": 2, "human_rejected": 1}
    assert calibration["domains"]["safety.privacy_violation"]["pairs"] == 1
    run_bench(store, None, load_config(), BenchOptions(engine="keyword-refusal", runs=1, pairs="human"))
    report = cli("bench", "report")
    assert "judge calibration" in report.stdout and report.exit_code == 0


def test_icc_matches_shrout_and_fleiss_and_sensitivity_by_hand():
    from pipeline.bench.raters import demographic_sensitivity, fairness, icc_2_1

    # Shrout & Fleiss (1979), 6 targets x 4 judges: ICC(2,1) = 0.29
    ratings = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)
    assert icc_2_1(ratings) == pytest.approx(0.29, abs=5e-3)
    assert demographic_sensitivity(np.array([[0.2, 0.4], [0.5, 0.5]])) == pytest.approx(0.05)  # (0.1 + 0) / 2
    # two cultures; people accept items 0 and 1. IN accepts 0, 1; DE accepts 0 only:
    # selection rates 1.0 vs 0.5 -> DPD 0.5; TPR 1.0 vs 0.5 (FPR 0 vs 0) -> EOD 0.5
    rated = {("culture", "IN"): [0.9, 0.8], ("culture", "DE"): [0.9, 0.1], ("gender", "female"): [0.9, 0.9]}
    figures = fairness(rated, [1, 1])
    assert figures["culture"]["dpd"] == pytest.approx(0.5) and figures["culture"]["eod"] == pytest.approx(0.5)
    assert "gender" not in figures  # one group: nothing to compare


def test_persona_raters_against_panel_decisions(accepted_pairs, taxonomy, bench_config, cli):
    store, pairs = accepted_pairs
    add_panel(store, "Panel", min_submissions=1)
    add_annotator(store, "asha", ("Panel",), culture="IN", gender="female")
    add_annotator(store, "lena", ("Panel",), culture="DE", gender="female", age_band="35-44")
    store.db.execute("UPDATE pairs SET audit = 1")
    build_queues(store, options=QueueOptions("Panel", queues=("audit",)))
    for item, verdict in zip(store.review_items(panel="Panel"), ["yes", "no", "yes", "no"]):
        submit(store, item["id"], "asha", {"pair_valid": verdict, "aligned_acceptable": "yes",
                                           "misaligned_dimensions": ["value"]})
    result = cli("--config", bench_config, "bench", "run", "--model", "tiny", "--protocol", "raters", "--runs", "1",
                 "--pairs", "reviewed")
    assert result.exit_code == 0, result.stderr
    [group] = store.bench_groups()
    [summary] = store.bench_summaries(group["group_id"], "raters")
    figures = summary["metrics"]
    assert figures["personas"] == ["age_band=35-44", "culture=DE", "culture=IN", "gender=female"]
    assert figures["icc_form"] == "ICC(2,1)" and figures["pairs"] == 4 and figures["decided_by_people"] == 4
    assert 0 <= figures["ds"] < 0.5 and set(figures["fairness"]) == {"culture"}
    report = cli("bench", "report")
    assert "ICC(2,1)" in report.stdout and "DPD" in report.stdout
    keyword = cli("bench", "run", "--model", "keyword-refusal", "--protocol", "raters")
    assert keyword.exit_code == 1 and "need an LLM engine" in keyword.stderr


def test_a_benchmark_on_one_split_of_an_export(accepted_pairs, taxonomy, cli, tmp_path):
    from pipeline.export.splits import ExportOptions, export

    store, pairs = accepted_pairs
    exported = export(store, taxonomy, options=ExportOptions(licence="unknown", out=tmp_path / "x", ratios=(0.4, 0.0, 0.6)))
    export_id = exported.notes.export_id
    test_pairs = {r[0] for r in store.db.execute("SELECT pair_id FROM splits WHERE export_id = ? AND split = 'test'",
                                                 [export_id])}
    assert test_pairs
    result = cli("bench", "run", "--model", "keyword-refusal", "--runs", "1", "--split", f"{export_id}:test")
    assert result.exit_code == 0, result.stderr
    assert {r[0] for r in store.db.execute("SELECT DISTINCT pair_id FROM bench_results")} == test_pairs
    bad = cli("bench", "run", "--model", "keyword-refusal", "--split", f"{export_id}:dev")
    assert bad.exit_code == 1 and "split dev of export" in bad.stderr


def _corrupted_engine(breakages):
    """An opener of the embedded engine whose answers come back unusable where ``breakages`` says, as from a
    broken server (a configuration's seam: ``Config.opening_with``)."""
    from pipeline.engines.embed import EmbedEngine
    from tests.conftest import Corrupting

    real = EmbedEngine()
    return lambda settings: Corrupting(real, breakages)


def test_an_unusable_detector_answer_is_left_out_and_counted_never_read_as_no(accepted_pairs, taxonomy):
    store, pairs = accepted_pairs
    # per pair: aligned then misaligned, each asked about the prompt's harm (asked once for both), the
    # response's refusal, its content overall and one question per dimension: 11 requests
    breakages = ["ok"] * (11 * len(pairs))
    breakages[2], breakages[11 + 6 + 3] = "nan", "empty"  # pair 1's aligned content; pair 2's misaligned value
    report = run_bench(store, None, load_config().opening_with(_corrupted_engine(breakages)),
                       BenchOptions(engine="embedded", runs=1, bootstrap=50))
    # both pairs stay in the benchmark: the two unusable answers are counted, not the pairs dropped
    assert (report.items_in, report.kept, report.dropped) == (len(pairs), len(pairs), {})
    assert (report.notes.judged, report.notes.unusable_answers) == (len(pairs), 2)
    unusable = list(store.db.query("SELECT pair_id, slot, flagged, probability, raw FROM bench_results WHERE usable = 0"))
    ordered = sorted(pairs)
    assert {(r["pair_id"], r["slot"]) for r in unusable} == {(ordered[0], "aligned"), (ordered[1], "misaligned")}
    assert all(r["probability"] is None and r["flagged"] == 0 for r in unusable)
    assert "NaN" in next(r["raw"] for r in unusable if r["slot"] == "aligned")
    group = report.notes.group_id
    overall = store.bench_summaries(group, "overall")[0]["metrics"]
    assert overall["pairs"] == len(pairs) - 2 and overall["unusable_pairs"] == 2
    kept = [r for r in store.bench_results(group) if r["pair_id"] not in ordered[:2]]
    truth = [1 if r["slot"] == "misaligned" else 0 for r in kept]
    tn, fp, fn, tp = confusion_matrix(truth, [r["flagged"] for r in kept], labels=[0, 1]).ravel()
    assert overall["coverage"][0] == pytest.approx(tp / (tp + fn)) and overall["ffr"][0] == pytest.approx(fp / (fp + tn))
    from pipeline.bench.report import report_tables

    assert report_tables(store, taxonomy, group)["overall"]["left out: unusable answers"].tolist() == [2]


def test_an_unusable_judge_answer_rejects_the_candidate_and_is_counted_never_read_as_no(store, taxonomy, tmp_path):
    # the judge is asked about each prompt's aligned then misaligned candidate; the first answer breaks
    seed_pairs(store, taxonomy, tmp_path, load_config().opening_with(_corrupted_engine(["nan"])))
    [unusable] = store.db.query("SELECT candidate_id, passed, probability, rationale FROM judgments "
                                "WHERE reason_code = 'judge_unusable'")
    assert unusable["passed"] == 0 and unusable["probability"] is None and "nan" in unusable["rationale"].lower()
    [pair] = store.db.query("SELECT status, reason_codes FROM pairs WHERE aligned_id IS NULL OR misaligned_id IS NULL")
    assert pair["status"] == "rejected" and "aligned:judge_unusable" in pair["reason_codes"]
    [run] = store.stage_runs("pairs_import")
    assert run["notes"]["stage2_unusable"] == 1


def test_an_interrupted_benchmark_says_so_shows_no_figures_and_its_printed_command_resumes_it(accepted_pairs, cli):
    from pipeline.engines.config import open_configured
    from tests.conftest import StopsAfterBatches

    store, pairs = accepted_pairs
    cut_off = load_config().opening_with(lambda settings: StopsAfterBatches(open_configured(settings), 2))
    with pytest.raises(KeyboardInterrupt):
        run_bench(store, None, cut_off, BenchOptions(engine="embedded", runs=1, batch=1, bootstrap=50))
    judged = store.db.execute("SELECT COUNT(DISTINCT pair_id) FROM bench_results").fetchone()[0]
    assert 0 < judged < len(pairs)
    said = f"interrupted: {judged} of {len(pairs)} judged; misalign bench run --model embedded --runs 1 " \
           "--pairs pipeline resumes it"
    listed = cli("bench", "list")
    assert listed.exit_code == 0 and said in listed.stdout
    report = cli("bench", "report")
    assert report.exit_code == 1 and said in report.stderr and "coverage" not in report.stdout
    assert cli("bench", "report", "--json").exit_code == 1  # no figures, not a table of n/a
    resumed = cli(*said.split("; ")[1].removesuffix(" resumes it").split()[1:], "--bootstrap", "50")
    assert resumed.exit_code == 0, resumed.stderr
    assert f"already_judged: {judged}" in resumed.stdout
    finished = cli("bench", "list")
    assert "interrupted" not in finished.stdout and "(1 run, begun" in finished.stdout
    assert cli("bench", "report").exit_code == 0
