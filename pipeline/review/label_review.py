"""The ``label_review`` queue: the prompts a labelling model is least sure about, for people to confirm or
correct their domain per dimension and their semantic type. A panel's answers become the labeler
``human:<panel>`` (per prompt and dimension, the answer most of its annotators gave; a tie gives no
label), which a learned labelling model trains on like any other:
``misalign label --engine trained --train-on human:<panel>,imported:…``.

How unsure a labelling model is about a prompt, per dimension: ``margin``, how close its most probable
domain is to δ (|p − δ|; small is unsure), or ``entropy`` of its distribution (0–1; large is
unsure). A prompt counts by its least sure dimension.

Example, on a store labelled by ``trained:ab12`` with a panel::

    build_label_review(store, taxonomy, options=LabelQueueOptions("South Asia", "trained:ab12", size=50))
    submit_labels(store, taxonomy, item_id, "asha", {"safety": "None", "value": "Honesty",
                                                     "culture": "Language", "semantic_type": "relation"})
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.errors import UsageError, check_range
from pipeline.registry import option
from pipeline.review.queues import Question, QueueNotes, item_id
from pipeline.stages.label_agreement import label_agreement
from review_store import StageReport, Store, utc_now
from taxonomy import DIMENSIONS, Taxonomy
from pipeline.defaults import DELTA

LABEL_QUEUE = "label_review"
TYPE_QUESTION = "semantic_type"
NONE = "None"
MEASURES = ("margin", "entropy")


def human_labeler(panel: str) -> str:
    """The labeler a panel's label answers make."""
    return f"human:{panel}"


def label_questions(taxonomy: Taxonomy) -> tuple[Question, ...]:
    """One question per dimension (its domains by name, or None) and one on the semantic type."""
    questions = []
    for dimension in DIMENSIONS:  # domains in their groups (value: Schwartz's), each shown with its group
        domains = sorted(taxonomy.domains_of(dimension), key=lambda d: d.group)
        grouped = len({d.group for d in domains}) > 1
        questions.append(Question(
            dimension, f"Which {taxonomy.dimension_names[dimension].lower()} domain does this prompt fall in?", "label",
            tuple(d.name for d in domains) + (NONE,),
            description=f"The one {dimension} domain the prompt is about, or None when no {dimension} domain applies."
                        + (" Domains are listed by group; type to search." if grouped else ""),
            words=tuple(f"{d.group}: {d.name}" if grouped else d.name for d in domains) + (NONE,)))
    types = taxonomy.semantic_types
    return (*questions, Question(
        TYPE_QUESTION, "What does the risk in this prompt turn on: an object, an attribute or a relation?", "label",
        tuple(t.id for t in types), description=" ".join(f"{t.name}: {t.description}" for t in types),
        words=tuple(t.name for t in types)))


def uncertainty(probabilities: np.ndarray, delta: float, by: str) -> np.ndarray:
    """Per row of a distribution matrix: how unsure it is, larger meaning less sure.

    >>> uncertainty(np.array([[0.9, 0.1], [0.55, 0.45]]), 0.5, "margin").round(2).tolist()
    [-0.4, -0.05]
    >>> uncertainty(np.array([[1.0, 0.0], [0.5, 0.5]]), 0.5, "entropy").round(2).tolist()
    [0.0, 1.0]
    """
    if by == "margin":
        return -np.abs(probabilities.max(axis=1) - delta)
    p = probabilities / np.maximum(probabilities.sum(axis=1, keepdims=True), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(np.where(p > 0, p * np.log(p), 0.0), axis=1)
    return entropy / np.log(max(probabilities.shape[1], 2)) + 0.0  # + 0.0: no -0.0


def least_sure(store: Store, taxonomy: Taxonomy, labeler: str, by: str, delta: float) -> list[dict]:
    """Every prompt ``labeler`` stored distributions for, least sure first: (prompt_id, score, reason)."""
    names = {d.id: d.name for d in taxonomy.domains} | {"none": NONE}
    worst: dict[str, tuple[float, str]] = {}
    for dimension in DIMENSIONS:
        prompt_ids, domains, probabilities = store.label_distributions(labeler, dimension)
        if not prompt_ids:
            continue
        scores, top = uncertainty(probabilities, delta, by), probabilities.argmax(axis=1)
        for prompt_id, score, best, row in zip(prompt_ids, scores.tolist(), top.tolist(), probabilities):
            if prompt_id not in worst or score > worst[prompt_id][0]:
                domain = names.get(domains[best], domains[best])
                why = (f"its most probable {taxonomy.dimension_names[dimension]} domain, {domain} at {row[best]:.2f}, "
                       f"is {abs(score):.2f} from δ = {delta:g}" if by == "margin" else
                       f"its {taxonomy.dimension_names[dimension]} distribution has entropy {score:.2f} of 1 (most "
                       f"probable: {domain} at {row[best]:.2f})")
                worst[prompt_id] = (score, f"Chosen by {by}: {why}, the least sure of its dimensions for {labeler}.")
    return [{"prompt_id": p, "score": s, "reason": r}
            for p, (s, r) in sorted(worst.items(), key=lambda item: (-item[1][0], item[0]))]


@dataclass
class LabelQueueOptions:
    panel: str | None = option(None, "The panel that confirms or corrects the labels.", required=True)
    labeler: str | None = option(None, "The labeler (a labelling model's name) whose least sure prompts to queue, "
                                       "e.g. trained:ab12.", required=True)
    size: int = option(50, "How many prompts to queue.")
    by: str = option("margin", "margin (top domain's probability near delta) or entropy.")
    delta: float = option(DELTA, "The labelling threshold.")

    def check(self) -> None:
        if self.by not in MEASURES:
            raise UsageError(f"'{self.by}' is not a measure ({', '.join(MEASURES)})", field="by")
        check_range("size", self.size, 1)
        check_range("delta", self.delta, 0, 1, above=True)
        if self.panel is None or self.labeler is None:
            raise UsageError("label review queue: give a panel and a labeler")


def build_label_review(store: Store, taxonomy: Taxonomy, config=None,
                       options: LabelQueueOptions | None = None) -> StageReport[QueueNotes]:
    """Queue for ``options.panel`` the ``size`` prompts ``labeler`` is least sure about that the panel has
    not been asked about yet; returns the report (items queued; prompts already queued skipped and
    counted). Reads no engine (``config`` is the stage contract's)."""
    options = options or LabelQueueOptions()
    options.check()
    panel, labeler, size, by, delta = options.panel, options.labeler, options.size, options.by, options.delta
    if store.panel(panel) is None:
        raise UsageError(f"no panel named '{panel}'; add it with 'misalign review panel add'")
    candidates = least_sure(store, taxonomy, labeler, by, delta)
    if not candidates:
        known = ", ".join(store.labelers_with_labels()) or "none yet"
        raise UsageError(f"'{labeler}' has stored no probabilities to be unsure about "
                         f"(labelers: {known}); imported labels are certain by definition", field="labeler")
    queued = {i["prompt_id"] for i in store.review_items(panel=panel, queue=LABEL_QUEUE)}
    params = {"panel": panel, "queue": LABEL_QUEUE, "labeler": labeler, "size": size, "by": by, "delta": delta}
    with store.stage_run("review_label_queue", params, QueueNotes()) as report:
        fresh = [c for c in candidates if c["prompt_id"] not in queued][:size]
        already = [c["prompt_id"] for c in candidates if c["prompt_id"] in queued]
        report.items_in = len(fresh)
        report.notes.already_queued = len(already)  # skipped, as the pairs' queues count theirs
        report.notes.prompts_scored = len(candidates)
        with store.transaction():
            report.kept = store.add_review_items(
                {"id": item_id(LABEL_QUEUE, panel, c["prompt_id"]), "queue": LABEL_QUEUE, "panel": panel,
                 "prompt_id": c["prompt_id"], "pair_id": None, "reason": c["reason"], "backend": None,
                 "created_at": report.started_at} for c in fresh)
        report.notes.label_review = report.kept
    return report


def check_label_answers(taxonomy: Taxonomy, answers: dict) -> dict:
    """Answers by question (a domain's name or None per dimension, a semantic type) as ids."""
    ids = {(d.dimension, d.name): d.id for d in taxonomy.domains}
    clean = {}
    for q in label_questions(taxonomy):
        value = answers.get(q.name)
        if value not in q.options:
            raise UsageError(f"answer '{q.name}': choose one of the listed options, not {value!r}")
        clean[q.name] = value if q.name == TYPE_QUESTION else "none" if value == NONE else ids[(q.name, value)]
    return clean


def label_answer_values(taxonomy: Taxonomy, labels: dict) -> dict:
    """Stored label answers (ids) as the questions' options again (domain names, None): the inverse
    of :func:`check_label_answers`."""
    return {q: value if q == TYPE_QUESTION else NONE if value == "none" else taxonomy.domain(value).name
            for q, value in labels.items()}


def submit_labels(store: Store, taxonomy: Taxonomy, item: str, annotator: str, answers: dict, backend: str = "app",
                  submitted_at: str | None = None) -> dict:
    """Record one annotator's labels for a label review item (a later submission replaces theirs);
    returns the panel's labels for the prompt as they now stand."""
    clean = check_label_answers(taxonomy, answers)
    if not any(a["name"] == annotator for a in store.annotators()):
        raise UsageError(f"no annotator named '{annotator}'; add them with 'misalign review annotator add'")
    [row] = store.review_items(item_id=item) or [None]
    if row is None or row["queue"] != LABEL_QUEUE:
        raise UsageError(f"no label review item '{item}'")
    with store.transaction():
        store.save_annotations([{"item_id": item, "annotator": annotator, "labels": clean, "backend": backend,
                                 "submitted_at": submitted_at or utc_now(), "is_example": 0}])
        return update_human_labels(store, row["panel"], [row["prompt_id"]]).get(row["prompt_id"], {})


def majority(votes: list[str]) -> str | None:
    """The answer most votes gave; None on a tie.

    >>> majority(["a", "b", "a"]), majority(["a", "b"]), majority([])
    ('a', None, None)
    """
    counts = sorted(((votes.count(v), v) for v in set(votes)), reverse=True)
    if not counts or (len(counts) > 1 and counts[0][0] == counts[1][0]):
        return None
    return counts[0][1]


def update_human_labels(store: Store, panel: str, prompt_ids: list[str]) -> dict[str, dict[str, str]]:
    """Recompute the labels of ``human:<panel>`` for the prompts from the panel's latest answers."""
    votes: dict[str, dict[str, list[str]]] = {}
    for a in store.annotations(panel):
        if a["queue"] == LABEL_QUEUE and a["labels"] and a["prompt_id"] in prompt_ids:
            for question, answer in a["labels"].items():
                votes.setdefault(a["prompt_id"], {}).setdefault(question, []).append(answer)
    name, decided = human_labeler(panel), {}
    labels, types = [], []
    for prompt_id, by_question in votes.items():
        for question, answers in by_question.items():
            chosen = majority(answers)
            if chosen is None:
                continue
            decided.setdefault(prompt_id, {})[question] = chosen
            share = answers.count(chosen) / len(answers)
            if question == TYPE_QUESTION:
                types.append({"prompt_id": prompt_id, "type": chosen, "probability": share, "labeler": name})
            else:
                labels.append({"prompt_id": prompt_id, "dimension": question, "domain": chosen, "probability": share,
                               "labeler": name})
    with store.transaction():
        store.replace_labels(name, prompt_ids, labels, types)
    return decided


def labelling_models_against_people(store: Store, taxonomy: Taxonomy, delta: float = DELTA) -> list[dict]:
    """How each model labelling model agrees with each panel's labels, on prompts people labelled after the labelling model
    was made (so never on what a learned labelling model was fitted on), in the labelling figures every report uses
    (:mod:`pipeline.labelling.figures`): per (panel, labelling model, dimension) the prompts, top-1 among real
    domains and accuracy (None included) on the argmax, and at δ (the labels it stores) accuracy and the share
    labelled None beside the share people said None to. Labelling models in the order they were made: a refit after corrections
    comes after the one before."""
    answered: dict[str, dict[str, str]] = {}  # panel -> prompt -> latest answer time
    for a in store.annotations():
        if a["queue"] == LABEL_QUEUE and a["labels"]:
            times = answered.setdefault(a["panel"], {})
            times[a["prompt_id"]] = max(times.get(a["prompt_id"], ""), a["submitted_at"])
    labelers = [store.labeler(n) for n in store.labelers_with_labels()]
    models = sorted((m for m in labelers if m["engine"] not in (None, "imported", "human") and m["created_at"]),
                    key=lambda m: (m["created_at"], m["name"]))
    rows = []
    for panel, times in sorted(answered.items()):
        for model in models:
            later = [p for p, at in times.items() if at > model["created_at"]]
            if not later:
                continue
            figures = label_agreement(store, model["name"], human_labeler(panel), taxonomy, delta, {"ids": later})
            for dimension, f in figures.items():
                if f["n"]:
                    at = f["at_delta"]  # the labels the model stores, beside what people said
                    rows.append({"panel": panel, "labelling model": model["name"], "made": model["created_at"],
                                 "dimension": dimension, "prompts": f["n"], "top-1 among real domains": f["top1_real"],
                                 "accuracy": f["accuracy"], f"accuracy at δ {delta:g}": at["accuracy"],
                                 f"None at δ {delta:g}": at["predicted_none"], "None in people's labels": f["reference_none"]})
    return rows
