import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_status_without_a_store_says_how_to_start(cli, db_path):
    result = cli("status")
    assert result.exit_code == 1
    assert "no store here; run 'misalign init'" in result.stderr
    assert not db_path.exists()


def test_init_then_status_on_an_empty_store(cli):
    init = cli("init")
    assert init.exit_code == 0 and "taxonomy 1.0.0: 111 domains" in init.stdout
    shown = cli("status")
    assert "prompts: 0" in shown.stdout and "misalign ingest FILE" in shown.stdout
    figures = json.loads(cli("status", "--json").stdout)
    assert figures["prompts"] == {"total": 0, "by_origin": {}, "source_rows": 0}


@pytest.mark.parametrize("command", [[], ["init"], ["ingest"], ["status"], ["app"], ["taxonomy"]])
def test_every_command_has_help(cli, command):
    result = cli(*command, "--help")
    assert result.exit_code == 0 and "Usage" in result.stdout


def test_the_installed_console_script_honours_misalign_db(tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "How do festivals differ across regions?"}\n', encoding="utf-8")
    env = {**os.environ, "MISALIGN_DB": str(tmp_path / "env.db")}
    script = Path(sys.executable).with_name("misalign")
    ingest = subprocess.run([script, "ingest", prompts], env=env, capture_output=True, text=True, check=True)
    assert "1 kept" in ingest.stdout
    status = subprocess.run([script, "status", "--json"], env=env, capture_output=True, text=True, check=True)
    assert json.loads(status.stdout)["prompts"]["total"] == 1


MISALIGN = Path(sys.executable).with_name("misalign")


def _run(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_store_options_work_after_the_command_too(tmp_path):
    db = tmp_path / "after.db"
    assert _run(MISALIGN, "init", "--db", db).returncode == 0 and db.exists()
    status = _run(MISALIGN, "status", "--json", "--db", db)
    assert status.returncode == 0 and json.loads(status.stdout)["db"] == str(db)
    config = _run(MISALIGN, "config", "show", f"--db={db}")
    assert config.returncode == 0 and "stages" in json.loads(config.stdout)
    nested = _run(MISALIGN, "review", "status", "--db", db)
    assert nested.returncode == 0 and "nothing queued yet" in nested.stdout


def test_a_typo_in_an_option_is_one_line_with_status_2(tmp_path):
    bad_value = _run(MISALIGN, "dedup", "--tau", "abc", "--db", tmp_path / "x.db")
    assert bad_value.returncode == 2
    assert bad_value.stderr.count("\n") == 1 and "Invalid value for '--tau'" in bad_value.stderr
    assert "misalign dedup --help" in bad_value.stderr
    unknown = _run(MISALIGN, "--bogus")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "No such option: --bogus" in unknown.stderr


def test_a_users_mistake_is_one_line_and_a_bug_shows_its_traceback(tmp_path):
    db = tmp_path / "x.db"
    assert _run(MISALIGN, "init", "--db", db).returncode == 0
    mistake = _run(MISALIGN, "dedup", "--scope", "planet", "--db", db)
    assert mistake.returncode == 1 and mistake.stderr == "error: --scope: must be one of global, domain, not 'planet'\n"
    # a stage with a bug in it: a KeyError is not the user's to fix, so it is not hidden behind one line
    broken = ("import sys, pipeline.stages.dedup as stage\n"
              "def dedup(store, taxonomy=None, config=None, options=None):\n    return {}['fingerprints']\n"
              "stage.dedup = dedup\n"
              "from pipeline.cli.main import app\n"
              "sys.argv = ['misalign', '--db', sys.argv[1], 'dedup']\n"
              "app()\n")
    bug = _run(sys.executable, "-c", broken, db)
    assert bug.returncode == 1
    assert "Traceback (most recent call last)" in bug.stderr and "KeyError: 'fingerprints'" in bug.stderr
    assert "this is a bug" in bug.stderr


def test_messages_escape_control_characters(tmp_path):
    header = tmp_path / "evil.csv"
    header.write_text("prompt\x1b]0;pwned\x07\nhello there\n", encoding="utf-8")
    result = _run(MISALIGN, "ingest", header, "--db", tmp_path / "x.db")
    assert result.returncode == 1 and "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "\\x1b]0;pwned\\x07" in result.stderr and result.stderr.count("\n") == 1


def test_help_status_and_init_start_without_the_heavy_libraries(tmp_path):
    probe = ("import sys\nfrom pipeline.cli.main import app\n"
             "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'argilla', 'streamlit', "
             "'sklearn', 'scipy', 'numba', 'onnxruntime', 'datasets') if m in sys.modules]\n"
             "print(','.join(heavy))\n")
    loaded = _run(sys.executable, "-c", probe)
    assert loaded.returncode == 0 and loaded.stdout.strip() == "", loaded.stdout
