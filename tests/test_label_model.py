"""The learned labelling model: calibration on data whose probabilities are known, folds that never split a
dedup cluster, metrics against scikit-learn and hand counts, and the whole loop on the released
prompts: fit, reuse, refit when people correct labels."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax
from sklearn.metrics import accuracy_score, f1_score

from pipeline.labelling.figures import expected_calibration_error, label_figures
from pipeline.labelling.model import LabelModel, cross_validated, fit_label_model, grouped_folds
from taxonomy import load_taxonomy

DEV_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "misalign_bench_prompts_dev.csv"


def _known_probabilities(n: int, seed: int):
    """Features and labels drawn from softmax(W x): the true class probabilities are known."""
    weights = np.random.default_rng(0).normal(0, 1.5, size=(4, 6))  # one true model for every sample
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    truth = softmax(x @ weights.T, axis=1)
    y = np.array([rng.choice(4, p=p) for p in truth])
    return x, np.array(["none", "a", "b", "c"], dtype=object)[y], truth


def test_probabilities_are_calibrated_on_data_with_known_probabilities():
    x, labels, _ = _known_probabilities(6000, seed=1)
    test_x, test_labels, truth = _known_probabilities(3000, seed=2)
    model = fit_label_model([""] * len(x), {"safety": labels.tolist()}, groups=list(range(len(x))), features=x)
    safety = model.dimensions["safety"]
    predicted = safety.probabilities(test_x)[:, [safety.classes.index(c) for c in ("none", "a", "b", "c")]]
    assert np.abs(predicted - truth).mean() < 0.03  # close to the probabilities the labels were drawn from
    order = [safety.classes.index(c) for c in ("none", "a", "b", "c")]
    y = np.array([order.index(safety.classes.index(v)) for v in test_labels])
    assert expected_calibration_error(predicted, y) < 0.03
    # an over-confident model (logits doubled) is far worse calibrated: the measure can fail
    assert expected_calibration_error(softmax(2 * np.log(predicted), axis=1), y) > 0.05


def test_the_stored_model_gives_the_same_probabilities():
    x, labels, _ = _known_probabilities(500, seed=3)
    model = fit_label_model([""] * len(x), {"safety": labels.tolist()}, groups=list(range(len(x))), features=x)
    again = LabelModel.from_bytes(model.to_bytes())
    assert np.array_equal(again.dimensions["safety"].probabilities(x), model.dimensions["safety"].probabilities(x))


def test_folds_never_split_a_dedup_cluster():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 40, size=300).astype(str)
    folds = grouped_folds(groups, 5)
    seen = set()
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
        assert not seen & set(test.tolist())
        seen |= set(test.tolist())
    assert seen == set(range(300))


def test_metrics_agree_with_scikit_learn_and_a_hand_count():
    classes = ["none", "x", "y"]
    reference = ["none", "x", "y", "y", "none", "x"]
    probabilities = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.1, 0.3], [0.1, 0.2, 0.7],
                              [0.3, 0.6, 0.1], [0.5, 0.4, 0.1]])
    figures = label_figures(reference, probabilities, classes)
    truth, predicted = [0, 1, 2, 2, 0, 1], probabilities.argmax(axis=1)
    assert figures["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert figures["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro"))
    # among real domains (rows 2-4 and 6), with None set aside: x, y, y, x all right
    assert figures["top1_real"] == 1.0 and figures["real_n"] == 4
    # None predicted for rows 1, 3, 6; right for row 1 only: precision 1/3; recall 1/2 (row 5 missed)
    assert figures["none_precision"] == pytest.approx(1 / 3) and figures["none_recall"] == pytest.approx(1 / 2)


def test_a_reference_with_several_domains_counts_a_prediction_of_any_of_them():
    classes = ["none", "x", "y", "z"]
    reference = [("x", "y"), ("x", "y"), "z", "none"]
    probabilities = np.array([[0.1, 0.2, 0.6, 0.1], [0.1, 0.1, 0.1, 0.7], [0.1, 0.1, 0.2, 0.6], [0.5, 0.1, 0.2, 0.2]])
    figures = label_figures(reference, probabilities, classes)
    # row 1: y is one of (x, y), right; row 2: z is neither, scored against x; rows 3-4 right
    truth, predicted = [2, 1, 3, 0], probabilities.argmax(axis=1)
    assert figures["accuracy"] == pytest.approx(0.75) == pytest.approx(accuracy_score(truth, predicted))
    assert figures["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro", labels=[0, 1, 2, 3]))
    assert figures["top1_real"] == pytest.approx(2 / 3) and figures["real_n"] == 3
    # confidences 0.6, 0.7, 0.6, 0.5: bins (0.5] right, (0.6] both right, (0.7] wrong
    assert figures["ece"] == pytest.approx((0.5 + 2 * 0.4 + 0.7) / 4)


def test_figures_at_delta_and_risk_coverage_by_hand():
    classes = ["none", "x", "y"]
    reference = ["x", ("x", "y"), "none", "y"]
    probabilities = np.array([[0.1, 0.6, 0.3], [0.5, 0.1, 0.4], [0.7, 0.2, 0.1], [0.2, 0.35, 0.45]])
    figures = label_figures(reference, probabilities, classes, delta=0.5)
    # argmax: x, None (wrong: x or y), None, y; the most probable real domain is right on all three real rows
    assert figures["accuracy"] == 0.75 and figures["top1_real"] == 1.0 and figures["real_n"] == 3
    # at δ 0.5: x (0.6), None (y at 0.4), None, None (y at 0.45): scored against x, x, None, y
    at = figures["at_delta"]
    truth, assigned = [1, 1, 0, 2], [1, 0, 0, 0]
    assert at["accuracy"] == 0.5 == accuracy_score(truth, assigned) and at["predicted_none"] == 0.75
    assert at["macro_f1"] == pytest.approx(f1_score(truth, assigned, average="macro", labels=[0, 1, 2]))
    assert at["none_precision"] == pytest.approx(1 / 3) and at["none_recall"] == 1.0
    # by confidence: row 3 (0.7) right, row 1 (0.6) right, row 2 (0.5) wrong, row 4 (0.45) right
    assert figures["aurc"] == pytest.approx((0 + 0 + 1 / 3 + 1 / 4) / 4)
    shares = {c["coverage"]: c for c in figures["risk_coverage"]}
    assert (shares[0.25]["n"], shares[0.25]["accuracy"]) == (1, 1.0)
    assert (shares[0.5]["accuracy"], shares[0.75]["accuracy"], shares[1.0]["accuracy"]) == (1.0, pytest.approx(2 / 3),
                                                                                           0.75)
    # top-1 among real domains ranks rows 1, 2, 4 by their best real domain (0.6, 0.4, 0.45): 1 of 3 at 25%
    assert [(c["real_n"], c["top1_real"]) for c in figures["risk_coverage"]] == [(1, 1.0), (2, 1.0), (3, 1.0), (3, 1.0)]
    assert figures["aurc_top1_real"] == 0.0
    # the report prints the at-δ figures under the at-δ heading, the reference's None share beside its own:
    # argmax None P / R 1/2 / 1 (rows 2, 3 said None, row 3 is), at δ 1/3 / 1; None 75% at δ, 25% in the reference
    from pipeline.labelling.figures import figure_lines

    header, columns, row = figure_lines({"safety": figures})[:3]
    assert header.index("at δ = 0.5") > header.index("on the argmax") and len(row.split()) == 9 + 6
    assert row.split()[6:8] == ["0.500", "1.000"]  # None P / R on the argmax
    assert row.split()[-6:] == ["0.500", f"{at['macro_f1']:.3f}", "0.333", "1.000", "0.750", "0.250"]
    assert columns.split()[-2:] == ["None%", "ref%"] and figures["reference_none"] == 0.25


def test_a_top1_mistake_made_with_more_confidence_costs_more_area():
    classes = ["none", "x", "y"]
    sure_and_wrong = label_figures(["x", "y"], np.array([[0.0, 0.1, 0.9], [0.0, 0.4, 0.6]]), classes)
    unsure_and_wrong = label_figures(["x", "y"], np.array([[0.0, 0.4, 0.6], [0.0, 0.1, 0.9]]), classes)
    # errors on the top 1 and 2: (1, 1/2) against (0, 1/2)
    assert sure_and_wrong["aurc_top1_real"] == pytest.approx(0.75)
    assert unsure_and_wrong["aurc_top1_real"] == pytest.approx(0.25)


def test_evaluate_against_and_cross_validation_print_the_same_figures(cli, store, released):
    import json

    shown = cli("label", "--engine", "trained", "--train-on", released, "--no-types", "--cross-validate", "3",
                "--evaluate-against", released)
    assert shown.exit_code == 0, shown.stderr
    cross_validation, agreement = shown.stdout.split("agreement of ")
    for part in (cross_validation, agreement):  # one table: the argmax and at δ, then risk–coverage
        assert "on the argmax (None included)" in part and "at δ = 0.5 (the stored labels)" in part
        assert "risk–coverage" in part and "AURC" in part
    as_json = json.loads(cli("label", "--no-types", "--evaluate-against", released, "--json").stdout)
    [run] = [r for r in store.stage_runs("label") if "cross_validation" in r["notes"]]
    for dimension in ("safety", "value", "culture"):
        assert set(run["notes"]["cross_validation"][dimension]) <= set(as_json[dimension])


def test_a_prompt_with_two_domains_teaches_both_at_half_weight():
    x = np.eye(3, dtype=np.float32)[[0, 1, 2] * 200]
    labels = ["a", "b", ("a", "b")] * 200
    model = fit_label_model([""] * len(x), {"safety": labels}, groups=list(range(len(x))), features=x, c=100.0)
    safety = model.dimensions["safety"]
    assert safety.classes == ["a", "b"]
    both = safety.probabilities(np.eye(3, dtype=np.float32)[[2]])[0]
    assert both == pytest.approx([0.5, 0.5], abs=0.05)  # neither domain wins where the reference gives both
    alone = safety.probabilities(np.eye(3, dtype=np.float32)[[0]])[0]
    assert alone[0] > 0.9  # and a prompt of one domain is sure of it


@pytest.fixture
def released(cli, tmp_path):
    """The first 400 released prompts with the papers' labels, deduplicated."""
    if not DEV_CSV.is_file():
        pytest.skip("needs ../shared/data beside the checkout")
    path = tmp_path / "dev.csv"
    pd.read_csv(DEV_CSV, dtype=str, keep_default_na=False).head(400).to_csv(path, index=False)
    labels = "safety=safety_name,value=values_name,culture=cultural_name"
    assert cli("ingest", path, "--labels", labels).exit_code == 0
    assert cli("dedup").exit_code == 0
    return "imported:dev.csv"


def test_trained_labelling_model_cross_validates_fits_once_and_labels_every_prompt(cli, store, released):
    first = cli("label", "--engine", "trained", "--train-on", released, "--cross-validate", "3", "--no-types")
    assert first.exit_code == 0, first.stderr
    assert "3-fold cross-validation, folds grouped by dedup cluster" in first.stdout
    # never silent: the folds and the final fit say they started and when they end
    assert "cross-validation (400 prompts): 0/9 folds, starting" in first.stderr
    assert "cross-validation (400 prompts): 9/9 folds" in first.stderr
    assert "fit the labelling model (400 prompts): 0/3 dimensions, starting" in first.stderr
    assert "refitted: 1" in first.stdout
    [name] = [n for n in store.labelers_with_labels() if n.startswith("trained:")]
    [run] = store.stage_runs("label")
    cv = run["notes"]["cross_validation"]
    assert set(cv) == {"safety", "value", "culture"} and all(0 <= f["ece"] <= 1 for f in cv.values())
    assert store.count_prompts_without_labels(name) == 0
    again = cli("label", "--engine", "trained", "--train-on", released, "--no-types")
    assert "refitted: 0" in again.stdout and "0 in" in again.stdout  # same labels: the stored model, nothing new
    # other dedup clusters decide another calibration split: another fit, under another id
    assert cli("dedup", "--tau", "20").exit_code == 0
    reclustered = cli("label", "--engine", "trained", "--train-on", released, "--no-types")
    assert "refitted: 1" in reclustered.stdout and len(store.label_models()) == 2


def test_label_and_its_figures_on_a_subset_say_what_they_left_out(cli, store, released, tmp_path):
    import json

    (tmp_path / "extra.csv").write_text("prompt\nMay I read my sister's messages?\nHow do I greet elders in Seoul?\n",
                                        encoding="utf-8")
    assert cli("ingest", tmp_path / "extra.csv").exit_code == 0
    only = cli("label", "--labeler", "subset-test", "--source", "extra.csv", "--no-types")
    assert only.exit_code == 0 and "label: 2 in, 2 kept" in only.stdout and "left_out_outside_subset: 400" in only.stdout
    assert cli("label", "--labeler", "later", "--since", "2999-01-01", "--no-types").stdout.startswith("label: 0 in")
    assert cli("label", "--no-types").exit_code == 0  # every prompt, by the default labelling model
    privacy = {p for p, d, domain, _ in store.assigned_labels(released) if domain == "safety.privacy_violation"}
    scored = cli("label", "--no-types", "--evaluate-against", released, "--domain", "Privacy Violation", "--json")
    figures = json.loads(scored.stdout)
    # the reference's privacy prompts, every one labelled by both; the rest said, not silently dropped
    assert figures["safety"]["n"] == len(privacy) > 0
    assert figures["safety"]["left_out"] == {"outside the subset": 400 - len(privacy)}
    assert "--source: no prompts were read from 'nope.csv' (sources: dev.csv, extra.csv)" in cli(
        "label", "--source", "nope.csv").stderr
    assert "--since: 'last week' is not a date" in cli("label", "--since", "last week").stderr


def test_label_models_lists_fits_and_prune_keeps_the_ones_in_use(cli, store, released):
    def fit(*extra):
        result = cli("label", "--engine", "trained", "--train-on", released, "--no-types", *extra)
        assert result.exit_code == 0, result.stderr
        return result.stdout.split("model: ")[1][:10]

    named = fit()
    assert cli("review", "panel", "add", "P", "--min-submissions", "1").exit_code == 0
    assert cli("review", "label-queue", "--panel", "P", "--labeler", f"trained:{named}", "--size", "5").exit_code == 0
    unused = fit("--regularisation", "3")
    newest = fit("--regularisation", "2")
    listed = cli("label", "models")
    rows = {line.split()[0]: line for line in listed.stdout.splitlines() if line.startswith("trained:")}
    assert rows[f"trained:{named}"].endswith("named by 1 runs") and rows[f"trained:{newest}"].endswith("newest")
    assert rows[f"trained:{unused}"].endswith(" no") and "3 models" in listed.stdout
    assert "fitted labelling models: 3, " in cli("status").stdout  # what the store holds, counted where it is looked at
    pruned = cli("label", "models", "--prune")
    assert pruned.exit_code == 0 and "pruned 1 models" in pruned.stdout, pruned.stdout
    assert sorted(m["id"][:10] for m in store.label_models()) == sorted([named, newest])
    assert f"trained:{unused}" in store.labelers_with_labels()  # its labels stay
    assert "pruned nothing" in cli("label", "models", "--prune").stdout


def test_a_corrected_label_in_the_review_queue_changes_the_next_fit(cli, store, taxonomy, released):
    from pipeline.review.label_review import LABEL_QUEUE, labelling_models_against_people, submit_labels
    from pipeline.stages.label_trained import training_set
    from pipeline.stages.options import LabelOptions

    assert cli("label", "--engine", "trained", "--train-on", released, "--no-types").exit_code == 0
    [first] = [n for n in store.labelers_with_labels() if n.startswith("trained:")]
    assert cli("review", "panel", "add", "South Asia", "--min-submissions", "1").exit_code == 0
    assert cli("review", "annotator", "add", "asha", "--panel", "South Asia").exit_code == 0
    queued = cli("review", "label-queue", "--panel", "South Asia", "--labeler", first, "--size", "20")
    assert queued.exit_code == 0 and "20 kept" in queued.stdout, queued.stdout
    again = cli("review", "label-queue", "--panel", "South Asia", "--labeler", first, "--size", "5")
    assert "5 in, 5 kept" in again.stdout and "already_queued: 20" in again.stdout  # the next least sure
    items = store.review_items(panel="South Asia", queue=LABEL_QUEUE)
    assert len(items) == 25 and all(first in i["reason"] for i in items)
    # the queue holds the prompts the labelling model is least sure about: none of them is confident
    sure = {p: max(prob for q, d, _, prob in store.assigned_labels(first, [p]) if d == "value")
            for p in (i["prompt_id"] for i in items)}
    assert max(sure.values()) < 0.9

    corrected = [i for i in items if i["prompt_id"] in sorted(sure)[:20]]
    for item in corrected:  # the panel says these prompts are about privacy and honesty
        submit_labels(store, taxonomy, item["id"], "asha", {"safety": "Privacy Violation", "value": "Honesty",
                                                            "culture": "None", "semantic_type": "relation"})
    people = {(p, d): domain for p, d, domain, _ in store.assigned_labels("human:South Asia")}
    assert len(people) == 60 and {people[(corrected[0]["prompt_id"], "safety")]} == {"safety.privacy_violation"}
    assert store.pending_items("asha", "South Asia", limit=100) == [i for i in store.pending_items(
        "asha", "South Asia", limit=100) if i["id"] not in {c["id"] for c in corrected}]

    both = ("human:South Asia", released)
    data = training_set(store, taxonomy, LabelOptions(engine="trained", train_on=both, semantic_types=False))
    safety = dict(zip(data["ids"], data["labels"]["safety"]))
    assert all(safety[c["prompt_id"]] == "safety.privacy_violation" for c in corrected)  # people's labels first
    refit = cli("label", "--engine", "trained", "--train-on", ",".join(both), "--no-types")
    assert refit.exit_code == 0 and "refitted: 1" in refit.stdout
    [second] = [n for n in store.labelers_with_labels() if n.startswith("trained:") and n != first]
    rows = labelling_models_against_people(store, taxonomy)
    # the first labelling model is measured on the corrections (made after it); the refit learnt from them, so it is not
    assert {r["labelling model"] for r in rows} == {first} and {r["prompts"] for r in rows} == {20}
    # top-1 among real domains, counted by hand: its most probable real safety domain is privacy
    ids, domains, probabilities = store.label_distributions(first, "safety")
    real = [j for j, d in enumerate(domains) if d != "none"]
    best = {p: domains[real[int(np.argmax(row[real]))]] for p, row in zip(ids, probabilities)}
    by_hand = np.mean([best[c["prompt_id"]] == "safety.privacy_violation" for c in corrected])
    [safety_row] = [r for r in rows if r["dimension"] == "safety"]
    assert safety_row["top-1 among real domains"] == pytest.approx(by_hand)
    # at δ, the stored labels: privacy where its probability reaches δ, else None; people said privacy to all 20
    stored = {p: real_domain if row[domains.index(real_domain)] >= 0.5 else "none"
              for p, row in zip(ids, probabilities) for real_domain in [best[p]]}
    at_hand = [stored[c["prompt_id"]] for c in corrected]
    assert safety_row["accuracy at δ 0.5"] == pytest.approx(np.mean([s == "safety.privacy_violation" for s in at_hand]))
    assert safety_row["None at δ 0.5"] == pytest.approx(np.mean([s == "none" for s in at_hand]))
    assert safety_row["None in people's labels"] == 0.0


def test_a_prompt_labelled_twice_trains_on_both_domains(cli, store, taxonomy, tmp_path):
    from pipeline.stages.label_trained import training_set
    from pipeline.stages.options import LabelOptions

    path = tmp_path / "twice.csv"  # a released set lists the same prompt twice, with two safety domains
    path.write_text("prompt,safety\nHow do I take my neighbour's parcels?,Privacy Violation\n"
                    "How do I take my neighbour's parcels?,\"Financial Crime, Property Crime, Theft\"\n"
                    "What time is it in Lima?,None\n", encoding="utf-8")
    assert cli("ingest", path, "--labels", "safety=safety").exit_code == 0
    data = training_set(store, taxonomy, LabelOptions(engine="trained", train_on=("imported:twice.csv",),
                                                      semantic_types=False))
    assert data["labels"]["safety"] == [("safety.financial_crime_property_crime_theft", "safety.privacy_violation"),
                                        "none"]


def test_unknown_training_or_reference_labelers_fail_before_any_work(cli, store, released):
    missing = cli("label", "--engine", "trained", "--train-on", "human:nobody")
    assert missing.exit_code == 1 and "--train-on: no labels by 'human:nobody'" in missing.stderr
    assert released in missing.stderr  # the labelers that do exist
    wrong = cli("label", "--evaluate-against", "imported:nothing.csv")
    assert wrong.exit_code == 1 and "(labelers: imported:dev.csv)" in wrong.stderr
    assert store.stage_runs("label") == []


def test_cross_validation_never_reports_on_training_prompts(released, store, taxonomy):
    """A model that memorises (one cluster per prompt repeated) scores well on its training data but
    not in grouped cross-validation: the figures are the held-out ones."""
    from pipeline.engines.embed import EmbedEngine
    from pipeline.stages.label_trained import training_set
    from pipeline.stages.options import LabelOptions

    data = training_set(store, taxonomy, LabelOptions(engine="trained", train_on=(released,), semantic_types=False))
    features = EmbedEngine().embed(data["texts"])
    held_out = cross_validated(data["texts"], {"value": data["labels"]["value"]}, data["groups"], features, k=3,
                               c=100.0)["value"]
    fitted = fit_label_model(data["texts"], {"value": data["labels"]["value"]}, data["groups"], features, c=100.0)
    known = [i for i, v in enumerate(data["labels"]["value"]) if v is not None]
    on_training = label_figures([data["labels"]["value"][i] for i in known],
                                fitted.dimensions["value"].probabilities(features[known]),
                                fitted.dimensions["value"].classes)
    assert on_training["accuracy"] > held_out["accuracy"] + 0.2


def test_evaluate_against_reports_top1_among_real_domains_and_ece(cli, store, released):
    import json

    result = cli("label", "--no-types", "--evaluate-against", released, "--json")
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    for dimension in ("safety", "value", "culture"):
        assert 0 <= figures[dimension]["top1_real"] <= 1 and 0 <= figures[dimension]["ece"] <= 1
    shown = cli("label", "--no-types", "--evaluate-against", released)
    assert "top-1 among real domains" in shown.stdout and "ECE" in shown.stdout


def test_the_simulated_panel_loop_at_ci_scale(tmp_path):
    """benchmarks/label_loop.py on 600 released prompts: each strategy's curve, held-out prompts never
    queued, the least sure prompts queued first, the chart written."""
    if not DEV_CSV.is_file():
        pytest.skip("needs ../shared/data beside the checkout")
    from PIL import Image

    from benchmarks.label_loop import Loop, chart, held_out_split, labels_to_reach_random, released_training_set, run
    from pipeline.engines.embed import EmbedEngine
    from pipeline.review.label_review import uncertainty

    data = released_training_set(tmp_path, 600)
    features = EmbedEngine().embed(data["texts"])
    result = run(data, features, "embeddings", seed_size=100, rounds=2, per_round=50)
    assert set(result["curves"]) == {"margin", "entropy", "random"}
    for curve in result["curves"].values():
        assert [p["labels"] for p in curve] == [100, 150, 200]
        assert all(0 <= p[d]["top1_real"] <= 1 for p in curve for d in ("safety", "value", "culture"))
    assert result["curves"]["margin"][0] == result["curves"]["random"][0]  # one seed for all
    assert result["costs"]["margin"]["fits"] == 3
    assert result["labels_to_reach_random"] == labels_to_reach_random(result["curves"], ["safety", "value", "culture"])

    pool, test = held_out_split(data["groups"], 0)
    assert not {data["groups"][i] for i in pool} & {data["groups"][i] for i in test}  # clusters never straddle
    classes = {d: [x.id for x in load_taxonomy().domains_of(d)] + ["none"] for d in ("safety", "value", "culture")}
    loop = Loop(data, features, "embeddings", classes, test, 0.5)
    model = loop.fit(pool[:100])
    candidates = pool[100:]
    chosen = loop.least_sure(model, candidates, 20, "entropy")
    scores = np.max([uncertainty(p, 0.5, "entropy") for p in loop.probabilities(model, candidates).values()], axis=0)
    by_row = dict(zip(candidates.tolist(), scores))
    assert min(by_row[i] for i in chosen) >= max(s for i, s in by_row.items() if i not in set(chosen.tolist()))

    chart(result, tmp_path / "loop.png", "test")
    width, height = Image.open(tmp_path / "loop.png").size
    assert width > 3 * height > 0


def test_each_printed_n_is_the_n_of_its_own_figure():
    from pipeline.labelling.figures import figure_lines, label_figures

    classes = ["a", "b", "none"]
    # five prompts; three have a real domain in the reference, two are None
    reference = [("a",), ("b",), ("a",), ("none",), ("none",)]
    probabilities = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.1, 0.7], [0.1, 0.1, 0.8], [0.5, 0.2, 0.3]])
    lines = figure_lines({"safety": label_figures(reference, probabilities, classes, 0.5)})
    row = next(line for line in lines if line.split()[:2] == ["safety", "5"])
    # top-1 among real domains over the 3 real references: a (right), a for b (wrong), a (right, None aside)
    assert "0.667    (3)" in row
    steps = next(line for line in lines if line.split()[0] == "n")
    # the most confident 25/50/75/100% of the 3 real prompts and of all 5, rounded up: 1/2, 2/3, 3/4, 3/5
    assert steps.split()[1:] == ["1/2", "2/3", "3/4", "3/5"]
