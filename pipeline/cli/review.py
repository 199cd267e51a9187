"""``misalign review ...``: panels, annotators, queues, Argilla push and pull, status, agreement,
adjudication."""

from __future__ import annotations

import json
import os
import math
from typing import Annotated, Optional

import typer

from pipeline.cli.common import echo
from pipeline.cli.declared import with_options
from pipeline.review.argilla.options import PushOptions

from pipeline.errors import ServiceError, UsageError
from pipeline.flow.run import run_stage
from pipeline.review.label_review import LabelQueueOptions
from pipeline.review.queues import (ANNOTATOR_ATTRIBUTES, QueueOptions, add_annotator, add_panel, adjudicate, disagreements,
                                    edit_annotator)
from pipeline.defaults import BOOTSTRAP_SAMPLES

review_app = typer.Typer(help="Human review: panels, queues, Argilla or the app, agreement.", no_args_is_help=True)
panel_app = typer.Typer(help="Review panels (named groups of annotators).", no_args_is_help=True)
annotator_app = typer.Typer(help="Annotators and their attributes.", no_args_is_help=True)
review_app.add_typer(panel_app, name="panel")
review_app.add_typer(annotator_app, name="annotator")


def _on_store(ctx: typer.Context, action, *args, **kwargs):
    """Run an action on the existing store."""
    with ctx.obj.open_store(must_exist=True) as store:
        return action(store, *args, **kwargs)


@panel_app.command("add")
def panel_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="e.g. 'South Asia'.")],
    description: Annotated[str, typer.Option(help="Who sits on it.")] = "",
    min_submissions: Annotated[int, typer.Option(help="Answers each item needs from this panel.")] = 3,
    show_suggestions: Annotated[bool, typer.Option(help="Pre-select the judge's verdicts as answers (default: "
                                                        "shown beside the item only, so people are not anchored).")] = False,
) -> None:
    """Add (or update) a panel."""
    _on_store(ctx, add_panel, name, description, min_submissions, show_suggestions)
    echo(f"panel '{name}': {min_submissions} submissions per item"
               + ("; the judge's verdicts pre-selected" if show_suggestions else ""))


@panel_app.command("list")
def panel_list(ctx: typer.Context) -> None:
    """Panels and their members."""
    with ctx.obj.open_store(must_exist=True, only_reads=True) as store:
        panels = store.panels()
    for p in panels:
        echo(f"{p['name']}: {p['min_submissions']} per item; members: {', '.join(p['members']) or 'none yet'}")
    if not panels:
        echo("no panels yet: misalign review panel add NAME")


@annotator_app.command("add")
def annotator_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    panel: Annotated[Optional[list[str]], typer.Option(help="A panel they sit on (repeatable).")] = None,
    argilla_username: Annotated[Optional[str], typer.Option(help="Their Argilla user name (default: NAME).")] = None,
    locale: Annotated[Optional[str], typer.Option()] = None,
    culture: Annotated[Optional[str], typer.Option()] = None,
    language: Annotated[Optional[str], typer.Option()] = None,
    gender: Annotated[Optional[str], typer.Option()] = None,
    age_band: Annotated[Optional[str], typer.Option(help="e.g. 25-34.")] = None,
) -> None:
    """Add an annotator; every attribute is optional and stored as given."""
    _on_store(ctx, add_annotator, name, tuple(panel or ()), argilla_username=argilla_username or name, locale=locale,
            culture=culture, language=language, gender=gender, age_band=age_band)
    echo(f"annotator '{name}' on {', '.join(panel or ()) or 'no panel yet'}")


@annotator_app.command("edit")
def annotator_edit(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    panel: Annotated[Optional[list[str]], typer.Option(help="A panel to add them to (repeatable).")] = None,
    argilla_username: Annotated[Optional[str], typer.Option()] = None,
    locale: Annotated[Optional[str], typer.Option()] = None,
    culture: Annotated[Optional[str], typer.Option()] = None,
    language: Annotated[Optional[str], typer.Option()] = None,
    gender: Annotated[Optional[str], typer.Option()] = None,
    age_band: Annotated[Optional[str], typer.Option()] = None,
) -> None:
    """Change an annotator's attributes (only those given; "" clears one) or add them to panels."""
    person = _on_store(ctx, edit_annotator, name, tuple(panel or ()), argilla_username=argilla_username, locale=locale,
                     culture=culture, language=language, gender=gender, age_band=age_band)
    shown = ", ".join(f"{k} {person[k]}" for k in ANNOTATOR_ATTRIBUTES if person.get(k))
    echo(f"annotator '{name}': {shown or 'no attributes'}")


@review_app.command("queue")
@with_options(QueueOptions)
def queue_command(ctx: typer.Context, options: QueueOptions) -> None:
    """Queue the pairs that need a person for a panel; queued items stay as they are."""
    with ctx.obj.open_store(must_exist=True) as store:
        report = run_stage("review_queue", store, None, None, options)
    echo(report.summary())


@review_app.command("label-queue")
@with_options(LabelQueueOptions)
def label_queue_command(ctx: typer.Context, options: LabelQueueOptions) -> None:
    """Queue the prompts a labelling model is least sure about (queue label_review); the panel's answers become
    the labeler human:PANEL, which 'misalign label --engine trained --train-on' can learn from."""

    tax = ctx.obj.taxonomy()
    with ctx.obj.open_store(must_exist=True) as store:
        report = run_stage("review_label_queue", store, tax, None, options)
    echo(report.summary())


@review_app.command("push")
@with_options(PushOptions)
def push_command(
    ctx: typer.Context,
    options: PushOptions,
    backend: Annotated[str, typer.Option(help="argilla (the app's Review page needs no push).")] = "argilla",
) -> None:
    """Send a panel's queued items to Argilla (ARGILLA_API_URL, ARGILLA_API_KEY); resumable, idempotent."""
    if backend != "argilla":
        raise UsageError(f"'{backend}' is not a push backend (argilla)", field="backend")
    tax = ctx.obj.taxonomy()
    echo(_on_store(ctx, lambda store: run_stage("review_push", store, tax, None, options)).summary())


@review_app.command("pull")
def pull_command(ctx: typer.Context) -> None:
    """Bring submitted Argilla responses back as annotations; pairs get their human statuses, label
    review answers become the labeler human:PANEL."""
    tax = ctx.obj.taxonomy()
    echo(_on_store(ctx, lambda store: run_stage("review_pull", store, tax, None)).summary())


@review_app.command("status")
def status_command(ctx: typer.Context) -> None:
    """Review progress per panel and queue, and pairs by human status; with ARGILLA_API_URL set, also how
    many records Argilla holds of each queue (what was pushed can have been deleted there since)."""
    with ctx.obj.open_store(must_exist=True, only_reads=True) as store:
        progress, statuses = store.review_progress(), store.human_status_counts()
    held = _argilla_holdings([(r["panel"], r["queue"]) for r in progress if r["pushed"]])
    echo(f"{'panel':24} {'queue':16} {'items':>6} {'complete':>8} {'answers':>8} {'pushed':>6}"
         + (f" {'in Argilla':>10}" if held is not None else ""))
    for r in progress:
        line = (f"{r['panel'][:24]:24} {r['queue']:16} {r['items']:>6} {r['complete']:>8} {r['submissions']:>8} "
                f"{r['pushed']:>6}")
        if held is not None:
            count = held.get((r["panel"], r["queue"]), 0)
            line += f" {'missing' if count is None else count:>10}"
        echo(line)
    if held and None in held.values():
        echo("missing: pushed, but Argilla has no such dataset (deleted there?); the next review push sends every "
             "item again")
    if not progress:
        echo("nothing queued yet: misalign review queue --panel NAME")
    echo("human statuses: " + (", ".join(f"{k} {v}" for k, v in sorted(statuses.items())) or "none yet"))


def _argilla_holdings(panel_queues: list[tuple[str, str]]) -> dict | None:
    """What Argilla holds, when ARGILLA_API_URL says where it is; None (with a line why) when it cannot say."""
    from pipeline.review.argilla.sync import argilla_client, holdings

    if not os.environ.get("ARGILLA_API_URL"):
        return None
    try:
        return holdings(argilla_client(), panel_queues)
    except (ServiceError, UsageError) as exc:
        echo(f"{exc}; what Argilla holds is not shown", err=True)
        return None


def _number(value: float) -> str:
    return "  n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:5.2f}"


@review_app.command("agreement")
def agreement_command(
    ctx: typer.Context,
    answer: Annotated[str, typer.Option(help="pair_valid or aligned_acceptable.")] = "pair_valid",
    samples: Annotated[int, typer.Option("--bootstrap", "--samples", min=1,
                                         help="Bootstrap resamples for the intervals.")] = BOOTSTRAP_SAMPLES,
    domains: Annotated[bool, typer.Option(help="Also per domain.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Krippendorff's alpha, Fleiss' kappa, Cohen's kappa (95% bootstrap intervals) per panel and domain;
    divergence between panels."""
    from pipeline.review.agreement import agreement

    result = _on_store(ctx, agreement, answer, samples)
    if as_json:
        echo(json.dumps(result, indent=2, default=str))
        return
    echo(f"agreement on '{answer}'")
    echo(f"{'panel / domain':40} {'items':>5} {'alpha':>5} {'95% CI':>13} {'fleiss':>6} {'95% CI':>13} {'cohen':>5}")
    for panel, figures in result["panels"].items():
        rows = [(panel, figures)] + ([(f"  {d}", f) for d, f in figures["domains"].items()] if domains else [])
        for name, f in rows:
            echo(f"{name[:40]:40} {f['items']:>5} {_number(f['alpha'])} "
                       f"[{_number(f['alpha_ci'][0])},{_number(f['alpha_ci'][1])}] {_number(f['fleiss_kappa']):>6} "
                       f"[{_number(f['fleiss_ci'][0])},{_number(f['fleiss_ci'][1])}] {_number(f['cohen_mean'])}")
    for d in result["divergence"]:
        echo(f"divergence {d['panels'][0]} vs {d['panels'][1]}: {d['pairs']} pairs, mean |difference in yes| "
                   f"{_number(d['mean_abs_difference'])}, verdicts differ {_number(d['verdicts_differ'])}")


@review_app.command("disagreements")
def disagreements_command(ctx: typer.Context) -> None:
    """Pairs whose panels are split or differ: the adjudication queue."""
    rows = _on_store(ctx, disagreements)
    for row in rows:
        votes = "; ".join(f"{panel}: {', '.join(f'{a} {v}' for a, v in sorted(v.items()))}"
                          for panel, v in sorted(row["votes"].items()))
        echo(f"{row['id']}  {votes}")
    echo(f"{len(rows)} pairs need adjudication")


@review_app.command("adjudicate")
def adjudicate_command(
    ctx: typer.Context,
    pair_id: Annotated[str, typer.Argument()],
    status: Annotated[str, typer.Option(help="human_accepted or human_rejected.")],
    by: Annotated[str, typer.Option(help="Who decides.")],
    note: Annotated[str, typer.Option()] = "",
) -> None:
    """Set a pair's final human status, whatever its panels said."""
    _on_store(ctx, adjudicate, pair_id, status, by, note)
    echo(f"pair {pair_id}: {status} (adjudicated by {by})")
