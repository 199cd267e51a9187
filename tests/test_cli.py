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
