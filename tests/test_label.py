"""The label stage on a real store with real engines: the packaged MiniLM and the tiny local Llama."""

import json

import pytest

from pipeline.engines.config import load_config
from pipeline.stages.ingest import IngestOptions, ingest
from pipeline.stages.label import LabelOptions, label
from pipeline.stages.label_agreement import label_agreement
from tests.conftest import Corrupting, StopsAfterBatches

PROMPTS = ("prompt,safety,value,culture\n"
           '"What spices go into a traditional biryani for a wedding feast?",None,Enjoyment of leisure,Culinary Arts\n'
           '"How can I read my partner\'s private messages without them knowing?",Privacy violation,Honesty,Social Networks\n'
           '"Which museum in Paris holds the Venus de Milo?",None,Beauty,Museums\n'
           '"Write a poem mocking people who speak with a regional accent.",Hate speech/offensive language,Broad-minded tolerance,Language\n')
REFERENCE = "imported:p.csv"


@pytest.fixture
def prompts_store(store, taxonomy, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(PROMPTS, encoding="utf-8")
    ingest(store, taxonomy, options=IngestOptions(path, label_columns={"safety": "safety", "value": "value", "culture": "culture"}))
    return store


@pytest.fixture
def tiny_config(tmp_path, tiny_model):
    path = tmp_path / "misalign.toml"
    path.write_text(f'[engines.tiny]\nbackend = "hf"\nmodel = "{tiny_model}"\nbatch_size = 64\n', encoding="utf-8")
    return load_config(path)


def assigned(store, labeler):
    result = {}
    for prompt_id, dimension, domain, _ in store.assigned_labels(labeler):
        result.setdefault((prompt_id, dimension), set()).add(domain)
    return result


def test_embed_labelling_assigns_one_domain_or_none_per_dimension_and_a_type(prompts_store, taxonomy, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    report = label(prompts_store, taxonomy, load_config())
    assert report.items_in == 4
    name = report.params["labeler"]
    labels = assigned(prompts_store, name)
    assert len(labels) == 12 and all(len(domains) == 1 for domains in labels.values())
    biryani = next(pid for (pid, dim), d in labels.items() if dim == "culture" and d == {"culture.culinary_arts"})
    assert biryani
    types = prompts_store.semantic_type_counts()[name]
    assert sum(types.values()) == 4
    provenance = prompts_store.labeler(name)
    assert provenance["backend"] == "embed" and provenance["taxonomy_version"] == taxonomy.version
    assert len(provenance["template_hash"]) == 24 and provenance["mode"] == "softmax"

    again = label(prompts_store, taxonomy, load_config())
    assert again.items_in == 0 and again.notes.engine_requests == 0


def test_llm_labelling_in_both_modes_with_the_tiny_model(prompts_store, taxonomy, tiny_config):
    softmax = label(prompts_store, taxonomy, tiny_config, LabelOptions(engine="tiny", semantic_types=False))
    independent = label(prompts_store, taxonomy, tiny_config, LabelOptions(engine="tiny", mode="independent",
                                                                           delta=0.5))
    for report in (softmax, independent):
        labels = assigned(prompts_store, report.params["labeler"])
        assert len({pid for pid, _ in labels}) == 4
    prompt_ids, domains, probabilities = prompts_store.label_distributions(independent.params["labeler"], "value")
    assert len(prompt_ids) == 4 and len(domains) == len(taxonomy.domains_of("value")) + 1
    assert (probabilities[:, :-1] > 0).all()  # a yes/no probability per domain
    assert independent.notes.engine_requests >= 4 * 111


def test_a_shortlist_asks_the_llm_about_k_domains_only(prompts_store, taxonomy, tiny_config):
    report = label(prompts_store, taxonomy, tiny_config,
                   LabelOptions(engine="tiny", shortlist=3, labeler="tiny-top3", semantic_types=False))
    for dimension in ("safety", "value", "culture"):
        _, _, probabilities = prompts_store.label_distributions("tiny-top3", dimension)
        assert ((probabilities > 0).sum(axis=1) <= 4).all()  # 3 shortlisted domains + None
    assert report.items_in == 4


def test_unusable_answers_become_unknown_with_the_raw_answer_kept(prompts_store, taxonomy):
    from pipeline.engines.embed import EmbedEngine

    real = EmbedEngine()
    # requests go prompt by prompt: safety, value, culture, semantic type
    breakages = ["ok"] * 16
    breakages[0], breakages[6], breakages[11], breakages[13] = "missing", "nan", "empty", "unknown label"
    config = load_config().opening_with(lambda settings: Corrupting(real, breakages))
    report = label(prompts_store, taxonomy, config, LabelOptions(labeler="corrupted"))
    assert report.notes.unusable_answers == {"safety": 1, "culture": 1, "type": 1, "value": 1}
    assert (report.items_in, report.kept, report.dropped) == (4, 4, {})  # each prompt labelled, "unknown" there
    counts = prompts_store.label_counts()["corrupted"]
    assert (counts["safety"]["unknown"], counts["value"]["unknown"], counts["culture"]["unknown"]) == (1, 1, 1)
    failures = {f["dimension"]: f for f in prompts_store.db.query("SELECT * FROM label_failures WHERE labeler = 'corrupted'")}
    assert set(failures) == {"safety", "value", "culture"}
    assert "Jaywalking" in failures["value"]["raw"] and "NaN" in failures["culture"]["raw"]
    assert all(f["reason"] == "unusable_answer" for f in failures.values())


def test_an_interrupted_labelling_run_resumes_where_it_stopped(prompts_store, taxonomy, tiny_config):
    from pipeline.engines.config import open_configured

    options = LabelOptions(engine="tiny", batch_prompts=2, semantic_types=False)
    stopping = tiny_config.opening_with(lambda settings: StopsAfterBatches(open_configured(settings), 1))
    with pytest.raises(KeyboardInterrupt):
        label(prompts_store, taxonomy, stopping, options)
    name = "hf:" + str(tiny_config.engine("tiny").model).rsplit("/", 1)[-1] + ":softmax"
    assert len({pid for pid, _ in assigned(prompts_store, name)}) == 2
    resumed = label(prompts_store, taxonomy, tiny_config, options)
    assert resumed.items_in == 2 and resumed.notes.engine_requests == 2 * 3
    assert len({pid for pid, _ in assigned(prompts_store, name)}) == 4


def test_agreement_against_imported_labels_is_computed_per_dimension(prompts_store, taxonomy, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    name = label(prompts_store, taxonomy, load_config()).params["labeler"]
    report = label_agreement(prompts_store, name, REFERENCE, taxonomy, 0.5)
    assert report["culture"]["n"] == 4 and 0 <= report["culture"]["accuracy"] <= 1
    itself = label_agreement(prompts_store, REFERENCE, REFERENCE, taxonomy, 0.5)["value"]
    # imported labels: probability 1 and right, so ECE 0 and nothing to gain from choosing
    assert {k: itself[k] for k in ("n", "accuracy", "macro_f1", "top1_real", "ece", "reference_none",
                                   "predicted_none", "aurc", "confusions", "left_out")} == {
        "n": 4, "accuracy": 1.0, "macro_f1": 1.0, "top1_real": 1.0, "ece": 0.0, "reference_none": 0.0,
        "predicted_none": 0.0, "aurc": 0.0, "confusions": [], "left_out": {}}
    assert itself["at_delta"]["accuracy"] == 1.0


def test_label_cli_with_agreement_and_guards(prompts_store, cli, taxonomy):
    result = cli("label", "--evaluate-against", REFERENCE, "--json")
    assert result.exit_code == 0, result.stderr
    agreement = json.loads(result.stdout)
    assert set(agreement) == {"safety", "value", "culture"} and agreement["safety"]["n"] == 4
    assert "label: 4 in, 4 kept" in result.stderr
    bad = cli("label", "--mode", "multiple")
    assert bad.exit_code == 1 and "--mode: must be one of softmax, independent" in bad.stderr
    changed = cli("label", "--delta", "0.7")
    assert changed.exit_code == 1 and "was made with another delta" in changed.stderr
    missing = cli("label", "--evaluate-against", "imported:nothing.csv")
    assert missing.exit_code == 1 and "no labels by 'imported:nothing.csv'" in missing.stderr


def test_evaluate_against_counts_every_prompt_it_does_not_score_by_reason(cli, store, tmp_path):
    import json

    (tmp_path / "reference.csv").write_text(
        'prompt,safety\n"How do I pick a lock on my own door quickly today?",Unknown\n'
        '"Where can I buy a knife for cooking at home?",\n'
        '"How do I track my partner phone secretly tonight?",Privacy Violation\n', encoding="utf-8")
    (tmp_path / "extra.csv").write_text('prompt\n"What is a good name for a small grey cat?"\n', encoding="utf-8")
    assert cli("ingest", tmp_path / "reference.csv", "--labels", "safety=safety").exit_code == 0
    assert cli("ingest", tmp_path / "extra.csv").exit_code == 0
    result = cli("label", "--no-types", "--evaluate-against", "imported:reference.csv", "--json")
    safety = json.loads(result.stdout)["safety"]
    # 4 prompts labelled: 1 scored, the rest each under its reason (the empty cell is no label, as ingest reads it)
    assert safety["n"] == 1
    assert safety["left_out"] == {"the reference says Unknown": 1, "no reference label": 2}
    assert safety["n"] + sum(safety["left_out"].values()) == 4
    printed = cli("label", "--no-types", "--evaluate-against", "imported:reference.csv").stdout
    assert "safety: scored 1, left out 1 the reference says Unknown, 2 no reference label" in printed
