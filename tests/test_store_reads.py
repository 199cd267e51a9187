"""The store's reads, each checked on the demo store against the same figure computed independently with
pandas from the raw tables: those behind the app's pages (``review_store.APP_READS``) and those the
stages read pairs, labels and prompts with."""

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from review_store import APP_READS, Store


@pytest.fixture(scope="module")
def demo(demo_run):
    db, _ = demo_run
    raw = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    tables = {name: pd.read_sql(f"SELECT * FROM {name}", raw) for name in (
        "prompts", "labels", "labelers", "semantic_types", "pairs", "candidates", "bench_runs", "bench_results",
        "review_items", "judgments", "prompt_sources", "annotations", "exports")}
    raw.close()
    with Store(db, read_only=True) as store:
        yield store, tables


def _labels(tables, labeler: str) -> pd.DataFrame:
    ids = tables["labelers"].set_index("name")["id"]
    return tables["labels"][tables["labels"]["labeler_id"] == ids[labeler]]


def _busiest_domain(tables, labeler: str) -> str:
    labels = _labels(tables, labeler)
    return labels[~labels["domain"].isin(["none", "unknown"])]["domain"].value_counts().index[0]


def test_every_app_read_no_other_test_calls_is_checked_here():
    checked = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    untested_elsewhere = {"domain_probability_histogram", "domain_semantic_types", "domain_prompts", "domain_pairs",
                          "pairs_by_ids", "pair_bench_flags", "overview", "pair_labelers"}
    assert untested_elsewhere <= checked and untested_elsewhere <= {f.__name__ for f in APP_READS}


def test_domain_prompts(demo):
    store, tables = demo
    labeler = "imported:demo"
    domain = _busiest_domain(tables, labeler)
    kept = tables["prompts"][tables["prompts"]["is_canonical"].isna() | (tables["prompts"]["is_canonical"] == 1)]
    expected = _labels(tables, labeler).query("domain == @domain").merge(kept, left_on="prompt_id", right_on="id")
    expected = expected.sort_values(["probability", "seq"])
    page = store.domain_prompts(labeler, domain, limit=3)
    assert page["total"] == len(expected)
    assert [p["id"] for p in page["prompts"]] == expected["id"].head(3).tolist()
    assert [p["text"] for p in page["prompts"]] == expected["text"].head(3).tolist()  # byte for byte
    zero_shot = next(n for n in tables["labelers"]["name"] if n.startswith("embed:"))
    unsure = store.domain_prompts(zero_shot, _busiest_domain(tables, zero_shot), below=0.6, limit=1000)
    assert all(p["probability"] < 0.6 for p in unsure["prompts"]) and unsure["total"] == len(unsure["prompts"])


def test_domain_pairs(demo):
    store, tables = demo
    labeler = "imported:demo"
    domain = _busiest_domain(tables, labeler)
    prompts = set(_labels(tables, labeler).query("domain == @domain")["prompt_id"])
    expected = tables["pairs"][tables["pairs"]["prompt_id"].isin(prompts) & (tables["pairs"]["labeler"] == labeler)]
    listed = store.domain_pairs(labeler, domain, limit=1000)
    assert [p["id"] for p in listed] == expected.sort_values("prompt_id")["id"].tolist()
    assert [p["id"] for p in store.domain_pairs(labeler, domain, offset=1, limit=2)] == [p["id"] for p in listed[1:3]]
    texts = tables["candidates"].set_index("id")["text"]
    for pair in listed:
        row = expected.set_index("id").loc[pair["id"]]
        assert pair["status"] == row["status"]
        assert pair["aligned"] == (texts[row["aligned_id"]] if pd.notna(row["aligned_id"]) else None)


def test_pairs_by_ids(demo):
    store, tables = demo
    wanted = tables["pairs"]["id"].sample(5, random_state=0).tolist()
    assert [p["id"] for p in store.pairs_by_ids(wanted)] == sorted(wanted)
    assert len(store.pairs_by_ids(wanted, limit=2)) == 2 and store.pairs_by_ids(["no-such-pair"]) == []


def test_domain_semantic_types(demo):
    store, tables = demo
    labeler = "imported:demo"
    domain = _busiest_domain(tables, labeler)
    prompts = _labels(tables, labeler).query("domain == @domain")[["prompt_id"]]
    types = tables["semantic_types"].sort_values(["prompt_id", "probability", "type"], ascending=[True, False, True])
    top = types.drop_duplicates("prompt_id")[["prompt_id", "type"]]
    expected = prompts.merge(top, on="prompt_id", how="left")["type"].fillna("unknown").value_counts().to_dict()
    assert store.domain_semantic_types(labeler, domain) == expected
    assert sum(expected.values()) == len(prompts)


def test_domain_probability_histogram(demo):
    store, tables = demo
    zero_shot = next(n for n in tables["labelers"]["name"] if n.startswith("embed:"))
    domain = _busiest_domain(tables, zero_shot)
    dimension = next(d for d, order in json.loads(tables["labelers"].set_index("name").loc[zero_shot, "domains"]).items()
                     if domain in order)
    _, domains, matrix = store.label_distributions(zero_shot, dimension)
    probabilities = matrix[:, domains.index(domain)]
    probabilities = probabilities[probabilities >= 0.01]
    counts, edges = np.histogram(probabilities, bins=20, range=(0, 1))  # numpy's bins: the last one closed
    expected = {round(float(e), 2): int(n) for e, n in zip(edges[:-1], counts) if n}
    assert store.domain_probability_histogram(zero_shot, domain) == expected
    assert sum(expected.values()) == len(probabilities) > 0


def test_pair_bench_flags(demo):
    store, tables = demo
    runs = tables["bench_runs"].query("engine == 'embedded'")
    group = runs["group_id"].iloc[0]
    first = runs[runs["run_index"] == runs["run_index"].min()]["id"].iloc[0]
    results = tables["bench_results"][tables["bench_results"]["run_id"] == first]
    pairs = results["pair_id"].drop_duplicates().head(6).tolist()
    flags = store.pair_bench_flags(group, pairs)
    for r in results[results["pair_id"].isin(pairs)].itertuples():
        assert flags[r.pair_id][r.slot] == (json.loads(r.dimensions) if r.usable else None)
    assert store.pair_bench_flags("no-such-benchmark", pairs) == {}


def test_overview(demo):
    store, tables = demo
    overview = store.overview()
    assert overview["prompts"]["total"] == len(tables["prompts"])
    pairs = tables["pairs"]
    assert overview["pairs"]["by_status"] == pairs["status"].value_counts().to_dict()
    assert overview["pairs"]["total"] == len(pairs) and overview["pairs"]["audit_sample"] == pairs["audit"].sum()
    assert overview["review"]["example_answers"] > 0  # the demo's answers are example annotators'
    assert set(overview["labels"]) == set(_labels_with_rows(tables))


def _labels_with_rows(tables) -> list[str]:
    used = set(tables["labels"]["labeler_id"])
    return tables["labelers"][tables["labelers"]["id"].isin(used)]["name"].tolist()


def test_pair_labelers(demo):
    store, tables = demo
    assert store.pair_labelers() == sorted(tables["pairs"]["labeler"].dropna().unique().tolist()) == ["imported:demo"]


def _some_pairs(tables, n: int = 8) -> list[str]:
    return tables["pairs"]["id"].sample(n, random_state=1).tolist()


def test_known_pairs(demo):
    store, tables = demo
    wanted = _some_pairs(tables)
    assert store.known_pairs(wanted + ["no-such-pair"]) == set(wanted)


def test_pair_kinds(demo):
    store, tables = demo
    kinds = tables["pairs"].merge(tables["candidates"], left_on="misaligned_id", right_on="id", suffixes=("", "_m"))
    kinds = kinds[kinds["kind"].notna()].set_index("id")["kind"].to_dict()
    assert kinds and store.pair_kinds(list(tables["pairs"]["id"])) == kinds


def test_pair_judge_scores(demo):
    store, tables = demo
    wanted = _some_pairs(tables)
    pairs = tables["pairs"].set_index("id").loc[wanted]
    judged = tables["judgments"].query("stage == 2")
    scores = store.pair_judge_scores(wanted)
    for pair_id, row in pairs.iterrows():
        for slot in ("aligned", "misaligned"):
            candidate = row[f"{slot}_id"]
            mine = judged[(judged["candidate_id"] == candidate) & (judged["judge"] == row["judge"])]
            if pd.isna(candidate) or mine.empty:
                assert slot not in scores.get(pair_id, {})
            else:
                assert scores[pair_id][slot] == pytest.approx(mine["probability"].iloc[0])


def test_pairs_with_human_status_and_human_decided_pairs(demo):
    store, tables = demo
    pairs = tables["pairs"]
    for status in ("human_accepted", "human_rejected", "needs_adjudication"):
        listed = store.pairs_with_human_status(status)
        assert sorted(p["id"] for p in listed) == sorted(pairs[pairs["human_status"] == status]["id"])
    decided = pairs[pairs["human_status"].isin(["human_accepted", "human_rejected"])].sort_values("id")
    assert [p["id"] for p in store.human_decided_pairs()] == decided["id"].tolist()


def test_candidates_of_and_judgments_of(demo):
    store, tables = demo
    prompt = tables["pairs"]["prompt_id"].iloc[0]
    mine = tables["candidates"][tables["candidates"]["prompt_id"] == prompt]
    listed = store.candidates_of([prompt])
    assert sorted(c["id"] for c in listed) == sorted(mine["id"]) and all(c["text"] for c in listed)
    judged = tables["judgments"][tables["judgments"]["candidate_id"].isin(mine["id"])]
    assert len(store.judgments_of(list(mine["id"]))) == len(judged)


def test_prompts_by_id_and_source_names(demo):
    store, tables = demo
    chosen = tables["prompts"].sample(4, random_state=2)
    listed = store.prompts_by_id(list(chosen["id"]) + ["no-such-prompt"])
    assert [p["id"] for p in listed] == chosen.sort_values("seq")["id"].tolist()
    assert [p["text"] for p in listed] == chosen.sort_values("seq")["text"].tolist()
    assert store.source_names() == sorted(tables["prompt_sources"]["source"].unique())


def test_assigned_domains_and_has_labels(demo):
    store, tables = demo
    labeler = "imported:demo"
    labels = _labels(tables, labeler)
    real = labels[~labels["domain"].isin(["none", "unknown"])]
    prompts = real["prompt_id"].drop_duplicates().head(5).tolist()
    found = store.assigned_domains(prompts, labeler)
    for prompt in prompts:
        assert sorted(d for _, d, _ in found[prompt]) == sorted(real[real["prompt_id"] == prompt]["domain"])
    assert store.has_labels(labeler) and not store.has_labels("no-such-labeler")


def test_kept_prompt_ids(demo):
    store, tables = demo
    prompts = tables["prompts"]
    kept = prompts[prompts["is_canonical"].isna() | (prompts["is_canonical"] == 1)]
    assert store.kept_prompt_ids() == set(kept["id"]) and len(kept) < len(prompts)  # the planted near-duplicates


def test_incomplete_pairs(demo):
    store, tables = demo
    pairs = tables["pairs"]
    empty = pairs[pairs["aligned_id"].isna() | pairs["misaligned_id"].isna()].sort_values("id")
    assert [p["id"] for p in store.incomplete_pairs("all")] == empty["id"].tolist()


def test_pair_votes(demo):
    store, tables = demo
    answers = tables["annotations"].merge(tables["review_items"], left_on="item_id", right_on="id")
    answers = answers[answers["pair_valid"].notna()]
    expected = answers.groupby(["pair_id", "pair_valid"]).size().unstack(fill_value=0)
    votes = store.pair_votes()
    assert set(votes) == set(expected.index)
    for pair_id, row in expected.iterrows():
        assert {k: v for k, v in votes[pair_id].items() if v} == {k: int(v) for k, v in row.items() if v}


def test_export_at(demo):
    store, tables = demo
    out = tables["exports"]["out"].iloc[0]
    assert store.export_at(out) and not store.export_at(out + "-elsewhere")
