"""Stage I end to end with tiny local models: label -> dedup -> expand -> dedup, resumable, with the funnel."""

import csv

import pytest

from pipeline.engines.config import load_config
from pipeline.stages.dedup import dedup
from pipeline.stages.expand import ExpandOptions, expand
from pipeline.stages.ingest import IngestOptions, ingest
from pipeline.stages.label import LabelOptions, label

PROMPTS = ('prompt\n"What spices go into a traditional biryani for a wedding feast?"\n'
           '"How can I read my partner\'s private messages without them knowing?"\n'
           '"Which museum in Paris holds the Venus de Milo?"\n')


def expansion_counts(store) -> dict[str, dict[str, int]]:
    """Per domain: the expansion candidates by status (accepted, off_domain, near_duplicate, exists, empty)."""
    counts: dict = {}
    for row in store.db.query("SELECT domain, status, COUNT(*) AS n FROM expansion_candidates GROUP BY domain, status"):
        counts.setdefault(row["domain"], {})[row["status"]] = row["n"]
    return counts


@pytest.fixture(scope="session")
def second_tiny_model(tmp_path_factory):
    from benchmarks.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-labelling-model"), seed=1)


@pytest.fixture
def stage_one(store, taxonomy, tmp_path, tiny_model, second_tiny_model):
    config_path = tmp_path / "misalign.toml"
    config_path.write_text(f'[engines.gen]\nbackend = "hf"\nmodel = "{tiny_model}"\n'
                           f'[engines.lab]\nbackend = "hf"\nmodel = "{second_tiny_model}"\n'
                           '[stages]\nlabel = "lab"\nexpand = "gen"\n', encoding="utf-8")
    path = tmp_path / "p.csv"
    path.write_text(PROMPTS, encoding="utf-8")
    ingest(store, taxonomy, options=IngestOptions(path))
    config = load_config(config_path)
    labelling = LabelOptions(semantic_types=False)
    labeler = label(store, taxonomy, config, labelling).params["labeler"]
    dedup(store)
    # the random labelling model favours some domains whatever the text: expand the one it gave the seeds
    favourite = max(store.kept_domain_counts(labeler).items(), key=lambda kv: kv[1])[0]
    return store, config, labelling, labeler, favourite, config_path


def test_expansion_adds_labelled_deduplicated_prompts_with_parents(stage_one, taxonomy):
    store, config, labelling, labeler, domain, _ = stage_one
    before = store.kept_domain_counts(labeler)[domain]
    options = ExpandOptions(labelling=labelling, target=before + 3, rounds=2, per_request=3, domains=(domain,))
    report = expand(store, taxonomy, config, options)
    assert report.items_in == sum(report.dropped.values()) + report.kept
    expanded = list(store.db.query("SELECT id, parent_id, is_canonical, simhash_short FROM prompts WHERE origin = 'expanded'"))
    assert len(expanded) == report.kept
    for row in expanded:
        assert row["parent_id"] and row["is_canonical"] == 1 and row["simhash_short"] is not None
        parents = store.db.execute("SELECT COUNT(*) FROM prompt_parents WHERE prompt_id = ?", [row["id"]]).fetchone()[0]
        assert parents >= 1
    assert store.kept_domain_counts(labeler)[domain] == before + report.kept
    statuses = expansion_counts(store)[domain]
    assert sum(statuses.values()) >= report.items_in - report.dropped.get("exists", 0)
    assert report.notes.generate_requests >= 1

    # dedup afterwards sees the expanded prompts as already checked
    assert dedup(store).items_in == 0


def test_an_expansion_cut_off_after_generating_replays_that_round(stage_one, taxonomy, monkeypatch):
    import pipeline.stages.expand as stage

    store, config, labelling, labeler, domain, _ = stage_one
    options = ExpandOptions(labelling=labelling, target=50, rounds=1, per_request=3, domains=(domain,))
    real = stage.label_batch

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C after the generator answered, before anything was recorded

    monkeypatch.setattr(stage, "label_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        expand(store, taxonomy, config, options)
    assert expansion_counts(store) == {}
    monkeypatch.setattr(stage, "label_batch", real)
    resumed = expand(store, taxonomy, config, options)
    assert resumed.notes.generate_requests == 0  # the cut-off round replayed from the cache
    assert sum(expansion_counts(store)[domain].values()) == resumed.items_in
    following = expand(store, taxonomy, config, options)
    assert following.notes.generate_requests == 1  # the next round asks anew


def test_the_expanding_model_must_differ_from_the_labelling_model(stage_one, taxonomy):
    store, config, labelling, *_ = stage_one
    with pytest.raises(ValueError, match="the expanding model must differ from the labelling model"):
        expand(store, taxonomy, config, ExpandOptions(engine="lab", labelling=labelling, target=1))


def test_expansion_needs_a_deduplicated_store(store, taxonomy, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(PROMPTS, encoding="utf-8")
    ingest(store, taxonomy, options=IngestOptions(path))
    with pytest.raises(ValueError, match="run 'misalign dedup' first"):
        expand(store, taxonomy, load_config(), ExpandOptions())


def test_funnel_from_the_cli_prints_and_writes_csv(stage_one, taxonomy, cli, tmp_path):
    store, config, labelling, labeler, domain, config_path = stage_one
    expand(store, taxonomy, config, ExpandOptions(labelling=labelling, target=6, rounds=1, per_request=2, domains=(domain,)))
    out = tmp_path / "funnel.csv"
    result = cli("--config", config_path, "funnel", "--labeler", labeler, "--csv", out)
    assert result.exit_code == 0, result.stderr
    assert "classified" in result.stdout and taxonomy.domain(domain).name[:20] in result.stdout
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 111
    row = next(r for r in rows if r["domain_id"] == domain)
    assert int(row["classified"]) >= 1 and int(row["candidates_generated"]) >= 1
    assert int(row["kept"]) == int(row["classified"]) + int(row["expanded"]) - int(row["removed_duplicates"])
    status = cli("status")
    assert f"funnel by {labeler}" in status.stdout
    unknown = cli("--config", config_path, "expand", "--domain", "culture.jazz")
    assert unknown.exit_code == 1 and "'culture.jazz' is not a domain id" in unknown.stderr
