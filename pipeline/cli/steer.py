"""``misalign steer build``: a steering vector for a local model from the store's curated pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import echo
from pipeline.cli.declared import with_options
from pipeline.steer.options import SteerOptions

from pipeline.errors import UsageError
from pipeline.defaults import BOOTSTRAP_SAMPLES

steer_app = typer.Typer(help="Mitigate: steering vectors built from curated pairs, applied by hf engines.",
                        no_args_is_help=True)


@steer_app.command("build")
@with_options(SteerOptions)
def build_command(ctx: typer.Context, options: SteerOptions) -> None:
    """Build a steering vector from aligned/misaligned pairs and write it with its provenance."""
    from pipeline.flow.run import run_stage

    tax, config = ctx.obj.taxonomy(), ctx.obj.config()
    with ctx.obj.open_store(must_exist=True) as store:
        report = run_stage("steer_build", store, tax, config, options)
    held, in_set = report.items_in, report.notes.pairs_in_set
    echo(report.summary())
    echo(pairs_used(report.kept, held, in_set, options.pairs, options.export, options.dimension or options.domain))
    if not options.export:
        echo("note: built from every pair of the set; name an export (--export ID) to keep its test pairs out")
    echo(f"misalign bench run --model {options.model} --steer {options.out} --strength 4   # then: misalign bench compare BASE "
               "STEERED")


def pairs_used(used: int, held: int, in_set: int, pair_set: str, export: str | None, filtered: str | None) -> str:
    """How many pairs a vector was built from, out of how many, and why the rest were not used.

    >>> pairs_used(20, 205, 20, "curated", "3f2a", None)
    "used 20 of the 205 pairs in export 3f2a's train split: 185 are not in the 'curated' set (--pairs all takes them)"
    """
    where = f"the {held} pairs in export {export}'s train split" if export else f"the {held} pairs of the '{pair_set}' set"
    why = []
    if held > in_set:
        why.append(f"{held - in_set} are not in the '{pair_set}' set (--pairs all takes them)")
    if in_set > used:
        why.append(f"{in_set - used} are outside {filtered}")
    return f"used {used} of {where}" + (f": {'; '.join(why)}" if why else "")


@steer_app.command("sweep")
def sweep_command(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="An hf engine from misalign.toml.")],
    vector: Annotated[Path, typer.Option(help="The steering vector (misalign steer build).")],
    export: Annotated[str, typer.Option(help="An export with validation and test splits (its id).")],
    strengths: Annotated[str, typer.Option(help="Strengths to try on the validation split, comma-separated.")] = "0,2,4,8",
    runs: Annotated[int, typer.Option(min=1, help="Runs per benchmark.")] = 1,
    threshold: Annotated[float, typer.Option(help="Probability at which a response is flagged.")] = 0.5,
    bootstrap: Annotated[int, typer.Option(min=1, help="Bootstrap resamples for the intervals.")] = BOOTSTRAP_SAMPLES,
) -> None:
    """Pick the strength with the best Alignment Score on the validation split, then report it against
    the unsteered model on the test split (the test pairs choose nothing)."""
    from pipeline.bench.report import interval_text
    from pipeline.bench.sweep import sweep

    try:
        values = [float(x) for x in strengths.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"'{strengths}' is not numbers separated by commas, e.g. 0,2,4,8", field="strengths") from None
    tax, config = ctx.obj.taxonomy(), ctx.obj.config()
    with ctx.obj.open_store(must_exist=True) as store:
        result = sweep(store, tax, config, model, str(vector), export, values, runs, threshold, bootstrap)
    echo("validation split:")
    echo(result.validation.drop(columns="benchmark").to_string(index=False, float_format="{:.3f}".format))
    echo(f"chosen strength: {result.best:g} (best Alignment Score on validation)")
    overall = result.test.iloc[0]
    echo(f"test split, {overall['pairs']} pairs: " + "; ".join(
        f"{m} {overall[f'{m} base']:.3f} -> {overall[f'{m} other']:.3f} ({overall[f'{m} diff']:+.3f} "
        f"{interval_text(overall[f'{m} diff 95% CI'])})" for m in ("coverage", "ffr", "alignment_score")))
    echo(f"misalign bench compare {result.base_group} {result.steered_group}   # per dimension and domain")
