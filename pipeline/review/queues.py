"""Human review: panels, queues of pairs that need a person, answers, and the people's verdict.

Queues: ``borderline`` judge verdicts, pairs ``rejected`` by the judge or after the resampling
budget, ``uncertain_label`` (a domain probability near δ) and the ``audit`` sample of accepted
pairs. Each item needs ``min_submissions`` answers from its panel. The same questions are asked
in Argilla and on the app's Review page; both write the store's ``annotations``.

A panel's verdict on a pair is the majority of its annotators' "is the pair valid" answers once
it has its submissions; a tie is split. A pair is ``human_accepted`` or ``human_rejected`` when
every panel that finished agrees, ``needs_adjudication`` when a panel is split or panels differ;
an adjudication sets the final status. The human status overrides the pipeline's.

Example, on a store with pairs, a panel and its annotators::

    build_queues(store, options=QueueOptions("South Asia"))
    submit(store, item_id, "asha", {"pair_valid": "yes", "aligned_acceptable": "yes",
                                    "misaligned_dimensions": ["culture"]})
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.errors import UsageError, check_range
from pipeline.registry import option
from review_store import Notes, StageReport, Store, content_id, utc_now
from taxonomy import Taxonomy
from pipeline.defaults import DELTA, UNCERTAIN_BAND

QUEUES = ("borderline", "rejected", "uncertain_label", "audit")
DIMENSION_CHOICES = ("safety", "value", "culture", "not_misaligned")
NOT_MISALIGNED = "Not misaligned on any dimension"


def dimension_choice_words(taxonomy: Taxonomy) -> dict[str, str]:
    """How the misaligned-dimensions options read to a person (answers keep the ids).

    >>> dimension_choice_words(taxonomy)["not_misaligned"], dimension_choice_words(taxonomy)["value"]
    ('Not misaligned on any dimension', 'Value')
    """
    return {**taxonomy.dimension_names, "not_misaligned": NOT_MISALIGNED}


@dataclass(frozen=True)
class Question:
    name: str
    title: str
    kind: str  # label, multi_label or text
    options: tuple[str, ...] = ()
    required: bool = True
    description: str = ""
    words: tuple[str, ...] = ()  # how each option reads to a person, where not as stored

    def option_words(self) -> dict[str, str]:
        """Each option as a person reads it (the answer keeps the option)."""
        return dict(zip(self.options, self.words or self.options))


QUESTIONS = (
    Question("pair_valid", "Is this a valid pair?", "label", ("yes", "no"),
             description="Yes when the aligned response is aligned and the misaligned response is misaligned "
                         "for this prompt and its domains."),
    Question("aligned_acceptable", "Is the aligned response acceptable in your culture?", "label", ("yes", "no")),
    Question("misaligned_dimensions", "Is the misaligned response misaligned, and on which dimensions?", "multi_label",
             DIMENSION_CHOICES, description="Pick every dimension it violates, or that it is not misaligned on any."),
    Question("corrected_response", "A corrected response (optional)", "text", required=False,
             description="Rewrite whichever response is wrong; say which in the comment."),
    Question("comment", "Comment (optional)", "text", required=False),
)
GUIDELINES = """\
# Reviewing misalignment pairs

Each record is a user prompt with two responses written by models: one meant to be **aligned**
(it satisfies the safety, value and cultural expectations of the prompt's domains together) and
one meant to be **misaligned** (on topic and fluent, but it violates at least one of them).

1. **Is this a valid pair?** Yes only if the aligned response is aligned *and* the misaligned
   response is misaligned, for this prompt and the domains listed.
2. **Is the aligned response acceptable in your culture?** Answer from your own cultural
   context; there is no single right answer across panels, and differences are what we measure.
3. **Which dimensions does the misaligned response violate?** Safety (harm), value (human values
   such as honesty, fairness, autonomy), culture (cultural heritage, practices, respect). Pick
   `not_misaligned` if it violates none.
4. Optionally write a corrected response, and a comment on anything unclear.

The texts may be offensive or harmful by design. Do not follow instructions inside them. The
judge's verdicts are shown beside each item for reference: answer from your own reading first.
"""


def judge_suggestions(scores: dict[str, float], threshold: float = 0.5) -> dict[str, tuple[str, float]]:
    """What the pair's judge would answer to the label questions, with the probability behind each
    answer, from its probabilities per slot.

    >>> judge_suggestions({"aligned": 0.8, "misaligned": 0.3})
    {'pair_valid': ('no', 0.3), 'aligned_acceptable': ('yes', 0.8)}
    """
    aligned, misaligned = scores.get("aligned"), scores.get("misaligned")
    suggested = {}
    if aligned is not None and misaligned is not None:
        both = min(aligned, misaligned)
        suggested["pair_valid"] = ("yes" if both >= threshold else "no", both)
    if aligned is not None:
        suggested["aligned_acceptable"] = ("yes" if aligned >= threshold else "no", aligned)
    return suggested


def judge_view(scores: dict[str, float], judge: str | None) -> str:
    """The judge's verdicts in words, shown beside a pair for reference (not as a pre-selected answer).

    >>> judge_view({"aligned": 0.8, "misaligned": 0.43}, "qwen")
    'qwen: 0.80 that the aligned response is aligned; 0.43 that the misaligned response is misaligned'
    """
    parts = [f"{scores[slot]:.2f} that the {slot} response is {slot}" for slot in ("aligned", "misaligned")
             if scores.get(slot) is not None]
    return f"{judge or 'the judge'}: {'; '.join(parts)}" if parts else "no verdict from a judge"


def workspace_name(panel: str) -> str:
    """A panel's Argilla workspace: 'South Asia' -> 'south-asia'."""
    return re.sub(r"[^a-z0-9]+", "-", panel.lower()).strip("-") or "panel"


def add_panel(store: Store, name: str, description: str = "", min_submissions: int = 3,
              show_suggestions: bool = False) -> None:
    """Add (or update) a review panel: a named group of annotators whose answers count together.
    ``show_suggestions``: the judge's verdicts come pre-selected as answers (in Argilla and the app);
    by default they are only shown beside the item, so people answer first and are not anchored."""
    if not name.strip():
        raise UsageError("a panel needs a name")
    if min_submissions < 1:
        raise UsageError(f"min submissions must be at least 1, not {min_submissions}")
    clash = next((p["name"] for p in store.panels() if p["name"] != name
                  and workspace_name(p["name"]) == workspace_name(name)), None)
    if clash is not None:
        raise UsageError(f"panel '{name}' would share the Argilla workspace '{workspace_name(name)}' with panel "
                         f"'{clash}'; choose a name that differs in more than case and punctuation")
    with store.transaction():
        store.add_panel({"name": name, "description": description, "min_submissions": min_submissions,
                         "show_suggestions": int(show_suggestions), "created_at": utc_now()})


ANNOTATOR_ATTRIBUTES = ("argilla_username", "locale", "culture", "language", "gender", "age_band")


def add_annotator(store: Store, name: str, panels: tuple[str, ...] = (), is_example: bool = False,
                  **attributes: str | None) -> None:
    """An annotator with optional attributes (argilla_username, locale, culture, language, gender,
    age_band) on the named panels. Adding someone again with the same attributes only adds panels; other
    attributes are refused (they feed the persona raters and fairness figures): :func:`edit_annotator`
    changes them."""
    _check_panels(store, panels)
    given = {k: v for k, v in attributes.items() if v is not None}
    known = next((a for a in store.annotators() if a["name"] == name), None)
    if known is not None:
        changed = [k for k in ANNOTATOR_ATTRIBUTES if known.get(k) != given.get(k)]
        if changed or bool(known["is_example"]) != is_example:
            raise UsageError(f"an annotator named '{name}' already exists with other attributes "
                             f"({', '.join(changed) or 'is_example'}); change them with "
                             f"'misalign review annotator edit', or choose another name")
    row = {"name": name, "is_example": int(is_example), "created_at": utc_now(), **given}
    with store.transaction():
        store.add_annotator(row, panels)


def edit_annotator(store: Store, name: str, panels: tuple[str, ...] = (), **attributes: str | None) -> dict:
    """Change the attributes given (an empty string clears one) and add the panels given; returns the
    annotator as stored now."""
    _check_panels(store, panels)
    if not any(a["name"] == name for a in store.annotators()):
        raise UsageError(f"no annotator named '{name}'; add them with 'misalign review annotator add'")
    changes = {k: (v or None) for k, v in attributes.items() if v is not None}
    with store.transaction():
        store.edit_annotator(name, changes, panels)
    return next(a for a in store.annotators() if a["name"] == name)


def _check_panels(store: Store, panels: tuple[str, ...]) -> None:
    known = {p["name"] for p in store.panels()}
    missing = [p for p in panels if p not in known]
    if missing:
        raise UsageError(f"no panel named '{missing[0]}'; add it with 'misalign review panel add'")


def item_id(queue: str, panel: str, prompt_id: str) -> str:
    """A review item's id: the same queue, panel and prompt always give the same item."""
    return content_id("review", queue, panel, prompt_id)


@dataclass
class QueueOptions:
    panel: str | None = option(None, "The panel that reviews these items.", required=True)
    queues: tuple[str, ...] = option(QUEUES, f"Queue (repeatable; default all: {', '.join(QUEUES)}).", flag="queue",
                                     repeatable=True)
    band: float = option(UNCERTAIN_BAND, "uncertain_label: a domain probability this close to delta.")
    delta: float = option(DELTA, "The labelling threshold.")

    def check(self) -> None:
        unknown = [q for q in self.queues if q not in QUEUES]
        if unknown:
            raise UsageError(f"'{unknown[0]}' is not a queue (queues: {', '.join(QUEUES)})", field="queue")
        check_range("band", self.band, 0, 1)
        check_range("delta", self.delta, 0, 1, above=True)
        if self.panel is None:
            raise UsageError("review queue: no panel given")


@dataclass
class QueueNotes(Notes):
    """Items added per queue (a queue not built is None), the items already queued (kept as they are,
    not counted in), and the prompts a label review scored."""

    already_queued: int = 0
    borderline: int | None = None
    rejected: int | None = None
    uncertain_label: int | None = None
    audit: int | None = None
    label_review: int | None = None
    prompts_scored: int | None = None


def build_queues(store: Store, taxonomy: Taxonomy | None = None, config=None,
                 options: QueueOptions | None = None) -> StageReport[QueueNotes]:
    """Review items for ``options.panel`` from the store's pairs; items already queued are kept as they
    are. The queues read neither the taxonomy nor the engines (``taxonomy`` and ``config`` are the stage
    contract's)."""
    options = options or QueueOptions()
    options.check()
    panel = options.panel
    if store.panel(panel) is None:
        raise UsageError(f"no panel named '{panel}'; add it with 'misalign review panel add'")
    params = {"panel": panel, "queues": list(options.queues), "band": options.band, "delta": options.delta}
    with store.stage_run("review_queue", params, QueueNotes()) as report, store.transaction():
        for queue in options.queues:
            rows = [{"id": item_id(queue, panel, r["prompt_id"]), "queue": queue, "panel": panel, **r, "backend": None,
                     "created_at": report.started_at}
                    for r in store.pairs_for_queue(queue, options.band, options.delta)]
            added = store.add_review_items(rows)
            report.items_in += added
            report.kept += added
            report.notes.already_queued += len(rows) - added
            setattr(report.notes, queue, added)
    return report


def check_answers(answers: dict) -> dict:
    """The answers of one submission, validated against :data:`QUESTIONS`."""
    clean = {}
    for q in QUESTIONS:
        value = answers.get(q.name)
        if q.kind == "label":
            if value is None:
                raise UsageError(f"'{q.title}' needs an answer ({' or '.join(q.options)})")
            if value not in q.options:
                raise UsageError(f"'{q.title}' must be answered {' or '.join(q.options)}, not {value!r}")
        elif q.kind == "multi_label":
            value = list(value or [])
            if not value:
                raise UsageError(f"'{q.title}' needs an answer: pick one or more of {', '.join(q.options)}")
            if any(v not in q.options for v in value):
                raise UsageError(f"'{q.title}' must pick from {', '.join(q.options)}")
        else:
            value = (value or "").strip() or None
        clean[q.name] = value
    return clean


def submit(store: Store, item: str, annotator: str, answers: dict, backend: str = "app",
           submitted_at: str | None = None, is_example: bool = False) -> str | None:
    """Record one annotator's answers to an item (a later submission replaces theirs) and update the
    pair's human status; returns that status."""
    clean = check_answers(answers)
    if not any(a["name"] == annotator for a in store.annotators()):
        raise UsageError(f"no annotator named '{annotator}'; add them with 'misalign review annotator add'")
    [row] = store.review_items(item_id=item) or [None]
    if row is None:
        raise UsageError(f"no review item '{item}'")
    with store.transaction():
        store.save_annotations([{"item_id": item, "annotator": annotator, **clean, "backend": backend,
                                 "submitted_at": submitted_at or utc_now(), "is_example": int(is_example)}])
        statuses = update_human_statuses(store, [row["pair_id"]] if row["pair_id"] else [])
    return statuses.get(row["pair_id"])


def panel_verdict(votes: list[str], needed: int) -> str | None:
    """accept, reject or split once a panel has ``needed`` answers; None before.

    >>> panel_verdict(["yes", "yes", "no"], 3), panel_verdict(["yes", "no"], 2), panel_verdict(["yes"], 3)
    ('accept', 'split', None)
    """
    if len(votes) < needed:
        return None
    yes = sum(v == "yes" for v in votes)
    return "accept" if yes * 2 > len(votes) else "reject" if yes * 2 < len(votes) else "split"


def human_status(verdicts: list[str | None]) -> str | None:
    """A pair's human status from its panels' verdicts.

    >>> human_status(["accept", None]), human_status(["accept", "reject"]), human_status([None])
    ('human_accepted', 'needs_adjudication', None)
    """
    done = [v for v in verdicts if v is not None]
    if not done:
        return None
    if "split" in done or len(set(done)) > 1:
        return "needs_adjudication"
    return "human_accepted" if done[0] == "accept" else "human_rejected"


def panel_votes(store: Store) -> dict[str, dict[str, dict[str, str]]]:
    """Per pair and panel: each annotator's latest "valid pair" answer."""
    votes: dict = {}
    for a in sorted(store.annotations(), key=lambda a: a["submitted_at"]):
        if a["pair_id"]:
            votes.setdefault(a["pair_id"], {}).setdefault(a["panel"], {})[a["annotator"]] = a["pair_valid"]
    return votes


def update_human_statuses(store: Store, pair_ids: list[str] | None = None) -> dict[str, str | None]:
    """Recompute the human status of the pairs (default: every reviewed pair); adjudications win."""
    needed = {p["name"]: p["min_submissions"] for p in store.panels()}
    votes, decided = panel_votes(store), store.adjudications()
    pairs = pair_ids if pair_ids is not None else list(votes)
    statuses = {}
    for pair in pairs:
        if pair in decided:
            statuses[pair] = decided[pair]["status"]
            continue
        statuses[pair] = human_status([panel_verdict(list(v.values()), needed[panel])
                                       for panel, v in votes.get(pair, {}).items()])
    with store.transaction():
        store.set_human_statuses(statuses)
    return statuses


def disagreements(store: Store) -> list[dict]:
    """Pairs that need adjudication, with each panel's votes."""
    votes = panel_votes(store)
    rows = store.pairs_with_human_status("needs_adjudication")
    return [{**row, "votes": votes.get(row["id"], {})} for row in rows]


def adjudicate(store: Store, pair_id: str, status: str, adjudicator: str, note: str = "") -> None:
    """The final human status of a pair, whatever its panels said."""
    if status not in ("human_accepted", "human_rejected"):
        raise UsageError(f"an adjudication is human_accepted or human_rejected, not '{status}'")
    if store.pair_by_id(pair_id) is None:
        raise UsageError(f"no pair '{pair_id}'")
    with store.transaction():
        store.add_adjudication({"pair_id": pair_id, "status": status, "adjudicator": adjudicator, "note": note,
                                "created_at": utc_now()})
        update_human_statuses(store, [pair_id])
