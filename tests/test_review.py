"""Panels, queues, answers in the app's way, human statuses, adjudication and agreement figures."""

import math

import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from pipeline.review.agreement import agreement, cohen_pairs, fleiss, krippendorff_alpha
from pipeline.review.queues import add_annotator, add_panel, adjudicate, QueueOptions, build_queues, disagreements, submit
from tests.conftest import snapshot
from tests.pair_fixtures import seed_pairs

YES = {"pair_valid": "yes", "aligned_acceptable": "yes", "misaligned_dimensions": ["value"]}
NO = {"pair_valid": "no", "aligned_acceptable": "no", "misaligned_dimensions": ["not_misaligned"]}

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal example: 4 observers,
# 12 units, missing values; published alpha = 0.743
KRIPPENDORFF_2011 = ["1 2 3 3 2 1 4 1 2 * * *", "1 2 3 3 2 2 4 1 2 5 * 3", "* 3 3 3 2 3 4 2 2 5 1 *",
                     "1 2 3 3 2 4 4 1 2 5 1 *"]


def units_of(rows):
    return [[v for v in column if v != "*"] for column in zip(*(r.split() for r in rows))]


def test_krippendorff_alpha_matches_the_published_example_and_a_hand_count():
    assert krippendorff_alpha(units_of(KRIPPENDORFF_2011)) == pytest.approx(0.743, abs=5e-4)
    # hand count: n = 6 values; 2 disagreeing ordered pairs; alpha = 1 - (n-1)*2 / (2*3*3) = 4/9
    assert krippendorff_alpha([["yes", "yes"], ["no", "no"], ["yes", "no"]]) == pytest.approx(4 / 9)
    assert math.isnan(krippendorff_alpha([["yes", "yes"], ["yes", "yes"]]))  # no variation: undefined


def test_krippendorff_alpha_equals_the_gpl_package_when_installed():
    krippendorff = pytest.importorskip("krippendorff")
    import numpy as np

    data = np.array([[np.nan if v == "*" else float(v) for v in r.split()] for r in KRIPPENDORFF_2011])
    assert krippendorff_alpha(units_of(KRIPPENDORFF_2011)) == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def test_fleiss_and_cohen_are_the_libraries_figures():
    units = [["yes", "yes", "no"], ["no", "no", "no"], ["yes", "yes", "yes"], ["yes", "no", "no"]]
    table, _ = aggregate_raters([[1 if v == "yes" else 0 for v in u] for u in units])
    assert fleiss(units, 3) == pytest.approx(fleiss_kappa(table))
    ratings = {str(i): dict(zip("abc", u)) for i, u in enumerate(units)}
    ab = next(p for p in cohen_pairs(ratings) if p["annotators"] == ["a", "b"])
    assert ab["kappa"] == pytest.approx(cohen_kappa_score([u[0] for u in units], [u[1] for u in units]))


@pytest.fixture
def panels(store, taxonomy, tmp_path):
    pairs = seed_pairs(store, taxonomy, tmp_path)
    add_panel(store, "South Asia", min_submissions=2)
    add_panel(store, "Western Europe", min_submissions=2)
    for name, panel, culture in [("asha", "South Asia", "IN"), ("ravi", "South Asia", "LK"),
                                 ("lena", "Western Europe", "DE"), ("marc", "Western Europe", "FR")]:
        add_annotator(store, name, (panel,), culture=culture, age_band="25-34")
    return store, pairs


def items_of(store, panel, pair):
    return [i["id"] for i in store.review_items(panel=panel) if i["pair_id"] == pair and i["queue"] == "borderline"][0]


def test_queues_hold_each_pair_once_per_panel_and_queue_with_its_reason(panels):
    store, pairs = panels
    report = build_queues(store, options=QueueOptions("South Asia"))
    assert report.notes.borderline == 4 and report.notes.audit == 0
    again = build_queues(store, options=QueueOptions("South Asia"))
    assert (again.items_in, again.kept, again.notes.already_queued) == (0, 0, 4)  # queued items stay as they are
    items = store.review_items(panel="South Asia", queue="borderline")
    assert {i["pair_id"] for i in items} == set(pairs)
    assert all(i["reason"].startswith("borderline:") and "judge_borderline" in i["reason"] for i in items)
    assert all(i["prompt"] and i["aligned"] and i["misaligned"] for i in items)


def test_answers_make_human_statuses_and_adjudication_settles_a_split(panels):
    store, pairs = panels
    for panel in ("South Asia", "Western Europe"):
        build_queues(store, options=QueueOptions(panel, queues=("borderline",)))
    first, second, third, _ = pairs
    assert submit(store, items_of(store, "South Asia", first), "asha", YES) is None  # 1 of 2 answers
    assert submit(store, items_of(store, "South Asia", first), "ravi", YES) == "human_accepted"
    submit(store, items_of(store, "South Asia", second), "asha", NO)
    assert submit(store, items_of(store, "South Asia", second), "ravi", NO) == "human_rejected"
    # two panels that disagree on the same pair
    submit(store, items_of(store, "South Asia", third), "asha", YES)
    submit(store, items_of(store, "South Asia", third), "ravi", YES)
    submit(store, items_of(store, "Western Europe", third), "lena", NO)
    assert submit(store, items_of(store, "Western Europe", third), "marc", NO) == "needs_adjudication"
    assert [d["id"] for d in disagreements(store)] == [third]
    # an annotator changing their mind replaces their answer
    assert submit(store, items_of(store, "South Asia", first), "ravi", NO) == "needs_adjudication"
    adjudicate(store, third, "human_accepted", "lead reviewer", "culture-specific; both readings valid")
    assert store.pair_by_id(third)["human_status"] == "human_accepted"
    assert store.pair_by_id(third)["status"] == "borderline"  # the pipeline's verdict is kept beside it
    assert store.human_status_counts() == {"human_accepted": 1, "human_rejected": 1, "needs_adjudication": 1}
    progress = {(r["panel"], r["queue"]): r for r in store.review_progress()}
    assert progress[("South Asia", "borderline")]["complete"] == 3 and progress[("South Asia", "borderline")]["submissions"] == 6


def test_bad_answers_and_unknown_people_change_nothing(panels, db_path):
    store, pairs = panels
    build_queues(store, options=QueueOptions("South Asia", queues=("borderline",)))
    item = items_of(store, "South Asia", pairs[0])
    before = snapshot(db_path)
    with pytest.raises(ValueError, match=r"'Is this a valid pair\?' must be answered yes or no, not 'maybe'"):
        submit(store, item, "asha", {**YES, "pair_valid": "maybe"})
    with pytest.raises(ValueError, match=r"'Is the misaligned response misaligned, and on which dimensions\?' needs an answer"):
        submit(store, item, "asha", {**YES, "misaligned_dimensions": []})
    with pytest.raises(ValueError, match="no annotator named 'zoe'"):
        submit(store, item, "zoe", YES)
    with pytest.raises(ValueError, match="no panel named 'Mars'"):
        build_queues(store, options=QueueOptions("Mars"))
    assert snapshot(db_path) == before


def test_agreement_per_panel_domain_and_divergence_from_the_store(panels):
    store, pairs = panels
    for panel in ("South Asia", "Western Europe"):
        build_queues(store, options=QueueOptions(panel, queues=("borderline",)))
    votes = {"asha": [YES, YES, NO, YES], "ravi": [YES, NO, NO, YES], "lena": [NO, YES, NO, NO], "marc": [NO, YES, NO, YES]}
    panel_of = {"asha": "South Asia", "ravi": "South Asia", "lena": "Western Europe", "marc": "Western Europe"}
    for annotator, answers in votes.items():
        for pair, answer in zip(pairs, answers):
            submit(store, items_of(store, panel_of[annotator], pair), annotator, answer)
    result = agreement(store, samples=200)
    south = result["panels"]["South Asia"]
    units = [[votes["asha"][i]["pair_valid"], votes["ravi"][i]["pair_valid"]] for i in range(4)]
    assert south["items"] == 4 and south["alpha"] == pytest.approx(krippendorff_alpha(units))
    assert south["cohen_mean"] == pytest.approx(cohen_kappa_score([u[0] for u in units], [u[1] for u in units]))
    low, high = south["alpha_ci"]
    assert low <= high
    assert "safety.privacy_violation" in south["domains"] and south["domains"]["safety.privacy_violation"]["items"] == 1
    [divergence] = result["divergence"]
    # South Asia yes-shares 1, .5, 0, 1; Western Europe 0, 1, 0, .5: mean |difference| = (1+.5+0+.5)/4
    assert divergence["pairs"] == 4 and divergence["mean_abs_difference"] == pytest.approx(0.5)
    # verdicts: SA accept/split/reject/accept vs WE reject/accept/reject/split: 3 of 4 differ
    assert divergence["verdicts_differ"] == pytest.approx(0.75)


def test_review_from_the_cli(panels, cli):
    store, pairs = panels
    assert cli("review", "panel", "add", "East Africa", "--min-submissions", "2").exit_code == 0
    result = cli("review", "annotator", "add", "amani", "--panel", "East Africa", "--locale", "sw-KE",
                 "--gender", "female")
    assert result.exit_code == 0, result.stderr
    assert "amani" in cli("review", "panel", "list").stdout
    queued = cli("review", "queue", "--panel", "East Africa")
    assert queued.exit_code == 0 and "4 kept" in queued.stdout
    status = cli("review", "status")
    assert "East Africa" in status.stdout and "borderline" in status.stdout
    bad = cli("review", "annotator", "add", "x", "--panel", "Atlantis")
    assert bad.exit_code == 1 and "no panel named 'Atlantis'" in bad.stderr
    bad = cli("review", "adjudicate", pairs[0], "--status", "maybe", "--by", "me")
    assert bad.exit_code == 1 and "human_accepted or human_rejected" in bad.stderr
    assert cli("review", "agreement").exit_code == 0


def test_adding_an_existing_annotator_never_changes_them_and_edit_does_only_what_it_is_told(panels, cli):
    store, _ = panels
    before = store.annotators()
    clash = cli("review", "annotator", "add", "asha", "--panel", "Western Europe", "--culture", "FR")
    assert clash.exit_code == 1 and clash.stderr.splitlines() == [
        "error: an annotator named 'asha' already exists with other attributes (argilla_username, culture, "
        "age_band); change them with 'misalign review annotator edit', or choose another name"]
    assert store.annotators() == before and [a["name"] for a in store.annotators("Western Europe")] == ["lena", "marc"]
    edited = cli("review", "annotator", "edit", "asha", "--panel", "Western Europe", "--culture", "FR", "--age-band", "")
    assert edited.exit_code == 0, edited.stderr
    [asha] = [a for a in store.annotators() if a["name"] == "asha"]
    assert (asha["culture"], asha["age_band"], asha["created_at"]) == ("FR", None, before[0]["created_at"])
    assert "asha" in [a["name"] for a in store.annotators("Western Europe")]
    assert cli("review", "annotator", "edit", "nobody", "--culture", "FR").exit_code == 1


def test_an_older_answer_never_replaces_a_newer_one_whatever_brings_it(panels):
    store, pairs = panels
    build_queues(store, options=QueueOptions("South Asia", queues=("borderline",)))
    [item] = [i for i in store.review_items(panel="South Asia") if i["pair_id"] == pairs[0]]
    answer = {"pair_valid": "no", "aligned_acceptable": "yes", "misaligned_dimensions": ["culture"]}
    submit(store, item["id"], "asha", answer, submitted_at="2026-12-01T10:00:00+00:00")
    older = {"item_id": item["id"], "annotator": "asha", "pair_valid": "yes", "backend": "argilla",
             "submitted_at": "2026-12-01T09:59:59+00:00", "is_example": 0}
    with store.transaction():
        assert store.save_annotations([older], newer_only=True) == 0
        assert store.save_annotations([{**older, "submitted_at": "2026-12-01T10:00:00+00:00"}], newer_only=True) == 0
    [kept] = store.annotations("South Asia")
    assert (kept["pair_valid"], kept["backend"], kept["submitted_at"]) == ("no", "app", "2026-12-01T10:00:00+00:00")
    submit(store, item["id"], "asha", {**answer, "pair_valid": "yes"})  # answering again now replaces it
    assert store.annotations("South Asia")[0]["pair_valid"] == "yes"


def test_panels_that_would_share_an_argilla_workspace_are_refused(panels, cli):
    store, _ = panels
    before = store.panels()
    for name in ("south asia", "South-Asia!"):
        result = cli("review", "panel", "add", name)
        assert result.exit_code == 1 and result.stderr.splitlines() == [
            f"error: panel '{name}' would share the Argilla workspace 'south-asia' with panel 'South Asia'; "
            "choose a name that differs in more than case and punctuation"]
    assert store.panels() == before
    assert cli("review", "panel", "add", "South Asia", "--min-submissions", "3").exit_code == 0  # itself: an update


def test_a_replaced_answer_and_an_edited_annotator_are_kept_in_their_history(panels, cli):
    store, pairs = panels
    build_queues(store, options=QueueOptions("South Asia", queues=("borderline",)))
    [item] = [i for i in store.review_items(panel="South Asia") if i["pair_id"] == pairs[0]]
    first = {"pair_valid": "no", "aligned_acceptable": "yes", "misaligned_dimensions": ["culture"], "comment": "rude"}
    submit(store, item["id"], "asha", first, submitted_at="2026-12-01T10:00:00+00:00")
    submit(store, item["id"], "asha", {**first, "pair_valid": "yes", "comment": "fine after all"}, backend="argilla",
           submitted_at="2026-12-01T11:00:00+00:00")
    [replaced] = store.pair_context([pairs[0]])[pairs[0]]["replaced"]
    assert (replaced["annotator"], replaced["pair_valid"], replaced["comment"], replaced["backend"],
            replaced["submitted_at"], replaced["replaced_by"]) == (
        "asha", "no", "rude", "app", "2026-12-01T10:00:00+00:00", "argilla")
    [now] = store.pair_context([pairs[0]])[pairs[0]]["answers"]
    assert (now["pair_valid"], now["backend"]) == ("yes", "argilla")
    assert cli("review", "annotator", "edit", "asha", "--culture", "FR").exit_code == 0
    [(annotator, culture)] = store.db.execute("SELECT annotator, culture FROM annotator_history").fetchall()
    assert (annotator, culture) == ("asha", "IN")
