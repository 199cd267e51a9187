"""Push review queues to any Argilla 2.x server and pull the panels' answers back.

One workspace per panel (its members get annotator accounts there), one dataset per queue. The
``label_review`` queue's records carry a prompt and the labelling model's doubt, and ask for a domain per
dimension and the semantic type (its record id is the prompt's id). A pair queue's record carries
the prompt, both responses, the domains, the semantic type and the judge's verdicts in words as
plain-text fields (the verdicts become pre-selected suggestions only for a panel that opted in:
``--show-suggestions``); the questions of :mod:`pipeline.review.queues`; the routing reason,
pipeline status and domains as metadata; guidelines for annotators; and
``TaskDistribution(min_submitted=N)``. A record's id is its pair's id, so a second push creates
nothing, and items are marked pushed batch by batch, so a push cut off part-way resumes.

The app and Argilla share one truth: answers given on the app's Review page to items already in
Argilla are sent there, on the next push, as that annotator's submitted responses (the item is then
no longer pending for them, and Argilla's progress counts it); pull leaves an unchanged answer as it was.

Example, against a running server::

    client = argilla_client()  # ARGILLA_API_URL, ARGILLA_API_KEY
    push(store, taxonomy, "South Asia", client)
    pull(store, taxonomy, client)

or as stages of the loop (``review_push``, ``review_pull`` in ``pipeline.registry.STAGES``), which open
the client from their options.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import argilla as rg
import httpx
from argilla._exceptions import ArgillaError

from pipeline.errors import ServiceError, UsageError
from pipeline.review.argilla import PUSH_BATCH
from pipeline.review.argilla.options import ALL_QUEUES, PullOptions, PushOptions
from pipeline.review.label_review import (LABEL_QUEUE, check_label_answers, label_answer_values, label_questions,
                                          update_human_labels)
from pipeline.review.queues import (GUIDELINES, QUESTIONS, Question, check_answers, dimension_choice_words,
                                    judge_suggestions, judge_view, update_human_statuses, workspace_name)
from pipeline.text.progress import progress
from review_store import Notes, StageReport, Store, utc_now, utc_seconds
from taxonomy import Taxonomy

FIELDS = ("prompt", "aligned_response", "misaligned_response", "domains", "semantic_type", "judge")
LABEL_FIELDS = ("prompt", "labeller_guess")
FIELD_TITLES = {"prompt": "Prompt", "aligned_response": "Aligned response", "misaligned_response": "Misaligned response",
                "domains": "Domains", "semantic_type": "Semantic type", "judge": "The judge's view",
                "labeller_guess": "Why this prompt is asked"}
HIDDEN_JUDGE = "Not shown: this panel answers without the judge's view (a panel added with --show-suggestions sees it)."
LABEL_GUIDELINES = """\
# Labelling prompts

Each record is a user prompt a labelling model was unsure about. For each dimension pick the one domain
the prompt falls in, or None when no domain of that dimension applies; then the kind of
misalignment a response to it is most exposed to. The labelling model's guess is shown for reference only:
answer from the prompt. The texts may be offensive or harmful by design; do not follow instructions
inside them.
"""
DEFAULT_PASSWORD_ENV = "MISALIGN_ANNOTATOR_PASSWORD"


class ArgillaSyncError(ServiceError):
    """The Argilla server refused or could not be reached; what was committed before stays committed."""


@contextmanager
def server_errors(url: str) -> Iterator[None]:
    """SDK and connection errors as one line naming the server."""
    try:
        yield
    except (ArgillaError, httpx.HTTPError) as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ArgillaSyncError(f"Argilla at {url}: {detail[:300]}; run the command again to resume") from None


def argilla_client(url: str | None = None, api_key: str | None = None) -> rg.Argilla:
    """A client of the Argilla server at ``url`` (default ``ARGILLA_API_URL``), checked by asking who it is."""
    url, api_key = url or os.environ.get("ARGILLA_API_URL"), api_key or os.environ.get("ARGILLA_API_KEY")
    if not url or not api_key:
        raise UsageError("set ARGILLA_API_URL and ARGILLA_API_KEY (a local server: misalign argilla serve prints its URL, "
                         "misalign argilla key its key)")
    with server_errors(url):
        return rg.Argilla(api_url=url, api_key=api_key)


def quietly(lookup: Callable, *args, **kwargs):
    """An SDK lookup (user, workspace, dataset) that returns None for a missing one without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return lookup(*args, **kwargs)


VISIBLE_OPTIONS = 12


def _questions(questions: tuple[Question, ...], words: dict[str, str] | None = None) -> list:
    """Argilla questions; a multi-label question's options shown as ``words`` say (answers keep the ids)."""
    made = []
    for q in questions:
        if q.kind == "label":  # a long list shows its first options and a search box for the rest
            made.append(rg.LabelQuestion(q.name, labels=q.option_words(), title=q.title,
                                         description=q.description or None, required=q.required,
                                         visible_labels=VISIBLE_OPTIONS if len(q.options) > VISIBLE_OPTIONS else None))
        elif q.kind == "multi_label":
            labels = {o: (words or {}).get(o, o) for o in q.options}
            made.append(rg.MultiLabelQuestion(q.name, labels=labels, title=q.title,
                                              description=q.description or None, required=q.required))
        else:
            made.append(rg.TextQuestion(q.name, title=q.title, description=q.description or None, required=q.required))
    return made


def dataset_settings(taxonomy: Taxonomy, min_submitted: int) -> rg.Settings:
    """The Argilla dataset settings of a pair queue: the fields shown, the questions asked, the submissions needed."""
    return rg.Settings(
        # adversarial text shown as text, under titles in words
        fields=[rg.TextField(name, title=FIELD_TITLES[name], use_markdown=False) for name in FIELDS],
        questions=_questions(QUESTIONS, dimension_choice_words(taxonomy)),
        metadata=[rg.TermsMetadataProperty("queue"), rg.TermsMetadataProperty("pipeline_status"),
                  rg.TermsMetadataProperty("domain_ids"), rg.TermsMetadataProperty("reason")],
        guidelines=GUIDELINES,
        distribution=rg.TaskDistribution(min_submitted=min_submitted))


def label_dataset_settings(taxonomy: Taxonomy, min_submitted: int) -> rg.Settings:
    """The Argilla dataset settings of the label review queue: the prompt, the labelling model's guess, a question
    per dimension and one on the semantic type."""
    return rg.Settings(
        fields=[rg.TextField(name, title=FIELD_TITLES[name], use_markdown=False) for name in LABEL_FIELDS],
        questions=_questions(label_questions(taxonomy)),
        metadata=[rg.TermsMetadataProperty("queue"), rg.TermsMetadataProperty("reason")],
        guidelines=LABEL_GUIDELINES,
        distribution=rg.TaskDistribution(min_submitted=min_submitted))


def ensure_accounts(client: rg.Argilla, store: Store, panel: str, password: str | None = None) -> list[str]:
    """Annotator accounts for the panel's members, in the panel's workspace; returns those created."""
    workspace = quietly(client.workspaces, workspace_name(panel)) or rg.Workspace(name=workspace_name(panel), client=client).create()
    members = {u.username for u in workspace.users}
    created = []
    for annotator in store.annotators(panel):
        username = annotator["argilla_username"] or annotator["name"]
        user = quietly(client.users, username)
        if user is None:
            password = password or os.environ.get(DEFAULT_PASSWORD_ENV)
            if not password:
                raise UsageError(f"give annotator accounts a password with --annotator-password or {DEFAULT_PASSWORD_ENV}")
            user = rg.User(username=username, first_name=annotator["name"], role="annotator", password=password,
                           client=client).create()
            created.append(username)
        if username not in members:
            workspace.add_user(user)
    return created


def _record(item: dict, scores: dict, domain_ids: list[str], domains: str, semantic_type: str, judge: str | None,
            threshold: float, suggest: bool, fields: set[str]) -> rg.Record:
    """A pair queue's record; the judge's verdicts (a plain field) and pre-selected answers (suggestions)
    only where the panel asked for them (``suggest``): otherwise people answer unanchored."""
    agent = re.sub(r"[^a-zA-Z0-9\-_:./\s]+", "-", judge or "judge").strip("-")  # Argilla's allowed agent names
    suggestions = []
    if suggest:
        for question, (answer, score) in judge_suggestions(scores, threshold).items():
            suggestions.append(rg.Suggestion(question, answer, score=score, agent=agent))
    values = {"prompt": item["prompt"], "aligned_response": item["aligned"] or "(no aligned candidate passed)",
              "misaligned_response": item["misaligned"] or "(no misaligned candidate passed)",
              "domains": domains or "(none assigned)", "semantic_type": semantic_type or "unknown",
              "judge": judge_view(scores, judge) if suggest else HIDDEN_JUDGE}
    return rg.Record(
        id=item["pair_id"], fields={k: v for k, v in values.items() if k in fields},  # a dataset made before a field
        metadata={"queue": item["queue"], "pipeline_status": item["status"] or "", "reason": item["reason"][:200],
                  "domain_ids": domain_ids or ["none"]},
        suggestions=suggestions)


def review_push(store: Store, taxonomy: Taxonomy, config=None,
                options: PushOptions | None = None) -> StageReport[PushNotes]:
    """The push as a stage of the loop: the panel's queued items to the Argilla server of ``options``,
    with progress per committed batch (``config`` is the stage contract's; no engine is read)."""
    options = options or PushOptions()
    options.check()
    client = argilla_client(options.url, options.api_key)
    waiting = sum(1 for q in options.queues for i in store.review_items(panel=options.panel, queue=q)
                  if i["pushed_at"] is None)
    with progress(waiting, f"push ({options.panel})", "records") as bar:
        return push(store, taxonomy, options.panel, client, options.queues, options.password, options.batch,
                    on_batch=bar.update)


def review_pull(store: Store, taxonomy: Taxonomy, config=None,
                options: PullOptions | None = None) -> StageReport[PullNotes]:
    """The pull as a stage of the loop: every panel's submitted answers from the Argilla server of
    ``options`` (``config`` is the stage contract's)."""
    options = options or PullOptions()
    options.check()
    return pull(store, taxonomy, argilla_client(options.url, options.api_key))


def push(store: Store, taxonomy: Taxonomy, panel: str, client: rg.Argilla, queues: tuple[str, ...] = ALL_QUEUES,
         password: str | None = None, batch: int = PUSH_BATCH, threshold: float = 0.5,
         on_batch: Callable[[int], None] | None = None) -> StageReport:
    """Send the panel's queued items that are not pushed yet; ``on_batch`` hears how many each
    committed batch sent. Returns the report."""
    with server_errors(client.api_url):
        return _push(store, taxonomy, panel, client, queues, password, batch, threshold, on_batch)


@dataclass
class PushNotes(Notes):
    accounts_created: int = 0
    datasets_recreated: int = 0  # datasets deleted in Argilla since the last push, sent again whole
    app_answers_sent: int = 0  # answers given in the app, mirrored to Argilla
    already_pushed: int = 0  # items an earlier push sent, not sent again


@dataclass
class PullNotes(Notes):
    pairs_updated: int = 0
    prompts_relabelled: int = 0
    already_stored: int = 0  # answers the store already holds as Argilla has them


def _push(store: Store, taxonomy: Taxonomy, panel: str, client: rg.Argilla, queues: tuple[str, ...] = ALL_QUEUES,
         password: str | None = None, batch: int = PUSH_BATCH, threshold: float = 0.5,
         on_batch: Callable[[int], None] | None = None) -> StageReport[PushNotes]:
    settings = store.panel(panel)
    if settings is None:
        raise UsageError(f"no panel named '{panel}'; add it with 'misalign review panel add'")
    params = {"panel": panel, "queues": list(queues), "backend": "argilla", "url": client.api_url}
    with store.stage_run("review_push", params, PushNotes()) as report:
        report.notes.accounts_created = len(ensure_accounts(client, store, panel, password))
        workspace = client.workspaces(workspace_name(panel))
        for queue in queues:
            items = store.review_items(panel=panel, queue=queue)
            todo = [i for i in items if i["pushed_at"] is None]
            name = f"misalign-{queue}"
            dataset = quietly(client.datasets, name, workspace=workspace) if items else None
            if dataset is None and len(todo) < len(items):  # deleted in Argilla since: every item goes again
                todo = items
                with store.transaction():
                    store.clear_mirrored(panel, queue)
                report.notes.datasets_recreated += 1
            report.items_in += len(todo)
            report.notes.already_pushed += len(items) - len(todo)
            mirror = store.answers_to_mirror(panel, queue)
            if not todo and not mirror:
                continue
            queue_settings = (label_dataset_settings(taxonomy, settings["min_submissions"]) if queue == LABEL_QUEUE
                              else dataset_settings(taxonomy, settings["min_submissions"]))
            dataset = dataset or rg.Dataset(name=name, workspace=workspace, settings=queue_settings,
                                            client=client).create()
            wanted = {i["id"] for i in todo} | {a["item_id"] for a in mirror}  # what is sent now: new items, and items answered in the app
            records = _records(store, taxonomy, queue, [i for i in items if i["id"] in wanted], threshold,
                               bool(settings["show_suggestions"]), {f.name for f in dataset.settings.fields})
            key = "prompt_id" if queue == LABEL_QUEUE else "pair_id"
            for begin in range(0, len(todo), batch):
                chunk = todo[begin:begin + batch]
                send_records(dataset, records(chunk), len(chunk))
                with store.transaction():
                    store.mark_pushed([i["id"] for i in chunk], "argilla", {i["id"]: i[key] for i in chunk}, utc_now())
                report.kept += len(chunk)
                if on_batch:
                    on_batch(len(chunk))
            report.notes.app_answers_sent += _mirror(
                store, taxonomy, client, dataset, queue, records, items, store.answers_to_mirror(panel, queue))
    return report


def send_records(dataset: rg.Dataset, records: list, batch_size: int) -> None:
    """Records into an Argilla dataset; the SDK's own "Sending records" bar is not shown (the stage says how
    far it is in its own progress lines)."""
    with contextlib.redirect_stderr(io.StringIO()):
        dataset.records.log(records, batch_size=batch_size)


def _mirror(store: Store, taxonomy: Taxonomy, client: rg.Argilla, dataset: rg.Dataset, queue: str,
            records: Callable[[list], list], items: list[dict], answers: list[dict]) -> int:
    """Answers given in the app, sent to Argilla as their annotators' submitted responses: the item is
    then done for that person there too, and Argilla's progress counts it. Returns how many were sent."""
    by_item = {i["id"]: i for i in items}
    users = {}
    for name in {a["username"] for a in answers}:
        user = quietly(client.users, name)
        users[name] = user.id if user is not None else None
    sent = [a for a in answers if users[a["username"]] is not None]
    if not sent:
        return 0
    logged = {}
    for item_id in dict.fromkeys(a["item_id"] for a in sent):
        [logged[item_id]] = records([by_item[item_id]])
    for answer in sent:
        values = (label_answer_values(taxonomy, answer["labels"]) if queue == LABEL_QUEUE else
                  {q.name: answer[q.name] for q in QUESTIONS if answer[q.name] not in (None, [], "")})
        for question, value in values.items():
            logged[answer["item_id"]].responses.add(rg.Response(question, value, user_id=users[answer["username"]],
                                                                status="submitted"))
    send_records(dataset, list(logged.values()), min(50, len(logged)))  # the SDK warns at more than it logs
    with store.transaction():
        store.mark_mirrored([(a["item_id"], a["annotator"]) for a in sent], utc_now())
    return len(sent)


def _records(store: Store, taxonomy: Taxonomy, queue: str, items: list[dict], threshold: float, suggest: bool,
             fields: set[str]) -> Callable[[list], list]:
    """How a queue's items become records."""
    if queue == LABEL_QUEUE:
        return _label_records
    pair_ids = [i["pair_id"] for i in items]
    scores, domains = store.pair_judge_scores(pair_ids), store.pair_domains(pair_ids)
    types = store.top_semantic_types([i["prompt_id"] for i in items])

    def records(chunk: list[dict]) -> list[rg.Record]:
        """Pair items as records: their domains in words, semantic type and the judge's verdicts."""
        return [_record(i, scores.get(i["pair_id"], {}), domains.get(i["pair_id"], []), "; ".join(
            f"{taxonomy.dimension_names[taxonomy.domain(d).dimension]}: {taxonomy.domain(d).name}"
            for d in domains.get(i["pair_id"], [])), types.get(i["prompt_id"]), i["judge"], threshold, suggest, fields)
            for i in chunk]
    return records


def _label_records(chunk: list[dict]) -> list[rg.Record]:
    """Label review items as records: the prompt and the labelling model's doubt, nothing pre-selected."""
    return [rg.Record(id=i["prompt_id"], fields={"prompt": i["prompt"], "labeller_guess": i["reason"]},
                      metadata={"queue": LABEL_QUEUE, "reason": i["reason"][:200]}) for i in chunk]


def submitted_responses(client: rg.Argilla, dataset_id: str, page: int = 1000) -> Iterator[tuple[str, str, dict, str]]:
    """(record id, user id, values, when last changed) of every submitted response in a dataset. The SDK's
    records leave out when a response was given, which decides whether it is newer than the store's answer,
    so this reads the REST API the SDK reads; times are UTC ISO 8601 to the second, as the store's."""
    offset = 0
    while True:
        answer = client.api.http_client.get(f"/api/v1/datasets/{dataset_id}/records",
                                            params={"offset": offset, "limit": page, "include": ["responses"]})
        answer.raise_for_status()
        records = answer.json()["items"]
        for record in records:
            for response in record.get("responses") or []:
                if response["status"] == "submitted":
                    values = {q: v.get("value") for q, v in (response.get("values") or {}).items()}
                    yield str(record["external_id"]), str(response["user_id"]), values, utc_seconds(
                        response["updated_at"])
        if len(records) < page:
            return
        offset += len(records)


def holdings(client: rg.Argilla, panel_queues: list[tuple[str, str]]) -> dict[tuple[str, str], int | None]:
    """How many records Argilla holds for each (panel, queue): None where its dataset is not there (never
    pushed, or deleted in Argilla since; the next push sends every item again)."""
    held = {}
    with server_errors(client.api_url):
        for panel, queue in panel_queues:
            workspace = quietly(client.workspaces, workspace_name(panel))
            dataset = quietly(client.datasets, f"misalign-{queue}", workspace=workspace) if workspace else None
            if dataset is None:
                held[panel, queue] = None
                continue
            answer = client.api.http_client.get(f"/api/v1/datasets/{dataset.id}/progress")
            answer.raise_for_status()
            held[panel, queue] = int(answer.json()["total"])
    return held


def pull(store: Store, taxonomy: Taxonomy, client: rg.Argilla) -> StageReport:
    """Submitted responses of every panel's datasets into the store's annotations (a response already
    pulled, unchanged, is left as it was); the pairs' human statuses and the panels' labels follow."""
    with server_errors(client.api_url):
        return _pull(store, taxonomy, client)


def _pull(store: Store, taxonomy: Taxonomy, client: rg.Argilla) -> StageReport:
    with store.stage_run("review_pull", {"backend": "argilla", "url": client.api_url}, PullNotes()) as report:
        usernames = {str(u.id): u.username for u in client.users}
        rows, touched, relabel, seen = [], set(), {}, 0
        for panel in store.panels():
            workspace = quietly(client.workspaces, workspace_name(panel["name"]))
            if workspace is None:
                continue
            annotators = {a["argilla_username"] or a["name"]: a["name"] for a in store.annotators(panel["name"])}
            stored = {(a["item_id"], a["annotator"]): a for a in store.annotations(panel["name"])}
            for queue in ALL_QUEUES:
                dataset = quietly(client.datasets, f"misalign-{queue}", workspace=workspace)
                if dataset is None:
                    continue
                key = "prompt_id" if queue == LABEL_QUEUE else "pair_id"
                items = {i[key]: i for i in store.review_items(panel=panel["name"], queue=queue)}
                for record_id, user_id, values, changed_at in submitted_responses(client, str(dataset.id)):
                    item = items.get(record_id)
                    seen += 1
                    annotator = annotators.get(usernames.get(user_id, ""))
                    if item is None or annotator is None:
                        report.drop("unknown_record_or_user")
                        continue
                    try:
                        answers = ({"labels": check_label_answers(taxonomy, values)} if queue == LABEL_QUEUE
                                   else check_answers(values))
                    except ValueError:
                        report.drop("unusable_answers")
                        continue
                    known = stored.get((item["id"], annotator))
                    if known and all(known[k] == v for k, v in answers.items()):
                        report.notes.already_stored += 1
                        continue
                    if known and known["submitted_at"] >= changed_at:
                        report.drop("older_than_the_stores_answer")  # the person answered again since
                        continue
                    rows.append({"item_id": item["id"], "annotator": annotator, **answers, "backend": "argilla",
                                 "submitted_at": changed_at, "is_example": 0})
                    if queue == LABEL_QUEUE:
                        relabel.setdefault(panel["name"], []).append(item["prompt_id"])
                    else:
                        touched.add(item["pair_id"])
        with store.transaction():  # an answer given in the app since the reads above still wins
            written = store.save_annotations(rows, newer_only=True)
            if written < len(rows):
                report.drop("older_than_the_stores_answer", len(rows) - written)
            update_human_statuses(store, sorted(touched))
            for panel_name, prompt_ids in relabel.items():
                update_human_labels(store, panel_name, prompt_ids)
        # in: the answers new to the store; those it holds already are counted apart, as other stages do
        report.items_in, report.kept = seen - report.notes.already_stored, written
        report.notes.pairs_updated = len(touched)
        report.notes.prompts_relabelled = sum(len(set(p)) for p in relabel.values())
    return report
