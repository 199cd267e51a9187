"""The ``misalign`` command line. Every command takes the global ``--db`` (env ``MISALIGN_DB``).

Bad input exits with status 1 and one line on stderr that says what and where; the store is
left as it was.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline.cli.common import Context, user_errors
from pipeline.engines.config import build_engine
from pipeline.stages.dedup import DedupOptions, dedup
from pipeline.demo.run import run_demo
from pipeline.engines import ChoiceRequest, as_messages
from pipeline.stages.expand import ExpandOptions, expand
from pipeline.export.splits import ExportOptions, export
from pipeline.stages.funnel import COLUMNS, PAIR_COLUMNS, funnel_rows, write_funnel_csv
from pipeline.stages.label import LabelOptions, label
from pipeline.stages.label_agreement import label_agreement
from pipeline.stages.pairs.run import PairOptions, make_pairs
from pipeline.stages.pairs.importer import import_candidates
from pipeline.stages.ingest import IngestOptions, ingest, parse_label_columns
from pipeline.text.readers import InputError
from pipeline.stages.pairs.rules import RuleOptions
from pipeline.cli.bench import bench_app
from pipeline.cli.review import review_app

app = typer.Typer(
    help="misalign: build, review, benchmark and export LLM misalignment benchmarks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
APP_FILE = Path(__file__).resolve().parents[2] / "app.py"


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[str, typer.Option(envvar="MISALIGN_DB", help="The store (SQLite file).")] = "misalign.db",
    taxonomy: Annotated[Optional[str], typer.Option(
        envvar="MISALIGN_TAXONOMY", help="A taxonomy YAML file of your own (default: the shipped one).")] = None,
    config: Annotated[Optional[str], typer.Option(
        envvar="MISALIGN_CONFIG", help="Engines and stage settings (default: ./misalign.toml if present).")] = None,
) -> None:
    ctx.obj = Context(db, taxonomy, config)


@app.command()
@user_errors
def init(ctx: typer.Context) -> None:
    """Create the store (or migrate an older one) and check the taxonomy."""
    tax = ctx.obj.taxonomy()
    with ctx.obj.open_store() as store:
        typer.echo(f"store {store.path}: schema v{store.schema_version}; "
                   f"taxonomy {tax.version}: {len(tax.domains)} domains")


@app.command("ingest")
@user_errors
def ingest_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV, TSV, JSONL or Parquet file of prompts.")],
    text_col: Annotated[str, typer.Option(help="Column holding the prompt text.")] = "prompt",
    labels: Annotated[Optional[str], typer.Option(
        help="Import existing labels: DIMENSION=COLUMN,... e.g. safety=safety_name,value=values_name,culture=cultural_name")] = None,
    semantic_type: Annotated[Optional[str], typer.Option(
        help="Import each prompt's semantic type (object, attribute, relation) from this column.")] = None,
    source: Annotated[Optional[str], typer.Option(help="Source name recorded for these prompts (default: file name).")] = None,
    skip_bad: Annotated[bool, typer.Option(help="Skip and count bad rows instead of stopping at the first.")] = False,
    max_chars: Annotated[int, typer.Option(help="Longest prompt accepted, in characters.")] = 32_000,
    encoding: Annotated[str, typer.Option(help="Text encoding of CSV/JSONL files.")] = "utf-8",
    format: Annotated[Optional[str], typer.Option(help="csv, tsv, jsonl or parquet (default: from the suffix).")] = None,
) -> None:
    """Add prompts from FILE; exact duplicates collapse, sources are kept. Re-running adds nothing."""
    options = IngestOptions(text_column=text_col, label_columns=parse_label_columns(labels),
                            semantic_type_column=semantic_type, source=source,
                            skip_bad=skip_bad, max_chars=max_chars, encoding=encoding, format=format)
    tax = ctx.obj.taxonomy()
    with ctx.obj.open_store() as store:
        report = ingest(store, file, tax, options)
    typer.echo(report.summary())


@app.command("dedup")
@user_errors
def dedup_command(
    ctx: typer.Context,
    tau: Annotated[int, typer.Option(help="Largest Hamming distance that counts as a near-duplicate.")] = DedupOptions.tau,
    scope: Annotated[str, typer.Option(help="global, or domain: only prompts sharing a labelled domain merge.")] = DedupOptions.scope,
    features: Annotated[str, typer.Option(
        help="Fingerprint features: words, word_ngrams:N, char_ngrams:N, each optionally *WEIGHT, comma-separated.")] = DedupOptions.features,
    keep_stopwords: Annotated[bool, typer.Option(help="Keep English stop words in word features.")] = False,
    min_features: Annotated[int, typer.Option(help="Texts with fewer distinct features match exactly only.")] = DedupOptions.min_features,
    bits: Annotated[int, typer.Option(help="Fingerprint width: a multiple of 8 up to 64.")] = DedupOptions.bits,
) -> None:
    """Remove near-duplicate prompts (SimHash); incremental, with an audit of every removal."""
    options = DedupOptions(tau=tau, scope=scope, features=features, keep_stopwords=keep_stopwords,
                           min_features=min_features, bits=bits)
    try:
        options.params()
    except ValueError as exc:
        raise InputError(str(exc)) from None
    with ctx.obj.open_store(must_exist=True) as store:
        report = dedup(store, options)
    typer.echo(report.summary())


@app.command("label")
@user_errors
def label_command(
    ctx: typer.Context,
    engine: Annotated[Optional[str], typer.Option(help="Engine from misalign.toml (default: [stages] label, else embedded).")] = None,
    mode: Annotated[str, typer.Option(help="softmax (one domain per dimension, or None) or independent (yes/no per domain).")] = LabelOptions.mode,
    delta: Annotated[float, typer.Option(help="Probability a domain needs to be assigned.")] = LabelOptions.delta,
    shortlist: Annotated[Optional[int], typer.Option(help="Ask an LLM only about the top-K domains per dimension by embedding similarity.")] = None,
    labeler: Annotated[Optional[str], typer.Option(help="Name for these labels (default: backend:model:mode).")] = None,
    types: Annotated[bool, typer.Option(help="Also give each prompt a semantic type (object, attribute, relation).")] = True,
    evaluate_against: Annotated[Optional[str], typer.Option(help="Compare with another labeler's labels, e.g. imported:misalign_bench_prompts_dev.csv")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the agreement report as JSON.")] = False,
) -> None:
    """Label prompts into the taxonomy with an engine (resumable), and optionally measure agreement."""
    options = LabelOptions(engine=engine, mode=mode, delta=delta, shortlist=shortlist, labeler=labeler, semantic_types=types)
    tax, config = ctx.obj.taxonomy(), ctx.obj.config()
    with ctx.obj.acting() as store:
        report = label(store, tax, config, options)
        typer.echo(report.summary(), err=as_json)
        if evaluate_against:
            if not store.labeler(evaluate_against) and not store.has_labels(evaluate_against):
                raise InputError(f"--evaluate-against: no labels by '{evaluate_against}' in {store.path}")
            name = report.params["labeler"]
            agreement = label_agreement(store, name, evaluate_against, tax)
            if as_json:
                typer.echo(json.dumps(agreement, indent=2))
                return
            typer.echo(f"agreement of {name} with {evaluate_against}:")
            for dimension, figures in agreement.items():
                if not figures["n"]:
                    typer.echo(f"  {dimension}: no prompts labelled by both")
                    continue
                confused = "; ".join(f"{c['reference']} -> {c['predicted']} {c['count']}" for c in figures["confusions"][:3])
                typer.echo(f"  {dimension}: n {figures['n']}, accuracy {figures['accuracy']:.3f}, macro-F1 {figures['macro_f1']:.3f}, "
                           f"None {figures['predicted_none']:.2f} (reference {figures['reference_none']:.2f}); most confused: {confused}")


@app.command("expand")
@user_errors
def expand_command(
    ctx: typer.Context,
    engine: Annotated[Optional[str], typer.Option(help="Generator engine (default: [stages] expand); must differ from the labeller.")] = None,
    label_engine: Annotated[Optional[str], typer.Option(help="Engine that labels the new prompts (default: [stages] label, else embedded).")] = None,
    labeler: Annotated[Optional[str], typer.Option(help="Labeler whose assignments count (default: backend:model:mode of --label-engine).")] = None,
    mode: Annotated[str, typer.Option(help="Labelling mode: softmax or independent.")] = LabelOptions.mode,
    delta: Annotated[float, typer.Option(help="Probability a domain needs to be assigned.")] = LabelOptions.delta,
    target: Annotated[int, typer.Option(help="Kept prompts each domain should reach.")] = ExpandOptions.target,
    rounds: Annotated[int, typer.Option(help="Generation rounds before giving up on a domain.")] = ExpandOptions.rounds,
    per_request: Annotated[int, typer.Option(help="Prompts asked of the generator per domain and round.")] = ExpandOptions.per_request,
    temperature: Annotated[float, typer.Option()] = ExpandOptions.temperature,
    top_p: Annotated[float, typer.Option()] = ExpandOptions.top_p,
    max_tokens: Annotated[int, typer.Option()] = ExpandOptions.max_tokens,
    domain: Annotated[Optional[list[str]], typer.Option(help="Only this domain id (repeatable).")] = None,
) -> None:
    """Raise low-resource domains to a target count with generated, labelled, deduplicated prompts."""
    options = ExpandOptions(engine=engine, labelling=LabelOptions(engine=label_engine, labeler=labeler, mode=mode, delta=delta),
                            target=target, rounds=rounds, per_request=per_request, temperature=temperature, top_p=top_p,
                            max_tokens=max_tokens, domains=tuple(domain or ()))
    tax = ctx.obj.taxonomy()
    unknown = [d for d in options.domains if d not in {x.id for x in tax.domains}]
    if unknown:
        raise InputError(f"--domain: '{unknown[0]}' is not a domain id of taxonomy {tax.version} (see 'misalign taxonomy')")
    with ctx.obj.acting() as store:
        report = expand(store, tax, ctx.obj.config(), options)
    typer.echo(report.summary())
    if report.notes["unfilled"]:
        short = ", ".join(f"{d} {n}" for d, n in sorted(report.notes["unfilled"].items(), key=lambda x: x[1]))
        typer.echo(f"{len(report.notes['unfilled'])} domains still below {target}: {short}")


@app.command("funnel")
@user_errors
def funnel_command(
    ctx: typer.Context,
    labeler: Annotated[str, typer.Option(help="Whose domain assignments to count (see 'misalign status').")],
    csv_out: Annotated[Optional[Path], typer.Option("--csv", help="Also write the table to this CSV file.")] = None,
    all_domains: Annotated[bool, typer.Option(help="List domains with nothing in them too.")] = False,
) -> None:
    """Per domain: classified -> expanded -> removed as duplicates -> kept (MisAlignTrade's table)."""
    tax = ctx.obj.taxonomy()
    with ctx.obj.open_store(must_exist=True) as store:
        if not store.has_labels(labeler):
            raise InputError(f"--labeler: no labels by '{labeler}' in {store.path}")
        rows = funnel_rows(store, labeler, tax)
    if csv_out:
        write_funnel_csv(rows, csv_out)
    shown = [r for r in rows if all_domains or r["classified"] or r["kept"] or r["candidates_generated"]]
    typer.echo(f"{'domain':48} {'classified':>10} {'expanded':>8} {'removed':>8} {'kept':>6} {'generated':>9}")
    for r in shown:
        typer.echo(f"{r['dimension'][:1]}:{r['domain'][:46]:46} {r['classified']:>10} {r['expanded']:>8} "
                   f"{r['removed_duplicates']:>8} {r['kept']:>6} {r['candidates_generated']:>9}")
    totals = {c: sum(r[c] for r in rows) for c in COLUMNS[3:]}
    typer.echo(f"{'total (a prompt counts once per domain)':48} {totals['classified']:>10} {totals['expanded']:>8} "
               f"{totals['removed_duplicates']:>8} {totals['kept']:>6} {totals['candidates_generated']:>9}")
    if any(r["generated_aligned"] or r["generated_misaligned"] for r in rows):
        _echo_pair_table(rows, all_domains)
    if csv_out:
        typer.echo(f"wrote {csv_out}")


def _echo_pair_table(rows: list[dict], all_domains: bool) -> None:
    """The pairs stage per domain: candidates (aligned/misaligned) generated, filtered by stage 1
    and stage 2, recovered by resampling; pairs by status."""
    typer.echo(f"\n{'domain (aligned/misaligned)':40} {'generated':>11} {'stage 1':>9} {'stage 2':>9} {'recovered':>9} "
               f"{'accepted':>8} {'border':>6} {'reject':>6} {'audit':>5}")
    shown = [r for r in rows if all_domains or r["generated_aligned"] or r["generated_misaligned"]]
    totals = {c: sum(r[c] for r in rows) for c in PAIR_COLUMNS}
    for r in [*shown, {"dimension": "", "domain": "total (a pair counts once per domain)", **totals}]:
        both = {c: f"{r[c + '_aligned']}/{r[c + '_misaligned']}" for c in ("generated", "stage1", "stage2", "recovered")}
        name = f"{r['dimension'][:1]}:{r['domain'][:38]}" if r["dimension"] else r["domain"]
        typer.echo(f"{name:40} {both['generated']:>11} {both['stage1']:>9} {both['stage2']:>9} {both['recovered']:>9} "
                   f"{r['accepted']:>8} {r['borderline']:>6} {r['rejected']:>6} {r['audit']:>5}")


@app.command("pairs")
@user_errors
def pairs_command(
    ctx: typer.Context,
    generator: Annotated[Optional[list[str]], typer.Option(
        help="Generator engine from misalign.toml (repeatable: a pool; default: [stages] generate).")] = None,
    judge: Annotated[Optional[str], typer.Option(
        help="Judge engine (default: [stages] judge); must differ from every generator and the labeller.")] = None,
    labeler: Annotated[Optional[str], typer.Option(help="Whose domain labels count (default: the only labeler).")] = None,
    k: Annotated[int, typer.Option("--k", help="Candidates per slot, spread over the generators.")] = PairOptions.k,
    temperature: Annotated[float, typer.Option()] = PairOptions.temperature,
    top_p: Annotated[float, typer.Option()] = PairOptions.top_p,
    max_tokens: Annotated[int, typer.Option()] = PairOptions.max_tokens,
    threshold: Annotated[float, typer.Option(help="Judge probability a candidate needs to pass.")] = PairOptions.threshold,
    margin: Annotated[float, typer.Option(help="Within this of the threshold (either side) a verdict is borderline.")] = PairOptions.margin,
    rounds: Annotated[int, typer.Option(help="Feedback-guided resampling rounds for a slot with no passing candidate.")] = PairOptions.rounds,
    audit_rate: Annotated[float, typer.Option(help="Share of accepted pairs sampled for human audit.")] = PairOptions.audit_rate,
    seed: Annotated[int, typer.Option(help="Sampling seed and audit-sample seed.")] = PairOptions.seed,
    batch: Annotated[int, typer.Option(help="Prompts per committed batch.")] = PairOptions.batch_prompts,
    limit: Annotated[Optional[int], typer.Option(help="Pair at most this many prompts in this run.")] = None,
    import_file: Annotated[Optional[Path], typer.Option(
        "--import", help="Candidates made elsewhere: a CSV/JSONL/Parquet file with prompt, slot, text, generator.")] = None,
    format: Annotated[Optional[str], typer.Option(help="Format of --import (default: from the suffix).")] = None,
    min_words: Annotated[int, typer.Option(help="Stage 1: fewer words is too_short.")] = RuleOptions.min_words,
    max_words: Annotated[int, typer.Option(help="Stage 1: more words is too_long.")] = RuleOptions.max_words,
    min_english: Annotated[float, typer.Option(help="Stage 1: a smaller probability of English is not_english.")] = RuleOptions.min_english,
    max_repetition: Annotated[float, typer.Option(
        help="Stage 1: a larger share of words in repeated 3-grams is repetition.")] = RuleOptions.repetition,
    near_identical: Annotated[int, typer.Option(
        help="Stage 1: SimHash distance at or below which the two slots are near_identical.")] = RuleOptions.near_identical,
    all_domains: Annotated[bool, typer.Option(help="List domains with nothing in them too.")] = False,
) -> None:
    """Aligned/misaligned pairs by two-stage rejection sampling (rules, judge) with feedback-guided resampling."""
    options = PairOptions(generators=tuple(generator or ()), judge=judge, labeler=labeler, k=k, temperature=temperature,
                          top_p=top_p, max_tokens=max_tokens, threshold=threshold, margin=margin, rounds=rounds,
                          audit_rate=audit_rate, seed=seed, batch_prompts=batch, limit=limit,
                          rules=RuleOptions(min_words=min_words, max_words=max_words, min_english=min_english,
                                            repetition=max_repetition, near_identical=near_identical))
    tax, config = ctx.obj.taxonomy(), ctx.obj.config()
    with ctx.obj.acting() as store:
        if import_file:
            report = import_candidates(store, tax, config, import_file, options, format)
        else:
            report = make_pairs(store, tax, config, options)
        typer.echo(report.summary())
        _echo_pair_table(funnel_rows(store, report.params["labeler"], tax), all_domains)


@app.command("export")
@user_errors
def export_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Folder to write the splits and the dataset card to.")],
    format: Annotated[str, typer.Option(help="Comma-separated: jsonl, csv, parquet, hf.")] = "jsonl,parquet",
    seed: Annotated[int, typer.Option(help="Seed of the split assignment.")] = 0,
    ratios: Annotated[str, typer.Option(help="train,validation,test shares.")] = "0.8,0.1,0.1",
    status_set: Annotated[str, typer.Option("--status", help="curated (human-accepted, then pipeline-accepted without "
                                                             "a human rejection), human, pipeline or all.")] = "curated",
    dimension: Annotated[Optional[list[str]], typer.Option(help="Only pairs labelled in this dimension (repeatable).")] = None,
    domain: Annotated[Optional[list[str]], typer.Option(help="Only pairs with this domain id (repeatable).")] = None,
    semantic_type: Annotated[Optional[list[str]], typer.Option(help="object, attribute or relation (repeatable).")] = None,
    min_agreement: Annotated[Optional[float], typer.Option(help="Only pairs whose reviewers agree at least this much.")] = None,
    source: Annotated[Optional[list[str]], typer.Option(help="Only prompts from this ingested source (repeatable).")] = None,
    licence: Annotated[str, typer.Option(help="Licence line for the dataset card.")] = ExportOptions.licence,
) -> None:
    """Export curated pairs in stratified, leakage-free splits with a dataset card."""
    try:
        parsed = tuple(float(r) for r in ratios.split(","))
    except ValueError:
        raise InputError(f"--ratios: '{ratios}' is not comma-separated numbers") from None
    options = ExportOptions(out=out, formats=tuple(f.strip() for f in format.split(",") if f.strip()), seed=seed,
                            ratios=parsed, pairs=status_set, dimensions=tuple(dimension or ()),
                            domains=tuple(domain or ()), semantic_types=tuple(semantic_type or ()),
                            min_agreement=min_agreement, sources=tuple(source or ()), licence=licence)
    tax = ctx.obj.taxonomy()
    with ctx.obj.acting() as store:
        report = export(store, tax, options)
    typer.echo(report.summary())
    typer.echo(f"wrote {out}")


@app.command()
@user_errors
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    audit_limit: Annotated[int, typer.Option(help="Dedup removals listed (closest first).")] = 200,
) -> None:
    """Counts of everything in the store: prompts, labels per dimension and domain, later funnel stages."""
    with ctx.obj.open_store(must_exist=True) as store:
        figures = store.status(audit_limit=audit_limit)
    if as_json:
        typer.echo(json.dumps(figures, indent=2, sort_keys=True))
        return
    tax = ctx.obj.taxonomy()
    prompts = figures["prompts"]
    typer.echo(f"store {figures['db']} (schema v{figures['schema_version']})")
    typer.echo(f"prompts: {prompts['total']} ({', '.join(f'{k} {v}' for k, v in prompts['by_origin'].items()) or 'none yet'}); "
               f"source rows: {prompts['source_rows']}")
    for labeler, dimensions in figures["labels"].items():
        typer.echo(f"labels by {labeler}:")
        for dimension, counts in dimensions.items():
            top = ", ".join(f"{_domain_name(tax, d)} {n}" for d, n in list(counts["domains"].items())[:5])
            typer.echo(f"  {dimension}: {len(counts['domains'])} domains, None {counts['none']}, "
                       f"Unknown {counts['unknown']}; top: {top}")
    for labeler, domains in figures["funnel"].items():
        total = {k: sum(v.get(k, 0) for v in domains.values()) for k in ("classified", "expanded", "removed_duplicates", "kept")}
        typer.echo(f"funnel by {labeler} (prompt-domain pairs): classified {total['classified']} -> expanded "
                   f"{total['expanded']} -> removed as duplicates {total['removed_duplicates']} -> kept {total['kept']}; "
                   f"per domain: misalign funnel --labeler {labeler}")
    if figures["dedup"]:
        d = figures["dedup"]
        typer.echo(f"dedup ({d['params']['scope']}, tau {d['params']['tau']}): {d['kept']} kept, {d['removed']} removed, "
                   f"{d['pending']} not yet checked, {d['too_short_exact_only']} too short (exact match only)")
    if figures["pairs"]:
        p = figures["pairs"]
        typer.echo(f"pairs: {p['total']} ({', '.join(f'{k} {v}' for k, v in p['by_status'].items())}); audit sample "
                   f"{p['audit_sample']}; candidates {sum(p['candidates'].values())}, resampled {p['resampled_candidates']}")
    if figures["review"]["progress"]:
        items = sum(r["items"] for r in figures["review"]["progress"])
        statuses = figures["review"]["human_statuses"]
        typer.echo(f"review: {items} items queued; human statuses: "
                   f"{', '.join(f'{k} {v}' for k, v in sorted(statuses.items())) or 'none yet'} (misalign review status)")
    if not prompts["total"]:
        typer.echo("The store is empty: add prompts with 'misalign ingest FILE'.")


def _domain_name(tax, domain_id: str) -> str:
    try:
        return tax.domain(domain_id).name
    except KeyError:
        return domain_id


@app.command("app")
@user_errors
def app_command(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8501,
    host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps it on this machine.")] = "127.0.0.1",
) -> None:
    """Open the Streamlit app on the store."""
    ctx.obj.open_store().close()
    _serve_app(Path(ctx.obj.db), ctx.obj.taxonomy_path, host, port)


def _serve_app(db: Path, taxonomy_path: str | None, host: str, port: int) -> None:
    env = {**os.environ, "MISALIGN_DB": str(db.resolve())}
    if taxonomy_path:
        env["MISALIGN_TAXONOMY"] = str(Path(taxonomy_path).resolve())
    command = [sys.executable, "-m", "streamlit", "run", str(APP_FILE), "--server.address", host,
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    typer.echo(f"misalign app on http://{host}:{port} (store {env['MISALIGN_DB']}); Ctrl-C stops it")
    # become the server (no child left behind when this process is stopped)
    os.execve(sys.executable, command, env)


@app.command("demo")
@user_errors
def demo_command(
    ctx: typer.Context,
    db: Annotated[Path, typer.Option(help="The demo's store (made or resumed).")] = Path("demo.db"),
    no_app: Annotated[bool, typer.Option("--no-app", help="Stop after the last stage instead of opening the app.")] = False,
    port: Annotated[int, typer.Option(help="Port for the app.")] = 8501,
    host: Annotated[str, typer.Option(help="Address the app binds.")] = "127.0.0.1",
) -> None:
    """The whole loop on CPU with the embedded engines, on the demo data, then the app on its store."""
    result = run_demo(db, echo=typer.echo, taxonomy=ctx.obj.taxonomy())
    typer.echo(f"demo store {result.db}, export {result.export_dir}")
    typer.echo("The embedded engines are for trying the studio. For research, point the stages at a real model in "
               "misalign.toml: a local model directory (backend hf), a 'vllm serve' URL (backend openai), or "
               "backend vllm with the [vllm] extra on a GPU machine; see the README.")
    if not no_app:
        _serve_app(db, ctx.obj.taxonomy_path, host, port)


@app.command("taxonomy")
@user_errors
def taxonomy_command(ctx: typer.Context) -> None:
    """Validate the taxonomy and print its domains per dimension."""
    tax = ctx.obj.taxonomy()
    typer.echo(f"taxonomy {tax.version} ({tax.path})")
    for dimension, name in tax.dimension_names.items():
        typer.echo(f"{name}: {len(tax.domains_of(dimension))} domains")
        for domain in tax.domains_of(dimension):
            typer.echo(f"  {domain.id:48} {domain.name} [{domain.group}]")


app.add_typer(review_app, name="review")
app.add_typer(bench_app, name="bench")
argilla_app = typer.Typer(help="A local Argilla server (no Elasticsearch) for small panels and tests.",
                          no_args_is_help=True)
app.add_typer(argilla_app, name="argilla")


@argilla_app.command("install")
@user_errors
def argilla_install() -> None:
    """Make argilla-server's own venv (MISALIGN_ARGILLA_VENV) if it is not there yet."""
    from pipeline.review.argilla.local.server import install_argilla_server

    typer.echo(f"argilla-server ready: {install_argilla_server()}")


@argilla_app.command("serve")
@user_errors
def argilla_serve(
    ctx: typer.Context,
    home: Annotated[Path, typer.Option(help="Where the server keeps its database and owner credentials.")] = Path(".argilla"),
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 6900,
    annotator_password: Annotated[Optional[str], typer.Option(
        envvar="MISALIGN_ANNOTATOR_PASSWORD", help="Password for the panels' annotator accounts.")] = None,
) -> None:
    """Start Redis, argilla-server and its worker on 127.0.0.1 with misalign's SQL search engine; create the
    owner and the panels' annotator accounts; print the URL. Ctrl-C stops everything."""
    import time

    from pipeline.review.argilla.sync import argilla_client, ensure_accounts
    from pipeline.review.argilla.local.server import LocalArgillaError, local_argilla

    try:
        with local_argilla(home, port) as server, ctx.obj.open_store() as store:
            client = argilla_client(server.url, server.api_key)
            for panel in store.panels():
                try:
                    created = ensure_accounts(client, store, panel["name"], annotator_password)
                except ValueError as exc:
                    raise InputError(str(exc)) from None
                typer.echo(f"panel {panel['name']}: workspace ready, {len(created)} annotator accounts created")
            typer.echo(f"Argilla on {server.url} (owner '{server.owner}', password in {server.home / 'owner.json'})")
            typer.echo(f"export ARGILLA_API_URL={server.url} ARGILLA_API_KEY={server.api_key}")
            while True:
                time.sleep(3600)
    except LocalArgillaError as exc:
        raise InputError(str(exc)) from None
    except KeyboardInterrupt:
        typer.echo("stopped")

config_app = typer.Typer(help="The configuration (misalign.toml).", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
@user_errors
def config_show(ctx: typer.Context) -> None:
    """Print the configuration with every default filled in, as JSON."""
    typer.echo(json.dumps(ctx.obj.config().as_dict(), indent=2))


engine_app = typer.Typer(help="Try an engine by hand; answers go through the store's cache.", no_args_is_help=True)
app.add_typer(engine_app, name="engine")


@engine_app.command("generate")
@user_errors
def engine_generate(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="The user message.")],
    engine: Annotated[str, typer.Option(help="An engine named in misalign.toml.")] = "embedded",
    n: Annotated[Optional[int], typer.Option(help="Answers to sample.")] = None,
    temperature: Annotated[Optional[float], typer.Option()] = None,
    max_tokens: Annotated[Optional[int], typer.Option()] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
) -> None:
    """Generate answers to PROMPT with an engine (flags override its sampling defaults)."""
    settings = ctx.obj.config().engine(engine)
    request = settings.request(prompt, n=n, temperature=temperature, max_tokens=max_tokens, seed=seed)
    with ctx.obj.open_store() as store:
        [generation] = build_engine(settings, store).generate([request])
    for text, reason in zip(generation.texts, generation.finish_reasons):
        typer.echo(json.dumps({"text": text, "finish_reason": reason}))


@engine_app.command("choose")
@user_errors
def engine_choose(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The user message.")],
    options: Annotated[str, typer.Option(help="Comma-separated options, e.g. yes,no.")],
    engine: Annotated[str, typer.Option(help="An engine named in misalign.toml.")] = "embedded",
) -> None:
    """Print each option's probability of following TEXT."""
    choices = tuple(o.strip() for o in options.split(",") if o.strip())
    if len(choices) < 2:
        raise InputError("--options: give at least two comma-separated options")
    with ctx.obj.open_store() as store:
        [probs] = build_engine(ctx.obj.config().engine(engine), store).choice_probs(
            [ChoiceRequest(as_messages(text), choices)])
    typer.echo(json.dumps(probs))
