"""The store's reads behind the app's pages (``review_store.APP_READS``), each checked on the demo store
against the same figure computed independently with pandas from the raw tables."""

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
        "review_items")}
    raw.close()
    with Store(db, read_only=True) as store:
        yield store, tables


def _labels(tables, labeler: str) -> pd.DataFrame:
    ids = tables["labelers"].set_index("name")["id"]
    return tables["labels"][tables["labels"]["labeler_id"] == ids[labeler]]


def _busiest_domain(tables, labeler: str) -> str:
    labels = _labels(tables, labeler)
    return labels[~labels["domain"].isin(["none", "unknown"])]["domain"].value_counts().index[0]


def test_every_app_read_is_checked_here():
    checked = {name.removeprefix("test_").split("__")[0] for name in globals() if name.startswith("test_")}
    untested_elsewhere = {"domain_probability_histogram", "domain_semantic_types", "domain_prompts", "domain_pairs",
                          "pairs_by_ids", "pair_bench_flags", "overview", "pair_labelers"}
    assert untested_elsewhere <= checked <= {f.__name__ for f in APP_READS} | {"every_app_read_is_checked_here"}


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
