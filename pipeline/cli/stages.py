"""``misalign ingest|dedup|label|expand|funnel|pairs|export``: the stages of the flow, in order."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline.export.options import ExportOptions
from pipeline.stages.responses import ImportResponsesOptions
from pipeline.stages.options import DedupOptions, ExpandOptions, IngestOptions, LabelOptions
from pipeline.stages.pairs.options import PairImportOptions, checks_from_config, parse_checks
from pipeline.cli.common import echo, echo_left_out
from pipeline.cli.declared import with_options
from pipeline.errors import UsageError
from pipeline.flow.run import run_stage

SAMPLING_HELP = "Default: the engine's \\[engines.NAME.sampling] in misalign.toml, else the stage's (misalign config show)."

commands = typer.Typer()


@commands.command("ingest")
@with_options(IngestOptions)
def ingest_command(ctx: typer.Context, options: IngestOptions) -> None:
    """Add prompts from FILE; exact duplicates collapse, sources are kept. Re-running adds nothing."""
    tax = ctx.obj.taxonomy()
    with ctx.obj.open_store() as store:
        report = run_stage("ingest", store, tax, None, options)
    echo(report.summary())


@commands.command("dedup")
@with_options(DedupOptions)
def dedup_command(ctx: typer.Context, options: DedupOptions) -> None:
    """Remove near-duplicate prompts (SimHash); incremental, with an audit of every removal."""
    options.check()  # a bad setting stops here, before the store is opened
    with ctx.obj.open_store(must_exist=True) as store:
        report = run_stage("dedup", store, None, None, options)
    echo(report.summary())


label_app = typer.Typer(help="Label prompts into the taxonomy; 'label models' lists the fitted labelling models.")


@label_app.callback(invoke_without_command=True)
@with_options(LabelOptions)
def label_command(
    ctx: typer.Context,
    options: LabelOptions,
    evaluate_against: Annotated[Optional[str], typer.Option(help="Compare with another labeler's labels, e.g. imported:misalign_bench_prompts_dev.csv")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the agreement report as JSON.")] = False,
) -> None:
    """Label prompts into the taxonomy with an engine (resumable), and optionally measure agreement."""
    if ctx.invoked_subcommand:
        return
    from pipeline.stages.label_agreement import label_agreement
    from pipeline.labelling.figures import figure_lines

    tax, config = ctx.obj.taxonomy(), ctx.obj.config()
    with ctx.obj.open_store(must_exist=True) as store:
        if evaluate_against and not store.has_labels(evaluate_against):  # before any labelling
            known = ", ".join(store.labelers_with_labels()) or "none yet"
            raise UsageError(f"no labels by '{evaluate_against}' in {store.path} (labelers: {known})", field="evaluate-against")
        report = run_stage("label", store, tax, config, options)  # it checks the subset before any work
        echo(report.summary(), err=as_json)
        if report.notes.cross_validation is not None:
            _echo_cross_validation(report.notes.cross_validation, options.cross_validate, as_json)
        if evaluate_against:
            name = report.params["labeler"]
            # the figures' --domain is the reference's (the labelling's: any labeler's, the reference's included)
            subset = options.subset.where(None, tax, evaluate_against)
            agreement = label_agreement(store, name, evaluate_against, tax, options.delta, subset)
            if as_json:
                echo(json.dumps(agreement, indent=2))
                return
            echo(f"agreement of {name} with {evaluate_against} (the prompts both labelled, what is left out said "
                 "below; any of the reference's domains counts as right):")
            for line in figure_lines(agreement):
                echo(line)
            for dimension, figures in agreement.items():
                if figures.get("left_out"):
                    echo(f"  {dimension}: scored {figures['n']}, left out " + ", ".join(
                        f"{n} {reason}" for reason, n in figures["left_out"].items()))
                if figures.get("confusions"):
                    echo(f"  {dimension}, most confused (reference -> argmax): " + "; ".join(
                        f"{c['reference']} -> {c['predicted']} {c['count']}" for c in figures["confusions"][:3]))


def _echo_cross_validation(figures: dict, k: int, as_json: bool) -> None:
    """The learned labelling model's K-fold figures per dimension (never on its training prompts)."""
    if as_json:
        echo(json.dumps({"cross_validation": figures}, indent=2), err=True)
        return
    from pipeline.labelling.figures import figure_lines

    echo(f"{k}-fold cross-validation, folds grouped by dedup cluster (figures on held-out prompts only):")
    for line in figure_lines(figures):
        echo(line)


@label_app.command("models")
def label_models_command(
    ctx: typer.Context,
    prune: Annotated[bool, typer.Option(help="Delete the fitted models no longer in use: not the newest for their "
                                             "training labelers, and no stage but labelling names their labeler.")] = False,
) -> None:
    """The learned labelling models fitted in this store: size, training prompts, cross-validated top-1, use."""
    with ctx.obj.open_store(must_exist=True, only_reads=not prune) as store:
        models = store.label_models()
        if not models:
            echo("no fitted labelling models in this store (misalign label --engine trained --train-on LABELER)")
            return
        newest_by_training = {}
        for m in models:  # newest first
            newest_by_training.setdefault(tuple(m["params"]["train_on"]), m["id"])
        newest = set(newest_by_training.values())
        echo(f"{'labeler':22} {'created (UTC)':19} {'MB':>6} {'prompts':>8} {'train on':30} {'CV top-1 (s/v/c)':>17}"
             f" {'in use'}")
        for m in models:
            cv = m["provenance"].get("cross_validation") or {}
            top1 = "/".join(f"{cv[d]['top1_real']:.2f}" if d in cv else "–" for d in ("safety", "value", "culture"))
            use = ", ".join(filter(None, ["newest" if m["id"] in newest else "",
                                          f"named by {m['used_by']} runs" if m["used_by"] else ""])) or "no"
            echo(f"{m['labeler'][:22]:22} {m['created_at'][:19].replace('T', ' '):19} {m['bytes'] / 2 ** 20:6.1f} "
                 f"{m['provenance']['training_prompts']:>8} {', '.join(m['params']['train_on'])[:30]:30} "
                 f"{top1 if cv else 'not run':>17} {use}")
        echo(f"{len(models)} models, {sum(m['bytes'] for m in models) / 2 ** 20:.1f} MB")
        if prune:
            unused = [m for m in models if m["id"] not in newest and not m["used_by"]]
            if not unused:
                echo("pruned nothing: every model is in use")
                return
            with store.transaction():
                store.delete_label_models([m["id"] for m in unused])
            size = store.vacuum()
            echo(f"pruned {len(unused)} models, {sum(m['bytes'] for m in unused) / 2 ** 20:.1f} MB (their labels stay; "
                 f"a refit on the same inputs gives the same model); the store is now {size / 2 ** 20:.1f} MB")


@commands.command("expand")
@with_options(ExpandOptions)
def expand_command(ctx: typer.Context, options: ExpandOptions) -> None:
    """Raise low-resource domains to a target count with generated, labelled, deduplicated prompts."""

    tax = ctx.obj.taxonomy()
    unknown = [d for d in options.domains if d not in {x.id for x in tax.domains}]
    if unknown:
        raise UsageError(f"'{unknown[0]}' is not a domain id of taxonomy {tax.version} (see 'misalign taxonomy')", field="domain")
    with ctx.obj.open_store(must_exist=True) as store:
        report = run_stage("expand", store, tax, ctx.obj.config(), options)
    echo(report.summary())
    if report.notes.unfilled:
        short = ", ".join(f"{d} {n}" for d, n in sorted(report.notes.unfilled.items(), key=lambda x: x[1]))
        echo(f"{len(report.notes.unfilled)} domains still below {options.target}: {short}")


@commands.command("funnel")
def funnel_command(
    ctx: typer.Context,
    labeler: Annotated[str, typer.Option(help="Whose domain assignments to count (see 'misalign status').")],
    csv_out: Annotated[Optional[Path], typer.Option("--csv", help="Also write the table to this CSV file.")] = None,
    all_domains: Annotated[bool, typer.Option(help="List domains with nothing in them too.")] = False,
) -> None:
    """Per domain: classified -> expanded -> removed as duplicates -> kept (MisAlignTrade's table)."""
    from pipeline.stages.funnel import COLUMNS, funnel_rows, write_funnel_csv
    from pipeline.text.outputs import check_file

    if csv_out:
        check_file(csv_out, "--csv")
    tax = ctx.obj.taxonomy()
    with ctx.obj.open_store(must_exist=True) as store:
        if not store.has_labels(labeler):
            raise UsageError(f"no labels by '{labeler}' in {store.path}", field="labeler")
        rows = funnel_rows(store, labeler, tax)
    if csv_out:
        write_funnel_csv(rows, csv_out)
    shown = [r for r in rows if all_domains or r["classified"] or r["kept"] or r["candidates_generated"]]
    totals = {c: sum(r[c] for r in rows) for c in COLUMNS[3:]}
    _echo_table([{"dimension": r["dimension"], "domain": r["domain"], **{c: r[c] for c in FUNNEL_WORDS}} for r in shown],
                {"dimension": "total", "domain": "(a prompt counts once per domain)", **totals},
                {"dimension": "dimension", "domain": "domain", **FUNNEL_WORDS})
    if any(r["generated_aligned"] or r["generated_misaligned"] for r in rows):
        _echo_pair_table(rows, all_domains)
    if csv_out:
        echo(f"wrote {csv_out}")


def _echo_pair_table(rows: list[dict], all_domains: bool) -> None:
    """The pairs stage per domain: candidates (aligned/misaligned) generated, filtered by stage 1
    and stage 2, recovered by resampling; pairs by status."""
    from pipeline.stages.funnel import PAIR_COLUMNS

    shown = [r for r in rows if all_domains or r["generated_aligned"] or r["generated_misaligned"]]
    totals = {"dimension": "total", "domain": "(a pair counts once per domain)",
              **{c: sum(r[c] for r in rows) for c in PAIR_COLUMNS}}

    def cells(r: dict) -> dict:
        return {"dimension": r["dimension"], "domain": r["domain"],
                **{c: f"{r[c + '_aligned']}/{r[c + '_misaligned']}" for c in PAIR_SLOT_WORDS},
                **{c: r[c] for c in PAIR_STATUS_WORDS}}

    echo("")
    _echo_table([cells(r) for r in shown], cells(totals),
                {"dimension": "dimension", "domain": "domain (aligned/misaligned)", **PAIR_SLOT_WORDS,
                 **PAIR_STATUS_WORDS})


FUNNEL_WORDS = {"classified": "classified", "expanded": "expanded", "removed_duplicates": "removed as duplicates",
                "kept": "kept", "candidates_generated": "candidates generated"}
PAIR_SLOT_WORDS = {"generated": "generated", "stage1": "failed rules", "stage2": "failed judge",
                   "recovered": "recovered by resampling"}
PAIR_STATUS_WORDS = {"accepted": "accepted", "borderline": "borderline", "rejected": "rejected", "audit": "audit sample"}


def _echo_table(rows: list[dict], total: dict, headers: dict) -> None:
    """Rows with whole names (dimension and domain in their own columns), counts right-aligned, a total last."""
    from tabulate import tabulate

    echo(tabulate([list(r.values()) for r in [*rows, total]], headers=list(headers.values()), tablefmt="plain",
                  colalign=("left", "left", *("right",) * (len(headers) - 2))))


@commands.command("pairs")
@with_options(PairImportOptions)
def pairs_command(
    ctx: typer.Context,
    options: PairImportOptions,
    rules: Annotated[Optional[list[str]], typer.Option(
        help="Stage 1: the rules a slot must pass, \\[KIND.]SLOT=RULE,RULE (repeatable; over \\[pairs.rules] in "
             "misalign.toml), e.g. over_refusal.misaligned=truncated,too_short,too_long,not_english,repetition")] = None,
    all_domains: Annotated[bool, typer.Option(help="List domains with nothing in them too.")] = False,
) -> None:
    """Aligned/misaligned pairs by two-stage rejection sampling (rules, judge) with feedback-guided resampling."""
    from pipeline.stages.funnel import funnel_rows

    tax, config = ctx.obj.taxonomy(), ctx.obj.config()
    try:
        checks = parse_checks(checks_from_config(config.table("pairs", "rules")))
    except UsageError as exc:
        raise UsageError(f"{config.path}: [pairs.rules]: {exc.reason}") from None
    options.pairs.rules = dataclasses.replace(options.pairs.rules, checks=parse_checks(rules or [], checks))
    with ctx.obj.open_store(must_exist=True) as store:
        if options.path or options.from_responses:
            report = run_stage("pairs_import", store, tax, config, options)
        else:
            report = run_stage("pairs", store, tax, config, options.pairs)
        echo(report.summary())
        _echo_pair_table(funnel_rows(store, report.params["labeler"], tax), all_domains)


@commands.command("export")
@with_options(ExportOptions)
def export_command(
    ctx: typer.Context,
    options: ExportOptions,
    what: Annotated[str, typer.Option(help="pairs (curated pairs in splits) or responses (the labelled responses "
                                           "with people's verdicts; formats jsonl, csv, parquet, hf).")] = "pairs",
) -> None:
    """Export curated pairs in stratified, leakage-free splits with a dataset card (or the labelled responses)."""

    if what not in ("pairs", "responses"):
        raise UsageError(f"'{what}' is not pairs or responses", field="what")
    tax = ctx.obj.taxonomy()
    with ctx.obj.open_store(must_exist=True) as store:
        report = run_stage("export" if what == "pairs" else "export_responses", store, tax, None, options)
    echo(report.summary())
    echo_left_out(report)
    for line in report.notes.empty_splits:
        echo(f"note: {line}")
    echo(f"wrote {options.out}")


import_app = typer.Typer(help="Bring in data made elsewhere.", no_args_is_help=True)


@import_app.command("responses")
@with_options(ImportResponsesOptions)
def import_responses_command(ctx: typer.Context, options: ImportResponsesOptions) -> None:
    """Add model responses people labelled, to benchmark detectors on (misalign bench run --on responses)."""
    tax = ctx.obj.taxonomy()
    with ctx.obj.open_store() as store:
        report = run_stage("import_responses", store, tax, None, options)
    echo(report.summary())
    echo_left_out(report)
