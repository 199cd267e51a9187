"""misalign.toml: engines by name, per-stage choice, validation, and the CLI commands that use it."""

import json

import pytest

from pipeline.engines.config import load_config
from pipeline.errors import ConfigError
from pipeline.registry import STAGES


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
    ('[engines.x]\nbackend = "gpt"\nmodel = "m"', "engines.x.backend must be one of hf, openai, vllm, llamacpp, embed"),
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


def test_config_show_gives_the_sampling_a_generating_stage_will_ask_for_and_where_it_comes_from(tmp_path, cli):
    path = write(tmp_path, '[engines.a]\nbackend = "hf"\nmodel = "m"\n[engines.a.sampling]\nmax_tokens = 40\n'
                           '[engines.b]\nbackend = "hf"\nmodel = "n"\n'
                           '[pairs]\ngenerator = ["a", "b"]\n[expand]\nengine = "a"\ntemperature = 0.3\n')
    shown = json.loads(cli("--config", path, "config", "show").stdout)["options"]
    assert shown["expand"]["--temperature"] == {"value": 0.3, "from": str(path)}  # the stage's own setting
    assert shown["expand"]["--max-tokens"] == {"value": 40, "from": f"{path}: engines.a.sampling"}
    assert shown["expand"]["--top-p"] == {"value": 0.9, "from": "default (expand)"}
    # one value per generator where they differ, each from where it comes
    assert shown["pairs"]["--max-tokens"] == {"value": {"a": 40, "b": 512},
                                              "from": f"{path}: engines.a.sampling and default (pairs)"}
    defaults = json.loads(cli("config", "show").stdout)["options"]
    assert defaults["expand"]["--max-tokens"] == {"value": 64, "from": "default (expand)"}
    # the generate protocol's answers, from the bench role's declaration
    assert defaults["bench run"]["--max-tokens"] == {"value": 256, "from": "default (bench)"}
    refused = cli("--config", write(tmp_path, '[pairs]\ngenerator = ["nope"]\n'), "config", "show")
    assert refused.exit_code == 1 and refused.stderr.strip().endswith(
        "misalign.toml: pairs.generator: no engine named 'nope' (engines: embedded)")


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


def _stage_command(stage):
    from typer.main import get_command

    from pipeline.cli.main import app

    command = get_command(app)
    for word in stage.command.split()[1:]:
        if word.startswith("-") or not word.islower():  # its flags and arguments follow the command's words
            break
        command = command.commands[word]
    return command


def test_every_stage_setting_defaults_to_its_options_dataclass_in_the_cli():
    """The settings models are built from the stages' Options dataclasses, and every flag that sets one of
    their fields defaults to the dataclass's value (a flag's form parsed as the file's would be)."""
    import dataclasses

    from pipeline.cli.file_options import _options, flag_names
    from pipeline.flow.settings import file_keys, settings_model

    sectioned = [stage for stage in STAGES.values() if stage.section]
    assert {stage.section for stage in sectioned} == {"label", "dedup", "expand", "pairs", "bench", "review", "export"}
    compared = 0
    for stage in sectioned:
        model, keys = settings_model(stage.options), file_keys(stage.options)
        plain = {f.name for f in dataclasses.fields(stage.options) if not dataclasses.is_dataclass(f.type)
                 and f.name not in {"subset", "labelling", "rules"}}
        assert set(model.model_fields) == plain, stage.name
        for option in _options(_stage_command(stage)):
            field = next((keys[n.replace("-", "_")] for n in flag_names(option) if n.replace("-", "_") in keys), None)
            default = option.default() if callable(option.default) else option.default
            if field is None or default is None:  # None: "not given", the stage's default applies
                continue
            assert getattr(model.model_validate({field: default}), field) == model.model_fields[field].default, \
                (stage.name, option.name)
            compared += 1
    assert compared >= 30


@pytest.mark.parametrize("text, message", [
    ("[dedup]\ntau = 99\n", "dedup.tau: must be between 0 and 63, not 99"),
    ("[pairs]\nbatch = 0\n", "pairs.batch: must be at least 1, not 0"),
    ("[label]\ndelta = 0\n", "label.delta: must be above 0 and at most 1, not 0.0"),
    ('[export]\nformat = "jsonl,xml"\n', "export.format: 'xml' is not one of jsonl, csv"),
    ('[export]\nratios = "0.5,0.5"\n', "export.ratios: give 3 non-negative shares summing to 1"),
    ('[bench]\non = "prompts"\n', "bench.on: must be one of pairs, responses, not 'prompts'"),
    ('[review]\nqueue = ["nope"]\n', "review.queue: 'nope' is not a queue"),
    ("[review]\nband = 2\n", "review.band: must be at least 0 and at most 1, not 2"),
    ("[expand]\ntarget = -1\n", "expand.target: must be at least 0, not -1"),
])
def test_a_setting_out_of_range_in_the_file_is_refused_naming_the_file_and_key(tmp_path, cli, store, text, message):
    """The stage's own check runs on the file's values when the configuration is read, so the line names
    the file and key (not a flag nobody typed), whichever command runs, and the store is unchanged."""
    from tests.conftest import snapshot

    before = snapshot(store.path)
    path = write(tmp_path, text)
    refused = cli("--config", path, "status")
    assert refused.exit_code == 1 and f"{path}: {message}" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and snapshot(store.path) == before


def test_a_file_setting_of_another_name_or_form_reaches_the_stage(tmp_path, cli, store):
    """``[export] format = "jsonl,csv"`` (the flag's form) and ``[export] status = "all"`` (the flag's name
    for the ``pairs`` field) are what the export uses; ``--format`` beats the file."""
    from taxonomy import load_taxonomy
    from tests.pair_fixtures import seed_pairs

    seed_pairs(store, load_taxonomy(), tmp_path)
    path = write(tmp_path, '[export]\nformat = "jsonl,csv"\nstatus = "all"\nlicence = "cc-by-4.0"\n')
    out = tmp_path / "out"
    done = cli("--config", path, "export", "--out", out)
    assert done.exit_code == 0, done.stderr
    assert sorted(p.name for p in out.glob("pairs.*")) == ["pairs.csv", "pairs.jsonl"]
    assert store.exports()[0]["params"]["pairs"] == "all"
    again = cli("--config", path, "export", "--out", tmp_path / "again", "--format", "parquet")
    assert again.exit_code == 0 and [p.name for p in (tmp_path / "again").glob("pairs.*")] == ["pairs.parquet"]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_each_stage_command_offers_its_declared_options_and_no_hand_written_twin(name):
    """Each option is declared once, on the stage's Options dataclass: its command's flag (name, help,
    default) and its misalign.toml key are made from that declaration, and the command writes no option of
    its own for a field the dataclass declares."""
    import dataclasses
    import inspect
    import typing

    from pipeline.cli.declared import flags
    from pipeline.flow.settings import file_keys

    stage = STAGES[name]
    command = _stage_command(stage)
    declared = flags(stage.options)
    by_flag = {opt.lstrip("-"): p for p in command.params for opt in (*p.opts, p.name)}
    for flag in declared:
        param = by_flag[flag.name]
        assert param.help == flag.field.metadata["help"], (name, flag.name)
        default = flag.cli_default()
        if default is not inspect.Parameter.empty:
            assert param.default == default, (name, flag.name)
    leaves = set()

    def walk(options):
        hints = typing.get_type_hints(options)
        for f in dataclasses.fields(options):
            kind = typing.get_args(hints[f.name])[0] if typing.get_args(hints[f.name]) else hints[f.name]
            if dataclasses.is_dataclass(kind):
                walk(kind)
            else:
                leaves.update({f.name, f.metadata.get("flag", f.name).replace("-", "_")})

    walk(stage.options)
    made = {f.parameter for f in declared}
    own = {p.name for p in command.params if p.name not in made and p.name != "help"}
    assert not own & leaves, f"{name}: hand-written options for declared fields: {sorted(own & leaves)}"
    if stage.section:  # the file's keys for the same settings
        assert {f.name.replace("-", "_") for f in declared if len(f.path) == 1} <= set(file_keys(stage.options))
