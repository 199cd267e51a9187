"""``misalign init|status|taxonomy``: the store and the taxonomy it is labelled with."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pipeline.cli.common import echo

commands = typer.Typer()


@commands.command()
def init(ctx: typer.Context) -> None:
    """Create the store (or migrate an older one) and check the taxonomy."""
    tax = ctx.obj.taxonomy()
    with ctx.obj.open_store() as store:
        echo(f"store {store.path}: schema v{store.schema_version}; "
                   f"taxonomy {tax.version}: {len(tax.domains)} domains")


@commands.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    audit_limit: Annotated[int, typer.Option(help="Dedup removals listed (closest first).")] = 200,
) -> None:
    """Counts of everything in the store: prompts, labels per dimension and domain, later funnel stages."""
    with ctx.obj.open_store(must_exist=True, only_reads=True) as store:
        figures = store.status(audit_limit=audit_limit)
    if as_json:
        echo(json.dumps(figures, indent=2, sort_keys=True))
        return
    tax = ctx.obj.taxonomy()
    prompts = figures["prompts"]
    echo(f"store {figures['db']} (schema v{figures['schema_version']})")
    echo(f"prompts: {prompts['total']} ({', '.join(f'{k} {v}' for k, v in prompts['by_origin'].items()) or 'none yet'}); "
               f"source rows: {prompts['source_rows']}")
    for labeler, dimensions in figures["labels"].items():
        echo(f"labels by {labeler}:")
        for dimension, counts in dimensions.items():
            top = ", ".join(f"{_domain_name(tax, d)} {n}" for d, n in list(counts["domains"].items())[:5])
            echo(f"  {dimension}: {len(counts['domains'])} domains, None {counts['none']}, "
                       f"Unknown {counts['unknown']}; top: {top}")
    for labeler, domains in figures["funnel"].items():
        total = {k: sum(v.get(k, 0) for v in domains.values()) for k in ("classified", "expanded", "removed_duplicates", "kept")}
        echo(f"funnel by {labeler} (prompt-domain pairs): classified {total['classified']} -> expanded "
                   f"{total['expanded']} -> removed as duplicates {total['removed_duplicates']} -> kept {total['kept']}; "
                   f"per domain: misalign funnel --labeler {labeler}")
    if figures["label_models"]["models"]:
        m = figures["label_models"]
        echo(f"fitted labelling models: {m['models']}, {m['bytes'] / 2 ** 20:.1f} MB of the store (misalign label models; "
             "--prune keeps the ones in use)")
    if figures["dedup"]:
        d = figures["dedup"]
        echo(f"dedup ({d['params']['scope']}, tau {d['params']['tau']}): {d['kept']} kept, {d['removed']} removed, "
                   f"{d['pending']} not yet checked, {d['too_short_exact_only']} too short (exact match only)")
    if figures["pairs"]:
        p = figures["pairs"]
        echo(f"pairs: {p['total']} ({', '.join(f'{k} {v}' for k, v in p['by_status'].items())}); audit sample "
                   f"{p['audit_sample']}; candidates {sum(p['candidates'].values())}, resampled {p['resampled_candidates']}")
    if figures["review"]["progress"]:
        items = sum(r["items"] for r in figures["review"]["progress"])
        statuses = figures["review"]["human_statuses"]
        echo(f"review: {items} items queued; human statuses: "
                   f"{', '.join(f'{k} {v}' for k, v in sorted(statuses.items())) or 'none yet'} (misalign review status)")
    if not prompts["total"]:
        echo("The store is empty: add prompts with 'misalign ingest FILE'.")


def _domain_name(tax, domain_id: str) -> str:
    try:
        return tax.domain(domain_id).name
    except KeyError:
        return domain_id


@commands.command("taxonomy")
def taxonomy_command(ctx: typer.Context) -> None:
    """Validate the taxonomy and print its domains per dimension."""
    tax = ctx.obj.taxonomy()
    echo(f"taxonomy {tax.version} ({tax.path})")
    for dimension, name in tax.dimension_names.items():
        echo(f"{name}: {len(tax.domains_of(dimension))} domains")
        for domain in tax.domains_of(dimension):
            echo(f"  {domain.id:48} {domain.name} [{domain.group}]")
