"""What the pages do beyond a single read, each a named action: the figures computed from many reads (on the
app's read-only connection) and the answers, decisions, annotators and files they write (on a connection of
this module's own). Pages hold no store: a write is reachable only through a function here.
"""

from __future__ import annotations

import streamlit as st

from pipeline.app.shared import export_pair_table, reader, store_path
from pipeline.export.options import ExportOptions
from pipeline.export.splits import export, plan_export
from pipeline.review.agreement import agreement
from pipeline.review.label_review import labelling_models_against_people, submit_labels
from pipeline.review.queues import add_annotator, adjudicate, disagreements, submit
from review_store import StageReport, Store
from taxonomy import Taxonomy


@st.cache_resource
def _open_writer(path: str) -> Store:
    return Store(path)


def _writer() -> Store:
    return _open_writer(store_path())


# -- figures, read-only ---------------------------------------------------------------------------

def agreement_figures(answer: str, samples: int) -> dict:
    """Agreement within and between panels on one question (:func:`pipeline.review.agreement.agreement`)."""
    return agreement(reader(), answer, samples=samples)


def models_against_people(taxonomy: Taxonomy) -> list[dict]:
    """Each labelling model's top-1 against people's labels, model by model."""
    return labelling_models_against_people(reader(), taxonomy)


def pairs_to_adjudicate() -> list[dict]:
    """The pairs whose panels disagree, for a person to decide."""
    return disagreements(reader())


def plan(taxonomy: Taxonomy, options: ExportOptions):
    """What an export would write: its pairs with their splits, its id and what it leaves out."""
    return plan_export(reader(), taxonomy, options, export_pair_table())


# -- writes ---------------------------------------------------------------------------------------

def decide(pair_id: str, status: str, who: str, note: str) -> None:
    """A person's decision on a pair the panels disagree on."""
    adjudicate(_writer(), pair_id, status, who, note)


def join_panel(name: str, panel: str, **attributes) -> None:
    """A new annotator on a panel, under the name they will use in Argilla too."""
    add_annotator(_writer(), name, (panel,), argilla_username=name, **attributes)


def answer_pair(item_id: str, annotator: str, answers: dict) -> str | None:
    """A person's answers to a pair in review; returns the pair's status from people, None while waiting."""
    return submit(_writer(), item_id, annotator, answers, backend="app")


def answer_labels(taxonomy: Taxonomy, item_id: str, annotator: str, answers: dict) -> dict:
    """A person's labels for a prompt in the label review queue; returns the panel's labels for it."""
    return submit_labels(_writer(), taxonomy, item_id, annotator, answers, backend="app")


def write_export(taxonomy: Taxonomy, options: ExportOptions) -> StageReport:
    """The export, written to ``options.out``."""
    return export(_writer(), taxonomy, options=options)
