"""``misalign ingest|dedup|label|expand|funnel|pairs|export``: the stages of the flow, in order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline.export.options import ExportOptions
from pipeline.stages.options import DedupOptions, ExpandOptions, IngestOptions, LabelOptions, PromptSubset
from pipeline.stages.pairs.options import PairImportOptions, PairOptions, RuleOptions, checks_from_config, parse_checks
from pipeline.cli.common import echo, echo_left_out
from pipeline.errors import UsageError
from pipeline.registry import run_stage

SAMPLING_HELP = "Default: the engine's \\[engines.NAME.sampling] in misalign.toml, else the stage's (misalign config show)."

commands = typer.Typer()


@commands.command("ingest")
def ingest_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV, TSV, JSONL or Parquet file of prompts.")],
    text_col: Annotated[str, typer.Option(help="Column holding the prompt text.")] = IngestOptions.text_column,
    labels: Annotated[Optional[str], typer.Option(
        help="Import existing labels: DIMENSION=COLUMN,... e.g. safety=safety_name,value=values_name,culture=cultural_name")] = None,
    semantic_type: Annotated[Optional[str], typer.Option(
        help="Import each prompt's semantic type (object, attribute, relation) from this column.")] = None,
    source: Annotated[Optional[str], typer.Option(help="Source name recorded for these prompts (default: file name).")] = None,
    skip_bad: Annotated[bool, typer.Option(help="Skip and count bad rows instead of stopping at the first.")] = IngestOptions.skip_bad,
    max_chars: Annotated[int, typer.Option(help="Longest prompt accepted, in characters.")] = IngestOptions.max_chars,
    encoding: Annotated[str, typer.Option(help="Text encoding of CSV/JSONL files.")] = IngestOptions.encoding,
    format: Annotated[Optional[str], typer.Option(help="csv, tsv, jsonl or parquet (default: from the suffix).")] = None,
    empty_label: Annotated[str, typer.Option(
        help="What an empty label cell means: unlabelled (nothing known) or none (no domain of that dimension applies).")
    ] = IngestOptions.empty_label,
) -> None:
    """Add prompts from FILE; exact duplicates collapse, sources are kept. Re-running adds nothing."""
    from pipeline.stages.ingest import parse_label_columns

    options = IngestOptions(file, text_column=text_col, label_columns=parse_label_columns(labels),
                            semantic_type_column=semantic_type, source=source,
                            skip_bad=skip_bad, max_chars=max_chars, encoding=encoding, format=format,
                            empty_label=empty_label)
    tax = ctx.obj.taxonomy()
    with ctx.obj.open_store() as store:
        report = run_stage("ingest", store, tax, None, options)
    echo(report.summary())


@commands.command("dedup")
def dedup_command(
    ctx: typer.Context,
    tau: Annotated[int, typer.Option(help="Largest Hamming distance that counts as a near-duplicate.")] = DedupOptions.tau,
    scope: Annotated[str, typer.Option(help="global, or domain: only prompts sharing a labelled domain merge.")] = DedupOptions.scope,
    features: Annotated[str, typer.Option(
        help="Fingerprint features: words, word_ngrams:N, char_ngrams:N, each optionally *WEIGHT, comma-separated.")] = DedupOptions.features,
    keep_stopwords: Annotated[bool, typer.Option(help="Keep English stop words in word features.")] = DedupOptions.keep_stopwords,
    min_features: Annotated[int, typer.Option(help="Texts with fewer distinct features match exactly only.")] = DedupOptions.min_features,
    bits: Annotated[int, typer.Option(help="Fingerprint width: a multiple of 8 up to 64.")] = DedupOptions.bits,
) -> None:
    """Remove near-duplicate prompts (SimHash); incremental, with an audit of every removal."""
    options = DedupOptions(tau=tau, scope=scope, features=features, keep_stopwords=keep_stopwords,
                           min_features=min_features, bits=bits)
    options.check()  # a bad setting stops here, before the store is opened
    with ctx.obj.open_store(must_exist=True) as store:
        report = run_stage("dedup", store, None, None, options)
    echo(report.summary())


label_app = typer.Typer(help="Label prompts into the taxonomy; 'label models' lists the fitted labelling models.")


@label_app.callback(invoke_without_command=True)
def label_command(
    ctx: typer.Context,
    engine: Annotated[Optional[str], typer.Option(help="Engine from misalign.toml (default: \\[stages] label, else embedded), "
                                                       "or 'trained': learn from labelled prompts (--train-on).")] = None,
    mode: Annotated[str, typer.Option(help="softmax (one domain per dimension, or None) or independent (yes/no per domain).")] = LabelOptions.mode,
    delta: Annotated[float, typer.Option(help="Probability a domain needs to be assigned.")] = LabelOptions.delta,
    shortlist: Annotated[Optional[int], typer.Option(help="Ask an LLM only about the top-K domains per dimension by embedding similarity.")] = None,
    labeler: Annotated[Optional[str], typer.Option(help="Name for these labels (default: backend:model:mode, or trained:MODEL).")] = None,
    types: Annotated[bool, typer.Option(help="Also give each prompt a semantic type (object, attribute, relation).")] = LabelOptions.semantic_types,
    train_on: Annotated[Optional[str], typer.Option(help="--engine trained: labelers to learn from, comma-separated, "
                                                         "preferred first, e.g. human:South Asia,imported:dev.csv")] = None,
    features: Annotated[str, typer.Option(help="--engine trained: embeddings (MiniLM), tfidf or both.")] = LabelOptions.features,
    regularisation: Annotated[float, typer.Option(help="--engine trained: the regression's C.")] = LabelOptions.regularisation,
    cross_validate: Annotated[Optional[int], typer.Option(help="--engine trained: print K-fold figures, folds grouped "
                                                               "by dedup cluster, before labelling.")] = None,
    seed: Annotated[int, typer.Option(min=0, help="--engine trained: seed of the calibration split.")] = LabelOptions.seed,
    evaluate_against: Annotated[Optional[str], typer.Option(help="Compare with another labeler's labels, e.g. imported:misalign_bench_prompts_dev.csv")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the agreement report as JSON.")] = False,
    source: Annotated[Optional[str], typer.Option(help="Only prompts read from this source (a file's name, or ingest's --source).")] = None,
    domain: Annotated[Optional[str], typer.Option(help="Only prompts a labeler put in this domain (id or name); with "
                                                       "--evaluate-against, the reference.")] = None,
    since: Annotated[Optional[str], typer.Option(help="Only prompts added at or after this UTC date or time, e.g. 2026-12-01.")] = None,
) -> None:
    """Label prompts into the taxonomy with an engine (resumable), and optionally measure agreement."""
    if ctx.invoked_subcommand:
        return
    from pipeline.stages.label_agreement import label_agreement
    from pipeline.labelling.figures import figure_lines

    options = LabelOptions(engine=engine, mode=mode, delta=delta, shortlist=shortlist, labeler=labeler, semantic_types=types,
                           train_on=tuple(n.strip() for n in (train_on or "").split(",") if n.strip()), features=features,
                           regularisation=regularisation, cross_validate=cross_validate, seed=seed,
                           subset=PromptSubset(source, domain, since))
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
def expand_command(
    ctx: typer.Context,
    engine: Annotated[Optional[str], typer.Option(help="Generator engine (default: \\[stages] expand); must differ from the labelling model.")] = None,
    label_engine: Annotated[Optional[str], typer.Option(help="Engine that labels the new prompts (default: \\[stages] label, else embedded).")] = None,
    labeler: Annotated[Optional[str], typer.Option(help="Labeler whose assignments count (default: backend:model:mode of --label-engine).")] = None,
    mode: Annotated[str, typer.Option(help="Labelling mode: softmax or independent.")] = LabelOptions.mode,
    delta: Annotated[float, typer.Option(help="Probability a domain needs to be assigned.")] = LabelOptions.delta,
    target: Annotated[int, typer.Option(help="Kept prompts each domain should reach.")] = ExpandOptions.target,
    rounds: Annotated[int, typer.Option(help="Generation rounds before giving up on a domain.")] = ExpandOptions.rounds,
    per_request: Annotated[int, typer.Option(help="Prompts asked of the generator per domain and round.")] = ExpandOptions.per_request,
    temperature: Annotated[Optional[float], typer.Option(help=SAMPLING_HELP)] = None,
    top_p: Annotated[Optional[float], typer.Option(help=SAMPLING_HELP)] = None,
    max_tokens: Annotated[Optional[int], typer.Option(help=SAMPLING_HELP)] = None,
    domain: Annotated[Optional[list[str]], typer.Option(help="Only this domain id (repeatable).")] = None,
) -> None:
    """Raise low-resource domains to a target count with generated, labelled, deduplicated prompts."""

    options = ExpandOptions(engine=engine, labelling=LabelOptions(engine=label_engine, labeler=labeler, mode=mode, delta=delta),
                            target=target, rounds=rounds, per_request=per_request, temperature=temperature, top_p=top_p,
                            max_tokens=max_tokens, domains=tuple(domain or ()))
    tax = ctx.obj.taxonomy()
    unknown = [d for d in options.domains if d not in {x.id for x in tax.domains}]
    if unknown:
        raise UsageError(f"'{unknown[0]}' is not a domain id of taxonomy {tax.version} (see 'misalign taxonomy')", field="domain")
    with ctx.obj.open_store(must_exist=True) as store:
        report = run_stage("expand", store, tax, ctx.obj.config(), options)
    echo(report.summary())
    if report.notes.unfilled:
        short = ", ".join(f"{d} {n}" for d, n in sorted(report.notes.unfilled.items(), key=lambda x: x[1]))
        echo(f"{len(report.notes.unfilled)} domains still below {target}: {short}")


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
def pairs_command(
    ctx: typer.Context,
    generator: Annotated[Optional[list[str]], typer.Option(
        help="Generator engine from misalign.toml (repeatable: a pool; default: \\[stages] generate).")] = None,
    judge: Annotated[Optional[str], typer.Option(
        help="Judge engine (default: \\[stages] judge); must differ from every generator and the labelling model.")] = None,
    labeler: Annotated[Optional[str], typer.Option(help="Whose domain labels count (default: the only labeler).")] = None,
    k: Annotated[int, typer.Option("--k", help="Candidates per slot, spread over the generators.")] = PairOptions.k,
    kind: Annotated[Optional[str], typer.Option(
        help="The misalignment kind to write for prompts that have none: harmful_compliance, over_refusal, "
             "value_violation or cultural_insensitivity (see misalign taxonomy).")] = None,
    temperature: Annotated[Optional[float], typer.Option(help=SAMPLING_HELP)] = None,
    top_p: Annotated[Optional[float], typer.Option(help=SAMPLING_HELP)] = None,
    max_tokens: Annotated[Optional[int], typer.Option(help=SAMPLING_HELP)] = None,
    threshold: Annotated[float, typer.Option(help="Judge probability a candidate needs to pass.")] = PairOptions.threshold,
    margin: Annotated[float, typer.Option(help="Within this of the threshold (either side) a verdict is borderline.")] = PairOptions.margin,
    rounds: Annotated[int, typer.Option(help="Feedback-guided resampling rounds for a slot with no passing candidate.")] = PairOptions.rounds,
    audit_rate: Annotated[float, typer.Option(help="Share of accepted pairs sampled for human audit.")] = PairOptions.audit_rate,
    seed: Annotated[int, typer.Option(min=0, help="Sampling seed and audit-sample seed.")] = PairOptions.seed,
    batch: Annotated[int, typer.Option(help="Prompts per committed batch.")] = PairOptions.batch_prompts,
    limit: Annotated[Optional[int], typer.Option(help="Pair at most this many prompts in this run.")] = None,
    import_file: Annotated[Optional[Path], typer.Option(
        "--import", help="Candidates made elsewhere: a CSV/JSONL/Parquet file with prompt, slot, text, generator.")] = None,
    format: Annotated[Optional[str], typer.Option(help="Format of --import (default: from the suffix).")] = None,
    from_responses: Annotated[bool, typer.Option(
        help="Pair the labelled responses (misalign import responses): each in the slot of its verdict.")] = False,
    min_words: Annotated[int, typer.Option(help="Stage 1: fewer words is too_short.")] = RuleOptions.min_words,
    max_words: Annotated[int, typer.Option(help="Stage 1: more words is too_long.")] = RuleOptions.max_words,
    min_english: Annotated[float, typer.Option(help="Stage 1: a smaller probability of English is not_english.")] = RuleOptions.min_english,
    max_repetition: Annotated[float, typer.Option(
        help="Stage 1: a larger share of words in repeated 3-grams is repetition.")] = RuleOptions.repetition,
    near_identical: Annotated[int, typer.Option(
        help="Stage 1: SimHash distance at or below which the two slots are near_identical.")] = RuleOptions.near_identical,
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
    options = PairOptions(generators=tuple(generator or ()), judge=judge, labeler=labeler, k=k, kind=kind,
                          temperature=temperature,
                          top_p=top_p, max_tokens=max_tokens, threshold=threshold, margin=margin, rounds=rounds,
                          audit_rate=audit_rate, seed=seed, batch_prompts=batch, limit=limit,
                          rules=RuleOptions(min_words=min_words, max_words=max_words, min_english=min_english,
                                            repetition=max_repetition, near_identical=near_identical,
                                            checks=parse_checks(rules or [], checks)))
    with ctx.obj.open_store(must_exist=True) as store:
        if import_file or from_responses:
            report = run_stage("pairs_import", store, tax, config, PairImportOptions(import_file, format, from_responses,
                                                                                      options))
        else:
            report = run_stage("pairs", store, tax, config, options)
        echo(report.summary())
        _echo_pair_table(funnel_rows(store, report.params["labeler"], tax), all_domains)


@commands.command("export")
def export_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Folder to write the splits and the dataset card to.")],
    format: Annotated[str, typer.Option(help="Comma-separated: jsonl, csv, parquet, hf (hub/: a Hub dataset repo), "
                                            "hf-disk (datasets.save_to_disk), dpo (prompt/chosen/rejected for TRL), "
                                            "lm-eval (a task reporting Coverage, FFR, Alignment Score).")] = ",".join(ExportOptions.formats),
    seed: Annotated[int, typer.Option(min=0, help="Seed of the split assignment.")] = ExportOptions.seed,
    ratios: Annotated[str, typer.Option(help="train,validation,test shares.")] = ",".join(map(str, ExportOptions.ratios)),
    status_set: Annotated[str, typer.Option("--status", help="curated (human-accepted, then pipeline-accepted without "
                                                             "a human rejection), human, pipeline or all.")] = ExportOptions.pairs,
    dimension: Annotated[Optional[list[str]], typer.Option(help="Only pairs labelled in this dimension (repeatable).")] = None,
    domain: Annotated[Optional[list[str]], typer.Option(help="Only pairs with this domain id (repeatable).")] = None,
    semantic_type: Annotated[Optional[list[str]], typer.Option(help="object, attribute or relation (repeatable).")] = None,
    min_agreement: Annotated[Optional[float], typer.Option(help="Only pairs whose reviewers agree at least this much.")] = None,
    source: Annotated[Optional[list[str]], typer.Option(help="Only prompts from this ingested source (repeatable).")] = None,
    licence: Annotated[Optional[str], typer.Option(help="The dataset's licence, for its card: a Hub id (cc-by-4.0, "
                                                         "apache-2.0, ...), another licence's name, or 'unknown'. "
                                                         "Required.")] = None,
    dpo_format: Annotated[str, typer.Option(help="dpo rows as TRL takes them: standard (strings) or conversational "
                                                 "(lists of role/content messages).")] = ExportOptions.dpo_format,
    overwrite: Annotated[bool, typer.Option(help="Replace --out whole even if it holds no earlier export of this store.")] = ExportOptions.overwrite,
    what: Annotated[str, typer.Option(help="pairs (curated pairs in splits) or responses (the labelled responses "
                                           "with people's verdicts; formats jsonl, csv, parquet, hf).")] = "pairs",
) -> None:
    """Export curated pairs in stratified, leakage-free splits with a dataset card (or the labelled responses)."""

    try:
        parsed = tuple(float(r) for r in ratios.split(","))
    except ValueError:
        raise UsageError(f"'{ratios}' is not comma-separated numbers", field="ratios") from None
    options = ExportOptions(out=out, formats=tuple(f.strip() for f in format.split(",") if f.strip()), seed=seed,
                            ratios=parsed, pairs=status_set, dimensions=tuple(dimension or ()),
                            domains=tuple(domain or ()), semantic_types=tuple(semantic_type or ()),
                            min_agreement=min_agreement, sources=tuple(source or ()), licence=licence,
                            dpo_format=dpo_format, overwrite=overwrite)
    if what not in ("pairs", "responses"):
        raise UsageError(f"'{what}' is not pairs or responses", field="what")
    tax = ctx.obj.taxonomy()
    with ctx.obj.open_store(must_exist=True) as store:
        report = run_stage("export" if what == "pairs" else "export_responses", store, tax, None, options)
    echo(report.summary())
    echo_left_out(report)
    for line in report.notes.empty_splits:
        echo(f"note: {line}")
    echo(f"wrote {out}")


import_app = typer.Typer(help="Bring in data made elsewhere.", no_args_is_help=True)


@import_app.command("responses")
def import_responses_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV, TSV, JSONL or Parquet: prompt, response, model (or generator), "
                                              "verdict (aligned|misaligned); optional dimensions, kind, "
                                              "finish_reason, annotator.")],
    source: Annotated[Optional[str], typer.Option(help="Source name recorded for these rows (default: file name).")] = None,
    format: Annotated[Optional[str], typer.Option(help="csv, tsv, jsonl or parquet (default: from the suffix).")] = None,
    prompt_col: Annotated[Optional[str], typer.Option(help="The file's column holding the prompt.")] = None,
    response_col: Annotated[Optional[str], typer.Option(help="The file's column holding the response.")] = None,
    model_col: Annotated[Optional[str], typer.Option(help="The file's column naming the model that answered.")] = None,
    verdict_col: Annotated[Optional[str], typer.Option(help="The file's column holding people's verdict.")] = None,
    kind_col: Annotated[Optional[str], typer.Option(help="The file's column holding the misalignment kind.")] = None,
    verdict_map: Annotated[Optional[str], typer.Option(help="The file's verdict values in ours, e.g. "
                                                            "'1_full_compliance=misaligned,2_full_refusal=aligned,"
                                                            "3_partial_refusal=skip' (skip: leave the row out).")] = None,
    kind_map: Annotated[Optional[str], typer.Option(help="The file's kind values as kinds of the taxonomy, e.g. "
                                                         "'refused_benign=over_refusal'.")] = None,
    on_duplicate: Annotated[str, typer.Option(help="The same response twice from one annotator (or none): refuse "
                                                   "(name both rows), first (keep the first) or vote.")] = "refuse",
) -> None:
    """Add model responses people labelled, to benchmark detectors on (misalign bench run --on responses)."""
    from pipeline.stages.responses import ImportResponsesOptions, ResponseColumns, parse_value_map

    names = {field: column for field, column in (("prompt", prompt_col), ("response", response_col),
                                                 ("model", model_col), ("verdict", verdict_col), ("kind", kind_col))
             if column}
    columns = ResponseColumns(names, parse_value_map("--verdict-map", verdict_map) if verdict_map else {},
                              parse_value_map("--kind-map", kind_map) if kind_map else {})
    tax = ctx.obj.taxonomy()
    with ctx.obj.open_store() as store:
        report = run_stage("import_responses", store, tax, None,
                           ImportResponsesOptions(file, source, format, columns, on_duplicate))
    echo(report.summary())
    echo_left_out(report)
