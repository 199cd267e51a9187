"""The dedup stage on a real store: canonical choice, audit, incremental runs, scopes, the CLI."""

import json

import pytest

from pipeline.stages.dedup import DedupOptions, dedup
from review_store import prompt_id
from tests.conftest import snapshot

BASE = ("Write a detailed guide for visitors to the old harbour museum covering opening hours, ticket prices, "
        "guided tours, accessibility for wheelchair users, the maritime history exhibits and the cafe menu")
NEAR = BASE.replace("cafe menu", "gift shop")
FAR = ("Explain how traditional terrace farming shapes the cultural landscape of mountain villages and what "
       "tourists should respect when they walk the irrigation channels during the harvest season")


def add(store, text, origin="seed", parent=None, labels=(), unassigned=()):
    pid = prompt_id(text)
    with store.transaction():
        store.add_prompts([{"id": pid, "text": text, "origin": origin, "parent_id": parent}], created_at="t")
        store.add_labeler({"name": "test", "domains": {"culture": ["culture.museums", "culture.culinary_arts", "none"]}})
        store.add_labels([{"prompt_id": pid, "dimension": d.split(".")[0], "domain": d, "probability": 1.0,
                           "labeler": "test"} for d in labels])
        store.add_label_distributions([{"prompt_id": pid, "dimension": "culture", "labeler": "test",
                                        "probabilities": {d: 1.0 for d in labels} | {d: 0.2 for d in unassigned}}]
                                      if unassigned else [])
    return pid


def kept_and_removed(store):
    rows = store.db.query("SELECT id, is_canonical FROM prompts")
    kept = {r["id"] for r in rows if r["is_canonical"] == 1}
    return kept, {r["removed_id"]: r["kept_id"] for r in store.dedup_audit(limit=None)}


def test_a_near_duplicate_is_removed_in_favour_of_the_earlier_seed_prompt(store):
    base, near, far = add(store, BASE), add(store, NEAR), add(store, FAR)
    report = dedup(store)
    kept, removed = kept_and_removed(store)
    assert kept == {base, far}
    assert removed == {near: base}
    [audit] = store.dedup_audit()
    assert 0 < audit["distance"] <= 10 and audit["nearest_id"] == base
    assert audit["removed_text"] == NEAR and audit["kept_text"] == BASE
    assert report.dropped == {"near_duplicate": 1}


def test_seed_prompts_win_over_expanded_ones_even_when_later(store):
    expanded = add(store, BASE, origin="expanded")
    seed = add(store, NEAR)
    dedup(store)
    assert kept_and_removed(store)[1] == {expanded: seed}


def test_a_second_run_changes_nothing(store, db_path):
    add(store, BASE), add(store, NEAR), add(store, FAR)
    dedup(store)
    before = snapshot(db_path)
    report = dedup(store)
    assert report.items_in == 0 and report.notes.fingerprinted == 0
    after = snapshot(db_path)
    assert {t: r for t, r in after.items() if t not in ("stage_runs", "meta")} == \
           {t: r for t, r in before.items() if t not in ("stage_runs", "meta")}


def test_new_prompts_are_checked_against_what_is_kept(store):
    base = add(store, BASE, origin="expanded")
    far = add(store, FAR)
    dedup(store)
    near_far = add(store, FAR.replace("harvest season", "rainy season"))
    seed_near = add(store, NEAR)  # a seed prompt: it displaces the expanded one kept before
    report = dedup(store)
    assert report.items_in == 2 and report.notes.fingerprinted == 2
    assert report.notes.previously_kept_now_removed == 1
    kept, removed = kept_and_removed(store)
    assert kept == {far, seed_near}
    assert removed == {near_far: far, base: seed_near}


def test_members_follow_their_canonical_prompt_when_it_is_displaced(store):
    base = add(store, BASE, origin="expanded")
    member = add(store, BASE.replace("wheelchair users", "wheelchairs"), origin="expanded")
    dedup(store)
    assert kept_and_removed(store)[1] == {member: base}
    seed = add(store, NEAR)  # displaces the expanded canonical prompt: its cluster moves with it
    dedup(store)
    clusters = {r["id"]: r["cluster_id"] for r in store.db.query("SELECT id, cluster_id FROM prompts")}
    assert clusters == {base: seed, member: seed, seed: seed}


def test_domain_scope_merges_only_prompts_that_share_a_domain(store):
    add(store, BASE, labels=["culture.museums"])
    add(store, NEAR, labels=["culture.culinary_arts"])
    dedup(store, options=DedupOptions(scope="domain"))
    assert kept_and_removed(store)[1] == {}
    dedup(store, options=DedupOptions(scope="global"))  # changing the scope rebuilds
    assert len(kept_and_removed(store)[1]) == 1


def test_domain_scope_counts_assigned_domains_only(store):
    # a model labelling model stores small probabilities for other domains; they must not link prompts
    add(store, BASE, labels=["culture.museums"], unassigned=["culture.culinary_arts"])
    add(store, NEAR, labels=["culture.culinary_arts"], unassigned=["culture.museums"])
    dedup(store, options=DedupOptions(scope="domain"))
    assert kept_and_removed(store)[1] == {}
    assert store.dedup_counts()["domains"]["culture.museums"] == {"before": 1, "after": 1}


def test_short_prompts_are_never_merged(store):
    add(store, "Hi there!"), add(store, "Hi there?!"), add(store, "hi there")
    report = dedup(store)
    assert report.notes.too_short_exact_only == 3
    assert kept_and_removed(store)[1] == {}


def test_status_json_shows_the_audit_and_domain_counts_before_and_after(cli, store):
    add(store, BASE, labels=["culture.museums"]), add(store, NEAR, labels=["culture.museums"])
    add(store, FAR, labels=["culture.cultural_landscapes"])
    result = cli("dedup", "--tau", "10")
    assert result.exit_code == 0, result.stderr
    assert "1 dropped (near_duplicate: 1)" in result.stdout
    figures = json.loads(cli("status", "--json").stdout)["dedup"]
    assert figures["kept"] == 2 and figures["removed"] == 1 and figures["params"]["tau"] == 10
    assert figures["domains"]["culture.museums"] == {"before": 2, "after": 1}
    assert figures["domains"]["culture.cultural_landscapes"] == {"before": 1, "after": 1}
    assert [a["removed_id"] for a in figures["audit"]] == [prompt_id(NEAR)]


@pytest.mark.parametrize("args, message", [
    (["--scope", "planet"], "--scope: must be one of global, domain"),
    (["--tau", "64"], "--tau: must be between 0 and 63"),
    (["--features", "sentences"], "unknown kind 'sentences'"),
    (["--bits", "12"], "multiple of 8"),
])
def test_bad_dedup_options_are_refused_and_change_nothing(cli, store, db_path, args, message):
    add(store, BASE), add(store, NEAR)
    before = snapshot(db_path)
    result = cli("dedup", *args)
    assert result.exit_code == 1 and message in result.stderr
    assert snapshot(db_path) == before
