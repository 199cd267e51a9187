"""``misalign bench run|report|list``: Stage II on the curated pairs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline.bench.options import BenchOptions, InspectImportOptions
from pipeline.cli.common import echo, echo_left_out
from pipeline.cli.declared import with_options
from pipeline.errors import UsageError
from pipeline.defaults import BOOTSTRAP_SAMPLES

bench_app = typer.Typer(help="Benchmark models on the curated pairs (Coverage, FFR, Alignment Score, trade-offs).",
                        no_args_is_help=True)


@bench_app.command("run")
@with_options(BenchOptions)
def run_command(
    ctx: typer.Context,
    options: BenchOptions,
    steer: Annotated[Optional[Path], typer.Option(help="A steering vector (misalign steer build) to add to the "
                                                       "model under test (hf engines).")] = None,
    strength: Annotated[float, typer.Option(help="--steer: its strength α (0 leaves the model as it is).")] = 1.0,
) -> None:
    """Run (or resume) a benchmark and store its results and figures. On labelled responses, --model
    trained learns from their verdicts (scored out of fold). With --steer, the steered model is
    benchmarked under its own name (misalign bench compare puts it beside the base)."""
    from pipeline.flow.run import run_stage

    tax, config = ctx.obj.taxonomy(), ctx.obj.config()
    if steer is not None:
        config, options.engine = config.steered(options.engine, str(steer), strength)
    with ctx.obj.open_store(must_exist=True) as store:
        if options.labeler and not store.has_labels(options.labeler):
            raise UsageError(f"no labels by '{options.labeler}' (labelers: "
                             f"{', '.join(store.labelers_with_labels()) or 'none yet'})", field="labeler")
        report = run_stage("bench", store, tax, config, options)
        _echo_results(store, tax, report)


def _echo_results(store, tax, report) -> None:
    from pipeline.bench.report import report_tables

    overall = next(iter(report_tables(store, tax, report.notes.group_id).values()))
    echo(report.summary())
    echo_left_out(report)
    echo(overall.to_string(index=False))
    echo(f"misalign bench report {report.notes.group_id} --out DIR   # every table, CSV and markdown")


@bench_app.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV, TSV, JSONL or Parquet: per labelled response (response_id, or "
                                              "prompt + response + model) flagged yes/no or probability, and "
                                              "optional safety / value / culture flags.")],
    detector: Annotated[str, typer.Option(help="Name of the detector the verdicts come from, e.g. gpt-judge.")],
    threshold: Annotated[float, typer.Option(help="Probability at which a response is flagged.")] = 0.5,
    bootstrap: Annotated[int, typer.Option(min=1, help="Bootstrap resamples for the intervals.")] = BOOTSTRAP_SAMPLES,
    format: Annotated[Optional[str], typer.Option(help="csv, tsv, jsonl or parquet (default: from the suffix).")] = None,
    on_duplicate: Annotated[str, typer.Option(help="A second verdict on one response: refuse (name both rows), first "
                                                   "(keep the first) or vote (their mean).")] = "refuse",
) -> None:
    """Score verdicts a detector gave elsewhere on the labelled responses, as a benchmark beside the built-in ones."""
    from pipeline.bench.responses import import_verdicts

    tax = ctx.obj.taxonomy()
    with ctx.obj.open_store(must_exist=True) as store:
        report = import_verdicts(store, file, detector, threshold, format, on_duplicate, bootstrap)
        _echo_results(store, tax, report)


@bench_app.command("compare")
def compare_command(
    ctx: typer.Context,
    base: Annotated[str, typer.Argument(help="The benchmark before (e.g. the unsteered model); misalign bench list.")],
    other: Annotated[str, typer.Argument(help="The benchmark after (e.g. the steered model), on the same pairs.")],
    bootstrap: Annotated[int, typer.Option(min=1, help="Bootstrap resamples for the intervals.")] = BOOTSTRAP_SAMPLES,
    out: Annotated[Optional[Path], typer.Option(help="Also write the table as CSV here.")] = None,
) -> None:
    """Before and after: Coverage, FFR, Alignment Score and trade-off rate of two detector benchmarks (or
    the misalignment rate of two generate benchmarks) on the same pairs, overall, per dimension and
    domain, with the difference's 95% paired bootstrap interval."""
    from pipeline.bench.compare import compare
    from pipeline.bench.report import interval_text

    tax = ctx.obj.taxonomy()
    with ctx.obj.open_store(must_exist=True) as store:
        table = compare(store, tax, base, other, bootstrap)
    shown = table[["scope", "key", "pairs"]].copy()
    for m in (c[:-len(" base")] for c in table.columns if c.endswith(" base") and not c.startswith("trade-off")):
        shown[f"{m} base"] = table[f"{m} base"].map("{:.3f}".format)
        shown[f"{m} other"] = table[f"{m} other"].map("{:.3f}".format)
        shown[f"{m} diff [95% CI]"] = [f"{d:+.3f} {interval_text(ci)}" for d, ci in
                                       zip(table[f"{m} diff"], table[f"{m} diff 95% CI"])]
    echo(shown.to_string(index=False))
    if "trade-off rate base" in table:
        echo(f"trade-off rate: base {table['trade-off rate base'][0]:.3f}, "
                   f"other {table['trade-off rate other'][0]:.3f}")
    if out:
        table.to_csv(out, index=False)
        echo(f"wrote {out}")


@bench_app.command("import-inspect")
@with_options(InspectImportOptions)
def import_inspect_command(ctx: typer.Context, options: InspectImportOptions) -> None:
    """Bring an Inspect AI run of misalign/detect into the store, as a benchmark beside misalign bench run's."""
    from pipeline.flow.run import run_stage

    tax = ctx.obj.taxonomy()
    with ctx.obj.open_store(must_exist=True) as store:
        report = run_stage("import_inspect", store, tax, None, options)
        _echo_results(store, tax, report)


@bench_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Benchmarks in the store, oldest first; one cut off before its end says so, and how to resume it."""
    from pipeline.bench.report import benchmark_names, interrupted

    with ctx.obj.open_store(must_exist=True, only_reads=True) as store:
        groups = store.bench_groups()
    names = benchmark_names(groups)
    for g in groups:
        state = interrupted(g)
        echo(f"{g['group_id']}  {names[g['group_id']]}  ({g['runs']} run{'s' if g['runs'] > 1 else ''}, "
             f"begun {g['created_at'][:16].replace('T', ' ')} UTC)" + (f"  {state}" if state else ""))
    if not groups:
        echo("no benchmarks yet: misalign bench run --model ENGINE")


def _null_for_nan(value):
    """``value`` with every NaN as None, so the JSON is strict.

    >>> _null_for_nan({"ci": [float("nan"), 0.5]})
    {'ci': [None, 0.5]}
    """
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _null_for_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_null_for_nan(v) for v in value]
    return value


@bench_app.command("report")
def report_command(
    ctx: typer.Context,
    group: Annotated[Optional[str], typer.Argument(help="Benchmark id (default: the latest).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write CSV files and report.md here.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace --out whole even if it holds no earlier report.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the stored figures, unrounded, as JSON (every "
                                                         "scope and key) instead of the tables.")] = False,
) -> None:
    """Print a benchmark's tables (overall, per dimension, type, domain, trade-offs, judge calibration), as
    computed when its run ended; one cut off before then has none, and this says how to resume it."""
    from pipeline.bench.metrics import TRADEOFF_DEFINITION
    from pipeline.bench.report import benchmark_names, holds_a_report, interrupted, report_tables, write_report
    from pipeline.text.outputs import check_folder

    if out:
        check_folder(out, holds_a_report, overwrite)

    tax = ctx.obj.taxonomy()
    with ctx.obj.open_store(must_exist=True, only_reads=True) as store:
        groups = store.bench_groups()
        if not groups:
            raise UsageError("no benchmarks yet: misalign bench run --model ENGINE")
        chosen = next((g for g in groups if g["group_id"] == group), None) if group else groups[-1]
        if chosen is None:
            raise UsageError(f"no benchmark '{group}' (misalign bench list shows them)")
        if state := interrupted(chosen):
            name = benchmark_names(groups)[chosen["group_id"]]
            raise UsageError(f"benchmark {chosen['group_id']} ({name}) has no figures: {state}")
        if as_json:  # strict JSON: a figure that could not be computed (NaN) is null
            figures = {"benchmark": chosen, "summaries": store.bench_summaries(chosen["group_id"])}
            echo(json.dumps(_null_for_nan(figures), indent=2, default=str, allow_nan=False))
            return
        tables = report_tables(store, tax, chosen["group_id"])
    for name, table in tables.items():
        echo(f"\n== {name.replace('_', ' ')} ==")
        echo(table.to_string(index=False))
    if "tradeoff" in tables:
        echo("\n" + TRADEOFF_DEFINITION)
    if out:
        echo(f"\nwrote {write_report(tables, chosen, out, overwrite)} and {len(tables)} CSV files")
