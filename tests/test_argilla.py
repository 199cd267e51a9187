"""The review round trip against a real local Argilla (Redis, argilla-server, worker on 127.0.0.1)
with misalign's SQL search engine: push, answers through the REST API the UI uses, pull."""

import os
import secrets
import shutil
import signal
import socket
import time

import httpx
import pytest

from pipeline.review.agreement import agreement
from pipeline.review.argilla import sync
from pipeline.review.argilla.sync import ArgillaSyncError, argilla_client, pull, push
from pipeline.review.queues import add_annotator, add_panel, QueueOptions, build_queues, submit
from pipeline.review.argilla.local.server import local_argilla
from review_store import Store, utc_now
from tests.pair_fixtures import seed_pairs

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")]
PASSWORD = secrets.token_urlsafe(12)  # the annotators' password on the throwaway server, never written down


@pytest.fixture(scope="session")
def argilla(tmp_path_factory):
    with local_argilla(tmp_path_factory.mktemp("argilla")) as server:
        yield server


def panel_with_queue(store, taxonomy, tmp_path, panel, members):
    pairs = seed_pairs(store, taxonomy, tmp_path)
    add_panel(store, panel, min_submissions=2)
    for name in members:
        add_annotator(store, name, (panel,), argilla_username=name, culture="IN")
    build_queues(store, options=QueueOptions(panel, queues=("borderline",)))
    return pairs


class Annotator:
    """What the web UI does for a signed-in annotator, over the same REST API."""

    def __init__(self, url: str, username: str):
        token = httpx.post(f"{url}/api/v1/token", data={"username": username, "password": PASSWORD}).json()
        self.url, self.headers = url, {"Authorization": f"Bearer {token['access_token']}"}

    def pending(self, dataset_id: str) -> list[dict]:
        body = {"filters": {"and": [{"type": "terms", "scope": {"entity": "response", "property": "status"},
                                     "values": ["pending"]}]}}
        found = httpx.post(f"{self.url}/api/v1/me/datasets/{dataset_id}/records/search", json=body,
                           params={"include": "suggestions", "limit": 50}, headers=self.headers)
        assert found.status_code == 200, found.text
        return [item["record"] for item in found.json()["items"]]

    def submit(self, record_id: str, valid: str) -> None:
        values = {"pair_valid": {"value": valid}, "aligned_acceptable": {"value": "yes"},
                  "misaligned_dimensions": {"value": ["value", "culture"]}, "comment": {"value": "checked"}}
        answer = httpx.post(f"{self.url}/api/v1/records/{record_id}/responses", headers=self.headers,
                            json={"values": values, "status": "submitted"})
        assert answer.status_code == 201, answer.text


def test_push_answer_pull_statuses_and_agreement(store, taxonomy, tmp_path, argilla):
    pairs = panel_with_queue(store, taxonomy, tmp_path, "South Asia", ["asha", "ravi"])
    client = argilla_client(argilla.url, argilla.api_key)
    report = push(store, taxonomy, "South Asia", client, password=PASSWORD)
    assert report.kept == 4 and report.notes.accounts_created == 2
    again = push(store, taxonomy, "South Asia", client, password=PASSWORD)
    assert (again.items_in, again.kept, again.notes.already_pushed) == (0, 0, 4)  # what is sent is not counted in
    dataset = client.datasets("misalign-borderline", workspace="south-asia")
    records = list(dataset.records(with_suggestions=True))
    assert sorted(str(r.id) for r in records) == sorted(pairs)  # pushing twice made nothing twice
    assert dataset.settings.distribution.min_submitted == 2
    # fields and options in words; answers keep the ids
    assert dataset.settings.fields["aligned_response"].title == "Aligned response"
    assert dataset.settings.questions["misaligned_dimensions"].labels == ["safety", "value", "culture", "not_misaligned"]
    options = dataset.settings.questions["misaligned_dimensions"]._model.settings.options  # what the UI shows
    assert options[3] == {"value": "not_misaligned", "text": "Not misaligned on any dimension", "description": None}
    first = next(r for r in records if str(r.id) == pairs[0])
    assert first.fields["prompt"].startswith("How can I read my partner")
    assert not first.suggestions  # nothing pre-selected, and the judge's view not shown: people answer unanchored
    assert first.fields["judge"].startswith("Not shown: this panel answers without the judge's view")
    assert first.metadata["queue"] == "borderline" and "safety.privacy_violation" in first.metadata["domain_ids"]

    asha, ravi = Annotator(argilla.url, "asha"), Annotator(argilla.url, "ravi")
    queue = asha.pending(str(dataset.id))
    assert len(queue) == 4 and not any(r["suggestions"] for r in queue)
    by_pair = {r["external_id"]: r["id"] for r in queue}
    for pair in pairs[:3]:
        asha.submit(by_pair[pair], "yes")
    assert len(asha.pending(str(dataset.id))) == 1  # the search engine answers from Argilla's database
    ravi.submit(by_pair[pairs[0]], "yes")
    ravi.submit(by_pair[pairs[1]], "no")

    pulled = pull(store, taxonomy, client)
    assert pulled.kept == 5 and pulled.notes.pairs_updated == 3
    statuses = {p: store.pair_by_id(p)["human_status"] for p in pairs}
    assert statuses == {pairs[0]: "human_accepted", pairs[1]: "needs_adjudication", pairs[2]: None, pairs[3]: None}
    answers = store.annotations("South Asia")
    assert {a["backend"] for a in answers} == {"argilla"} and answers[0]["misaligned_dimensions"] == ["value", "culture"]
    before = [tuple(a.values()) for a in store.annotations()]
    again = pull(store, taxonomy, client)
    assert (again.items_in, again.kept, again.notes.already_stored) == (0, 0, 5)
    assert [tuple(a.values()) for a in store.annotations()] == before
    figures = agreement(store, samples=100)["panels"]["South Asia"]
    assert figures["items"] == 3 and figures["answers"] == 5


def test_an_answer_given_in_the_app_is_no_longer_pending_for_that_annotator_in_argilla(store, taxonomy, tmp_path,
                                                                                      argilla):
    pairs = panel_with_queue(store, taxonomy, tmp_path, "Andes", ["inti", "killa"])
    add_panel(store, "Andes", min_submissions=2, show_suggestions=True)  # this panel wants the judge pre-selected
    client = argilla_client(argilla.url, argilla.api_key)
    push(store, taxonomy, "Andes", client, password=PASSWORD)
    dataset = client.datasets("misalign-borderline", workspace="andes")
    assert all({s.question_name for s in r.suggestions} == {"pair_valid", "aligned_acceptable"}
               and "that the aligned response is aligned" in r.fields["judge"]  # the judge's view, shown to this panel
               for r in dataset.records(with_suggestions=True))
    inti, killa = Annotator(argilla.url, "inti"), Annotator(argilla.url, "killa")
    assert len(inti.pending(str(dataset.id))) == 4
    [item] = [i for i in store.review_items(panel="Andes") if i["pair_id"] == pairs[0]]
    submit(store, item["id"], "inti", {"pair_valid": "no", "aligned_acceptable": "yes",
                                       "misaligned_dimensions": ["culture"], "comment": "too blunt"}, backend="app")

    report = push(store, taxonomy, "Andes", client, password=PASSWORD)
    assert report.kept == 0 and report.notes.app_answers_sent == 1
    assert sorted(r["external_id"] for r in inti.pending(str(dataset.id))) == sorted(pairs[1:])  # done there too
    assert len(killa.pending(str(dataset.id))) == 4  # still waiting for the second answer
    assert push(store, taxonomy, "Andes", client, password=PASSWORD).notes.app_answers_sent == 0
    assert pull(store, taxonomy, client).kept == 0  # the same answer, once: pull merges
    [answer] = store.annotations("Andes")
    assert (answer["annotator"], answer["backend"], answer["comment"]) == ("inti", "app", "too blunt")


def test_a_pull_never_replaces_a_newer_app_answer_and_keeps_when_argilla_answers_were_given(store, taxonomy,
                                                                                          tmp_path, argilla):
    pairs = panel_with_queue(store, taxonomy, tmp_path, "Sahel", ["awa", "moussa"])
    client = argilla_client(argilla.url, argilla.api_key)
    push(store, taxonomy, "Sahel", client, password=PASSWORD)
    dataset = client.datasets("misalign-borderline", workspace="sahel")
    awa, moussa = Annotator(argilla.url, "awa"), Annotator(argilla.url, "moussa")
    records = {r["external_id"]: r["id"] for r in awa.pending(str(dataset.id))}
    awa.submit(records[pairs[0]], "yes")  # first in Argilla...
    moussa.submit(records[pairs[0]], "yes")
    answered_in_argilla = utc_now()
    time.sleep(1.1)  # the store's times are to the second
    [item] = [i for i in store.review_items(panel="Sahel") if i["pair_id"] == pairs[0]]
    submit(store, item["id"], "awa", {"pair_valid": "no", "aligned_acceptable": "yes",
                                      "misaligned_dimensions": ["culture"], "comment": "on second thoughts"})
    answered_in_app = store.annotations("Sahel")[0]["submitted_at"]  # ...then, later, in the app
    time.sleep(1.1)

    pulled = pull(store, taxonomy, client)
    assert pulled.kept == 1 and pulled.dropped == {"older_than_the_stores_answer": 1}
    answers = {a["annotator"]: a for a in store.annotations("Sahel")}
    assert (answers["awa"]["pair_valid"], answers["awa"]["backend"], answers["awa"]["submitted_at"]) == (
        "no", "app", answered_in_app)
    # moussa's answer keeps the time it was given in Argilla, not the pull's
    assert answers["moussa"]["backend"] == "argilla" and answers["moussa"]["submitted_at"] <= answered_in_argilla
    assert store.pair_by_id(pairs[0])["human_status"] == "needs_adjudication"


def test_an_app_answer_given_while_a_pull_reads_argilla_is_kept(store, taxonomy, tmp_path, argilla, db_path,
                                                                monkeypatch):
    pairs = panel_with_queue(store, taxonomy, tmp_path, "Pampas", ["ines"])
    client = argilla_client(argilla.url, argilla.api_key)
    push(store, taxonomy, "Pampas", client, password=PASSWORD)
    dataset = client.datasets("misalign-borderline", workspace="pampas")
    ines = Annotator(argilla.url, "ines")
    ines.submit(next(r["id"] for r in ines.pending(str(dataset.id)) if r["external_id"] == pairs[0]), "yes")
    time.sleep(1.1)  # the store's times are to the second
    [item] = [i for i in store.review_items(panel="Pampas") if i["pair_id"] == pairs[0]]
    reads_argilla = sync.submitted_responses

    def while_the_app_answers(*args, **kwargs):
        """Argilla's responses as the pull reads them; once read, the app (its own connection) takes an answer."""
        yield from reads_argilla(*args, **kwargs)
        with Store(db_path) as app:
            submit(app, item["id"], "ines", {"pair_valid": "no", "aligned_acceptable": "yes",
                                             "misaligned_dimensions": ["safety"], "comment": "changed my mind"})

    monkeypatch.setattr(sync, "submitted_responses", while_the_app_answers)
    pulled = pull(store, taxonomy, client)
    assert pulled.kept == 0 and pulled.dropped == {"older_than_the_stores_answer": 1}
    [answer] = store.annotations("Pampas")
    assert (answer["pair_valid"], answer["backend"], answer["comment"]) == ("no", "app", "changed my mind")


def test_a_dataset_deleted_in_argilla_is_made_again_with_every_item_and_app_answer(store, taxonomy, tmp_path,
                                                                                   argilla):
    pairs = panel_with_queue(store, taxonomy, tmp_path, "Nordic", ["sami", "liv"])
    client = argilla_client(argilla.url, argilla.api_key)
    push(store, taxonomy, "Nordic", client, password=PASSWORD)
    [item] = [i for i in store.review_items(panel="Nordic") if i["pair_id"] == pairs[0]]
    submit(store, item["id"], "sami", {"pair_valid": "yes", "aligned_acceptable": "yes",
                                       "misaligned_dimensions": ["value"]})
    push(store, taxonomy, "Nordic", client, password=PASSWORD)
    client.datasets("misalign-borderline", workspace="nordic").delete()

    again = push(store, taxonomy, "Nordic", client, password=PASSWORD)
    assert again.kept == 4 and again.notes.datasets_recreated == 1 and again.notes.app_answers_sent == 1
    dataset = client.datasets("misalign-borderline", workspace="nordic")
    assert sorted(str(r.id) for r in dataset.records()) == sorted(pairs)
    sami = Annotator(argilla.url, "sami")
    assert sorted(r["external_id"] for r in sami.pending(str(dataset.id))) == sorted(pairs[1:])
    [answer] = store.annotations("Nordic")  # the person's answer was never touched
    assert (answer["annotator"], answer["backend"], answer["pair_valid"]) == ("sami", "app", "yes")


def test_a_push_cut_off_by_a_dead_server_resumes_without_duplicates(store, taxonomy, tmp_path, tmp_path_factory):
    pairs = panel_with_queue(store, taxonomy, tmp_path, "Western Europe", ["lena", "marc"])
    home = tmp_path_factory.mktemp("argilla-killed")
    with local_argilla(home) as server:
        client = argilla_client(server.url, server.api_key)

        def kill_after_first_batch(sent: int) -> None:
            os.kill(server.web.pid, signal.SIGKILL)  # the server dies between two batches

        with pytest.raises(ArgillaSyncError, match="run the command again to resume"):
            push(store, taxonomy, "Western Europe", client, password=PASSWORD, batch=2, on_batch=kill_after_first_batch)
    pushed = [i for i in store.review_items(panel="Western Europe") if i["pushed_at"]]
    assert len(pushed) == 2
    with local_argilla(home) as server:  # the same server, started again
        client = argilla_client(server.url, server.api_key)
        resumed = push(store, taxonomy, "Western Europe", client, password=PASSWORD, batch=2)
        assert resumed.kept == 2 and resumed.notes.accounts_created == 0
        records = list(client.datasets("misalign-borderline", workspace="western-europe").records)
        assert sorted(str(r.id) for r in records) == sorted(pairs)


def test_label_review_goes_to_argilla_and_its_answers_become_the_panels_labels(store, taxonomy, tmp_path, argilla):
    from pipeline.engines.config import load_config
    from pipeline.review.label_review import LABEL_QUEUE, LabelQueueOptions, build_label_review
    from pipeline.stages.label import LabelOptions, label

    seed_pairs(store, taxonomy, tmp_path)
    labeler = label(store, taxonomy, load_config(), LabelOptions(engine="embedded")).params["labeler"]
    add_panel(store, "Pacific", min_submissions=1)
    add_annotator(store, "moana", ("Pacific",), argilla_username="moana")
    build_label_review(store, taxonomy, options=LabelQueueOptions("Pacific", labeler, size=2))
    client = argilla_client(argilla.url, argilla.api_key)
    report = push(store, taxonomy, "Pacific", client, queues=(LABEL_QUEUE,), password=PASSWORD)
    assert report.kept == 2
    dataset = client.datasets(f"misalign-{LABEL_QUEUE}", workspace="pacific")
    assert [q.name for q in dataset.settings.questions] == ["safety", "value", "culture", "semantic_type"]
    assert "Privacy Violation" in dataset.settings.questions[0].labels
    value = dataset.settings.questions[1]  # 57 options: in their groups, the first few shown, the rest searched
    assert value._model.settings.options[0] == {"value": "Ambitious", "text": "Achievement: Ambitious",
                                                "description": None} and value.visible_labels == 12
    kinds = dataset.settings.questions[3]
    assert kinds.title.startswith("What does the risk in this prompt turn on") and "Object misalignment:" in kinds.description
    assert [o["text"] for o in kinds._model.settings.options] == ["Object misalignment", "Attribute misalignment",
                                                                  "Relation misalignment"]
    moana = Annotator(argilla.url, "moana")
    [first, _] = moana.pending(str(dataset.id))
    assert labeler in first["fields"]["labeller_guess"] and not first["suggestions"]  # nothing pre-selected
    values = {"safety": {"value": "Privacy Violation"}, "value": {"value": "Honesty"}, "culture": {"value": "None"},
              "semantic_type": {"value": "relation"}}
    answer = httpx.post(f"{moana.url}/api/v1/records/{first['id']}/responses", headers=moana.headers,
                        json={"values": values, "status": "submitted"})
    assert answer.status_code == 201, answer.text

    pulled = pull(store, taxonomy, client)
    assert pulled.kept == 1 and pulled.notes.prompts_relabelled == 1
    labels = {(d, domain) for p, d, domain, _ in store.assigned_labels("human:Pacific")}
    assert labels == {("safety", "safety.privacy_violation"), ("value", "value.honesty"), ("culture", "none")}
    assert store.top_semantic_types()[first["external_id"]] == "relation"


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_an_annotator_answers_in_the_argilla_ui_and_pull_brings_it_back(store, taxonomy, tmp_path, argilla):
    from playwright.sync_api import sync_playwright

    pairs = panel_with_queue(store, taxonomy, tmp_path, "East Africa", ["amani"])
    client = argilla_client(argilla.url, argilla.api_key)
    push(store, taxonomy, "East Africa", client, password=PASSWORD)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{argilla.url}/sign-in")
            page.locator("input[name=Username]").fill("amani")
            page.locator("input[name=Password]").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text("misalign-borderline").first.click()
            page.get_by_text("Is this a valid pair?").wait_for()
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(2000)  # the form takes clicks once the UI has hydrated
            shown = page.content()
            submit = page.locator("button.button--submit")
            assert submit.is_disabled()  # nothing pre-selected: the judge's view is there to read, not to accept
            page.get_by_text("no", exact=True).nth(0).click()  # is this a valid pair?
            page.get_by_text("yes", exact=True).nth(1).click()  # is the aligned response acceptable?
            page.get_by_text("Culture", exact=True).click()  # the option in words; the answer keeps the id
            submit.click()
            page.get_by_text("2 of 4").or_(page.get_by_text("1 of 3")).first.wait_for(timeout=15_000)
            page.wait_for_load_state("networkidle")
        finally:
            browser.close()
    pulled = pull(store, taxonomy, client)
    assert pulled.kept == 1
    [answer] = store.annotations("East Africa")
    assert (answer["annotator"], answer["pair_valid"], answer["aligned_acceptable"]) == ("amani", "no", "yes")
    assert answer["misaligned_dimensions"] == ["culture"] and answer["backend"] == "argilla"
    prompt = store.db.execute("SELECT p.text FROM pairs x JOIN prompts p ON p.id = x.prompt_id WHERE x.id = ?",
                              [answer["pair_id"]]).fetchone()[0]
    assert answer["pair_id"] in pairs and prompt in shown


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (read from /proc: no procps needed)."""
    from pathlib import Path

    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_misalign_argilla_serve_starts_accounts_and_stops_every_child_on_a_signal(store, tmp_path, db_path, stop):
    """Started in the background (a shell hands it SIGINT ignored), it still stops on SIGINT, and on
    SIGTERM: Redis, the web server and the worker with it."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    from pipeline.review.argilla.local.server import free_port

    add_panel(store, "Andes", min_submissions=1)
    add_annotator(store, "quilla", ("Andes",), argilla_username="quilla", language="qu")
    port, redis_port = free_port(), free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("misalign")), "--db", str(db_path), "argilla", "serve",
                               "--home", str(tmp_path / "argilla"), "--port", str(port), "--redis-port", str(redis_port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "MISALIGN_ANNOTATOR_PASSWORD": PASSWORD},
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        lines, deadline = [], time.time() + 180
        while time.time() < deadline and not any(line.startswith("export ARGILLA_API_URL") for line in lines):
            lines.append(server.stdout.readline())
        assert "panel Andes: workspace ready, 1 annotator accounts created\n" in lines, lines
        assert Annotator(f"http://127.0.0.1:{port}", "quilla").headers  # the annotator can sign in
        children = _children(server.pid)
        assert len(children) == 3  # redis-server, the web server, the worker
    finally:
        server.send_signal(stop)
        assert server.wait(timeout=60) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/api/v1/status", timeout=2)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", redis_port), timeout=2)
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()
             and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
    assert alive == [], f"children left running: {alive}"


def test_review_push_pull_and_status_from_the_cli(store, taxonomy, tmp_path, argilla, cli, monkeypatch):
    panel_with_queue(store, taxonomy, tmp_path, "Nordics", ["ingrid"])
    monkeypatch.setenv("ARGILLA_API_URL", argilla.url)
    monkeypatch.setenv("ARGILLA_API_KEY", argilla.api_key)
    monkeypatch.setenv("MISALIGN_ANNOTATOR_PASSWORD", PASSWORD)
    nothing = cli("review", "push", "--panel", "Nordics", "--batch", "0")  # no push of nothing at a time
    assert nothing.exit_code == 1 and "--batch: must be at least 1 and at most 10000, not 0" in nothing.stderr
    assert store.db.execute("SELECT COUNT(*) FROM review_items WHERE pushed_at IS NOT NULL").fetchone()[0] == 0
    pushed = cli("review", "push", "--backend", "argilla", "--panel", "Nordics", "--batch", "3")
    assert pushed.exit_code == 0, pushed.stderr
    assert "review_push: 4 in, 4 kept" in pushed.stdout
    # progress a log can show: the first batch and the end
    assert "push (Nordics): 3/4 records" in pushed.stderr and "push (Nordics): 4/4 records" in pushed.stderr
    dataset = argilla_client(argilla.url, argilla.api_key).datasets("misalign-borderline", workspace="nordics")
    ingrid = Annotator(argilla.url, "ingrid")
    [record] = ingrid.pending(str(dataset.id))[:1]
    ingrid.submit(record["id"], "no")
    pulled = cli("review", "pull")
    assert pulled.exit_code == 0 and "review_pull: 1 in, 1 kept" in pulled.stdout
    status = cli("review", "status")
    row = next(line.split() for line in status.stdout.splitlines() if line.startswith("Nordics"))
    # items, complete (2 answers needed), answers, pushed, records Argilla holds
    assert row[1:] == ["borderline", "4", "0", "1", "4", "4"]
    assert "human statuses: none yet" in status.stdout
    dataset.delete()  # status counts what Argilla holds, not what the store once sent
    status = cli("review", "status")
    row = next(line.split() for line in status.stdout.splitlines() if line.startswith("Nordics"))
    assert row[-2:] == ["4", "missing"] and "the next review push sends every item again" in status.stdout
    monkeypatch.setenv("ARGILLA_API_KEY", "wrong.key")
    refused = cli("review", "pull")
    assert refused.exit_code == 1 and refused.stderr.startswith("error: Argilla at ") and \
        len(refused.stderr.strip().splitlines()) == 1
    status = cli("review", "status")  # the store's side is still shown, and why Argilla's is not
    assert status.exit_code == 0 and "what Argilla holds is not shown" in status.stderr
    assert next(line.split() for line in status.stdout.splitlines() if line.startswith("Nordics"))[1:] == \
        ["borderline", "4", "0", "1", "4"]
