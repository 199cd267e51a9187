"""The Streamlit pages, run headless with AppTest on a real store."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pipeline.ingest import IngestOptions, ingest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def app_store(db_path, monkeypatch):
    monkeypatch.setenv("MISALIGN_DB", str(db_path))
    return db_path


@pytest.fixture
def seeded(app_store, store, taxonomy, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('prompt,safety\n"<script>alert(1)</script> is this safe?",Privacy violation\n'
                    "How do I greet elders politely?,None\n", encoding="utf-8")
    ingest(store, path, taxonomy, IngestOptions(label_columns={"safety": "safety"}))
    return app_store


def run(page: str) -> AppTest:
    return AppTest.from_file(str(REPO / page), default_timeout=30).run()


def test_overview_on_an_empty_store_explains_how_to_ingest(app_store, store):
    at = run("app.py")
    assert not at.exception
    assert "This store is empty." in at.info[0].value
    assert "misalign ingest" in at.code[0].value


def test_overview_shows_counts_of_a_seeded_store(seeded):
    at = run("app.py")
    assert not at.exception
    assert at.metric[0].value == "2"
    labels = at.dataframe[0].value
    assert labels.loc[0, "labelled prompts"] == 1 and labels.loc[0, "None"] == 1


def test_runs_page_lists_stage_runs(seeded):
    at = run("pages/6_Runs.py")
    assert not at.exception
    assert list(at.dataframe[0].value["stage"]) == ["ingest"]


def test_runs_page_on_an_empty_store(app_store, store):
    at = run("pages/6_Runs.py")
    assert "No stage has run" in at.info[0].value


def test_overview_shows_what_dedup_kept(seeded, store):
    from pipeline.dedup import dedup

    assert run("app.py").metric[3].value == "not run"
    dedup(store)
    at = run("app.py")
    assert at.metric[3].value == "2"


@pytest.mark.slow
def test_misalign_app_serves_the_studio_on_127_0_0_1(db_path, tmp_path):
    """What `make demo` ends with: the real Streamlit server, bound to loopback, healthy."""
    import subprocess
    import sys
    import time

    import httpx

    from benchmarks.serve import free_port

    port = free_port()
    script = Path(sys.executable).with_name("misalign")
    server = subprocess.Popen([str(script), "--db", str(db_path), "app", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).text == "ok":
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            pytest.fail("the app did not become healthy in 60 s")
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "<title>" in page.text
        assert db_path.exists()  # the store was created for the app
    finally:
        server.terminate()
        server.wait(timeout=20)
