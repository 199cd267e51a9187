"""Fixtures that build the real thing: a store in a temp dir, the CLI, the shared data."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


import pytest

from pipeline.engines import Engine
from typer.testing import CliRunner

from pipeline.app.serving import app_server
from pipeline.cli.main import app
from review_store import Store
from taxonomy import load_taxonomy

REPO = Path(__file__).resolve().parent.parent
DEV_CSV = REPO.parent / "shared" / "data" / "misalign_bench_prompts_dev.csv"
DEV_LABELS = "safety=safety_name,value=values_name,culture=cultural_name"


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory):
    """Exported ONNX models go to a temporary cache, not the user's home."""
    os.environ["MISALIGN_CACHE"] = str(tmp_path_factory.mktemp("misalign-cache"))


@pytest.fixture(scope="session")
def dev_csv() -> Path:
    """The real prompts with the papers' labels; never copied into the project."""
    if not DEV_CSV.is_file():
        pytest.skip(f"{DEV_CSV} not found: the shared data must sit beside the checkout")
    return DEV_CSV


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama with a BPE tokenizer and chat template, built locally (no downloads)."""
    from benchmarks.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def taxonomy():
    return load_taxonomy()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> tuple[Path, str]:
    """``misalign demo --no-app`` once per session, as a user runs it: the store and what it printed."""
    folder = tmp_path_factory.mktemp("demo")
    # the global store option before the command (it was once ignored there, writing ./demo.db)
    done = subprocess.run([str(Path(sys.executable).with_name("misalign")), "--db", "studio.db", "demo", "--no-app"],
                          cwd=folder, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (folder / "demo.db").exists()
    return folder / "studio.db", done.stdout


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "misalign.db"


@pytest.fixture
def store(db_path):
    with Store(db_path) as opened:
        yield opened


class Cli:
    """Runs ``misalign --db DB ...`` in-process and returns click's result (stdout, stderr, exit_code)."""

    def __init__(self, db: Path):
        self.db = db
        self.runner = CliRunner()

    def __call__(self, *args: str, db: bool = True):
        argv = (["--db", str(self.db)] if db else []) + [str(a) for a in args]
        return self.runner.invoke(app, argv, catch_exceptions=False)


@pytest.fixture
def cli(db_path) -> Cli:
    return Cli(db_path)


@contextmanager
def running_app(db: Path, cwd: Path | None = None) -> Iterator[str]:
    """``misalign --db DB app`` on a free port of 127.0.0.1, healthy; yields its URL, stops it after."""
    try:
        with app_server(db, cwd) as url:
            yield url
    except RuntimeError as exc:  # it never became healthy
        pytest.fail(str(exc))


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every row of every table (and the change counter), to prove a failed command changed nothing."""
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


class StopsAfterBatches(Engine):
    """The real engine, cut off (as by Ctrl-C) once it has answered ``batches`` batches of questions."""

    def __init__(self, engine, batches):
        self.engine, self.left = engine, batches
        self.backend, self.model = engine.backend, engine.model

    def choice_probs(self, requests):
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return self.engine.choice_probs(requests)


class Corrupting(Engine):
    """The real embed engine whose answers to some requests come back unusable, as from a broken server."""

    def __init__(self, engine, breakages):
        self.engine, self.breakages = engine, iter(breakages)
        self.backend, self.model = engine.backend, engine.model + "[corrupted]"

    def choice_probs(self, requests):
        answers = self.engine.choice_probs(requests)
        for i, answer in enumerate(answers):
            broken = next(self.breakages, None)
            if broken == "missing":
                answers[i] = dict(list(answer.items())[:-1])
            elif broken == "nan":
                answers[i] = {k: float("nan") for k in answer}
            elif broken == "empty":
                answers[i] = {}
            elif broken == "unknown label":
                answers[i] = {**{k: 0.0 for k in answer}, "Jaywalking": 1.0}
        return answers

    def embed(self, texts):
        return self.engine.embed(texts)


def shown_text(markdown: str) -> str:
    r"""What a person reads of :func:`pipeline.text.cells.markdown_literal`'s text: the escapes and word
    joiners taken out (what a page's test compares with the data).

    >>> from pipeline.text.cells import markdown_literal
    >>> shown_text(markdown_literal("  :red[alert] `code`\nnext line a *b* c:d"))
    ':red[alert] `code` next line a *b* c:d'
    """
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace("\u2060", "")
