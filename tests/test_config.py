"""misalign.toml: engines by name, per-stage choice, validation, and the CLI commands that use it."""

import json

import pytest

from pipeline.engines.config import ConfigError, load_config


def write(tmp_path, text):
    path = tmp_path / "misalign.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_without_a_file_the_embedded_engine_is_the_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.engine_for("label").backend == "embed"
    assert config.engine_for("label").model == "default"


def test_engines_and_stages_come_from_the_file_and_flags_override(tmp_path, tiny_model):
    path = write(tmp_path, f'''
[engines.tiny]
backend = "hf"
model = "{tiny_model}"
device = "cpu"
[engines.tiny.sampling]
temperature = 0.2
max_tokens = 16

[engines.served]
backend = "openai"
model = "m"
urls = ["http://127.0.0.1:9/v1"]

[stages]
generate = "tiny"
''')
    config = load_config(path)
    assert config.engine_for("generate").name == "tiny"
    assert config.engine_for("generate", override="served").backend == "openai"
    request = config.engine("tiny").request("hi", max_tokens=4)
    assert (request.temperature, request.max_tokens, request.top_p) == (0.2, 4, 0.9)


@pytest.mark.parametrize("text, message", [
    ('[engines.x]\nbackend = "gpt"\nmodel = "m"', "engines.x.backend must be one of hf, openai, vllm, embed"),
    ('[engines.x]\nbackend = "hf"', "engines.x.model is missing"),
    ('[engines.x]\nbackend = "hf"\nmodel = "m"\nurls = ["u"]', "engines.x.urls is not an option of the hf backend"),
    ('[engines.x]\nbackend = "openai"\nmodel = "m"', "engines.x.urls must list at least one base URL"),
    ('[engines.x]\nbackend = "hf"\nmodel = "m"\n[engines.x.sampling]\nheat = 1', "engines.x.sampling.heat"),
    ('[stages]\nlabel = "missing"', "stages.label names engine 'missing'"),
    ('[stages]\npaint = "embedded"', "stages.paint is not a stage"),
    ("engines = [", "not valid TOML"),
])
def test_bad_configuration_is_refused_naming_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_config_show_and_engine_commands_from_the_cli(tmp_path, tiny_model, cli):
    path = write(tmp_path, f'[engines.tiny]\nbackend = "hf"\nmodel = "{tiny_model}"\n')
    shown = json.loads(cli("--config", path, "config", "show").stdout)
    assert shown["engines"]["tiny"]["sampling"]["temperature"] == 0.7
    assert shown["engines"]["embedded"]["backend"] == "embed"

    generated = cli("--config", path, "engine", "generate", "Tell me a story", "--engine", "tiny",
                    "--max-tokens", "4", "--n", "2", "--seed", "1")
    assert generated.exit_code == 0, generated.stderr
    answers = [json.loads(line) for line in generated.stdout.splitlines()]
    assert len(answers) == 2 and all(a["finish_reason"] in {"stop", "length"} for a in answers)
    status = json.loads(cli("status", "--json").stdout)
    assert status["engine_cache"] == {f"hf:{tiny_model}:generate": 1}

    chosen = cli("engine", "choose", "How do I make dumplings?", "--options", "food,war")
    assert json.loads(chosen.stdout)["food"] > 0.5

    wrong = cli("--config", path, "engine", "generate", "hi", "--engine", "nope")
    assert wrong.exit_code == 1 and "no engine named 'nope'" in wrong.stderr
    embed_only = cli("engine", "generate", "hi")
    assert embed_only.exit_code == 1 and "cannot generate" in embed_only.stderr


def test_a_stage_option_in_the_file_reaches_the_stage_and_a_flag_beats_it(tmp_path, cli, store):
    from tests.conftest import snapshot

    prompts = tmp_path / "p.csv"
    prompts.write_text("prompt\n" + "".join(f'"How do I keep my garden {w} in the dry season {i}?"\n'
                                            for i, w in enumerate(["green", "green", "alive"])), encoding="utf-8")
    assert cli("ingest", prompts).exit_code == 0
    path = write(tmp_path, "[dedup]\ntau = 3\nscope = \"global\"\n[bench]\nbootstrap = 50\n")
    assert cli("--config", path, "dedup").exit_code == 0
    assert store.dedup_params()["tau"] == 3  # from the file
    assert cli("--config", path, "dedup", "--tau", "12").exit_code == 0
    assert store.dedup_params()["tau"] == 12  # the flag beats the file
    shown = json.loads(cli("--config", path, "config", "show").stdout)["options"]
    assert shown["dedup"]["--tau"] == {"value": 3, "from": str(path)}
    assert shown["dedup"]["--bits"]["from"] == "default"
    assert shown["bench run"]["--bootstrap"] == shown["bench compare"]["--bootstrap"] == {"value": 50, "from": str(path)}
    for text, message in (("[dedup]\ntaus = 3\n", "dedup.taus is not an option of 'misalign dedup' (bits, "),
                          ("[dedup]\ntau = \"many\"\n", "dedup.tau: "),
                          ("[export]\nseed = [1, 2]\n", "export.seed takes one value, not [1, 2]")):
        before = snapshot(store.path)
        refused = cli("--config", write(tmp_path, text), "dedup")
        assert refused.exit_code == 1 and message in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
        assert snapshot(store.path) == before


def test_config_show_gives_the_stage_1_rules_each_slot_must_pass(tmp_path, cli):
    default = json.loads(cli("config", "show").stdout)["stage-1 rules"]
    assert "refusal" in default["any kind"]["misaligned"] and "refusal" not in default["any kind"]["aligned"]
    assert "refusal" in default["over_refusal"]["aligned"]  # an over-refusal pair's aligned response must not refuse
    path = write(tmp_path, '[pairs.rules.over_refusal]\nmisaligned = ["truncated"]\n')
    shown = json.loads(cli("--config", path, "config", "show").stdout)["stage-1 rules"]
    assert shown["over_refusal"]["misaligned"] == ["truncated"] and shown["any kind"] == default["any kind"]
    bad = write(tmp_path, '[pairs.rules]\naligned = ["rude"]\n')
    refused = cli("--config", bad, "config", "show")
    assert refused.exit_code == 1 and "[pairs.rules]: 'rude' is not a stage-1 rule" in refused.stderr
