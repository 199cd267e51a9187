import csv

import pytest
import yaml

from taxonomy import DEFAULT_TAXONOMY_PATH, TaxonomyError, load_taxonomy


def test_shipped_taxonomy_has_the_111_named_domains(taxonomy):
    counts = {dim: len(taxonomy.domains_of(dim)) for dim in ("safety", "value", "culture")}
    assert counts == {"safety": 14, "value": 56, "culture": 41}
    assert len({d.id for d in taxonomy.domains}) == 111
    assert all(d.description and d.group and d.source for d in taxonomy.domains)
    assert {t.id for t in taxonomy.semantic_types} == {"object", "attribute", "relation"}
    assert taxonomy.version


def test_groups_follow_the_sources(taxonomy):
    assert {d.group for d in taxonomy.domains_of("safety")} == {"BeaverTails"}
    value_groups = {d.group for d in taxonomy.domains_of("value")}
    assert value_groups == {"Achievement", "Power", "Security", "Conformity", "Tradition", "Self-Direction",
                            "Stimulation", "Hedonism", "Universalism", "Benevolence"}
    assert taxonomy.domain("culture.libraries").group == "Books and Press"


def test_every_label_string_of_the_released_data_resolves(dev_csv, taxonomy):
    with dev_csv.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for column, dimension in [("safety_name", "safety"), ("values_name", "value"), ("cultural_name", "culture")]:
        unresolved = {r[column] for r in rows if taxonomy.resolve(dimension, r[column]) is None}
        assert unresolved == set(), column


def test_resolve_ignores_case_punctuation_and_ampersands(taxonomy):
    assert taxonomy.resolve("value", "honoring PARENTS and elders").id == "value.honoring_parents_elders"
    assert taxonomy.resolve("safety", "Discrimination/stereotyping/injustice").id == "safety.discrimination_stereotype_injustice"
    assert taxonomy.resolve("culture", "None").id == "none"
    assert taxonomy.resolve("safety", "Unknown").id == "unknown"
    # a name is only a label in its own dimension
    assert taxonomy.resolve("safety", "Health") is None


def _write(tmp_path, data) -> str:
    path = tmp_path / "tax.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


@pytest.fixture
def shipped_data():
    return yaml.safe_load(DEFAULT_TAXONOMY_PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["domains"][3].pop("description"), "domains[3] (safety.discrimination_stereotype_injustice): missing field 'description'"),
        (lambda d: d["domains"][20].update(dimension="ethics"), "dimension 'ethics' is not one of safety, value, culture"),
        (lambda d: d["domains"].append(dict(d["domains"][0])), "duplicate id 'safety.animal_abuse'"),
        (lambda d: d["domains"][1].update(aliases=["Animal abuse"]), "label 'Animal abuse' already names safety.animal_abuse"),
        (lambda d: d.pop("version"), "version: missing or empty version string"),
        (lambda d: d["semantic_types"].pop(), "semantic_types: must define exactly object, attribute and relation"),
    ],
)
def test_invalid_taxonomy_is_refused_with_a_message_naming_the_entry(tmp_path, shipped_data, mutate, message):
    mutate(shipped_data)
    path = _write(tmp_path, shipped_data)
    with pytest.raises(TaxonomyError) as error:
        load_taxonomy(path)
    assert message in str(error.value)
    assert str(error.value).startswith(path)


def test_not_yaml_is_refused(tmp_path):
    path = tmp_path / "tax.yaml"
    path.write_text("domains: [unclosed", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="not valid YAML"):
        load_taxonomy(path)


def test_a_user_taxonomy_is_used_by_the_cli(tmp_path, shipped_data, cli):
    shipped_data["version"] = "my-2.0"
    shipped_data["domains"][0]["aliases"].append("Cruelty to animals")
    path = _write(tmp_path, shipped_data)
    prompts = tmp_path / "p.csv"
    prompts.write_text("prompt,safety\nHow should I treat a stray cat?,Cruelty to animals\n", encoding="utf-8")

    default = cli("ingest", prompts, "--labels", "safety=safety")
    assert default.exit_code == 1 and "unknown safety label 'Cruelty to animals'" in default.stderr

    result = cli("--taxonomy", path, "ingest", prompts, "--labels", "safety=safety")
    assert result.exit_code == 0, result.stderr
    shown = cli("--taxonomy", path, "taxonomy")
    assert "taxonomy my-2.0" in shown.stdout


def test_cli_reports_a_broken_user_taxonomy_in_one_line(tmp_path, shipped_data, cli):
    shipped_data["domains"][5].pop("name")
    result = cli("--taxonomy", _write(tmp_path, shipped_data), "init")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "missing field 'name'" in result.stderr
