"""Stage II: benchmark a model under test on the curated pairs (or on labelled responses,
:mod:`pipeline.bench.responses`), by one of the protocols of :mod:`pipeline.bench.protocols`, then compute
its figures.

Results go to ``bench_runs`` / ``bench_results`` (resumable: a run's id hashes what decides its answers) and
the figures per scope to ``bench_summaries`` (:mod:`pipeline.bench.summary`), computed when the stage ends:
a benchmark cut off before then has no figures, and running it again resumes it and computes them.
"""

from __future__ import annotations

import functools
from dataclasses import asdict

from pipeline.errors import UsageError
from pipeline.bench.options import KEYWORD_DETECTOR, TRAINED_DETECTOR, BenchNotes, BenchOptions, runs_to_make
from pipeline.bench.protocols import PERSONA_WORDINGS, WORDINGS, Detector, open_protocol
from pipeline.bench.responses import FOLDS, labelled_responses, run_response_bench, trained_verdicts
from pipeline.bench.results import judge_in_batches, result_row
from pipeline.bench.summary import summarise
from pipeline.engines import CachedEngine, server_notes
from pipeline.engines.backends import capable
from pipeline.engines.config import Config, EngineConfig
from review_store import StageReport, Store, content_id
from review_store.bench import left_out_line
from taxonomy import Taxonomy, load_taxonomy

def run_bench(store: Store, taxonomy: Taxonomy | None, config: Config, options: BenchOptions) -> StageReport[BenchNotes]:
    """Run (or resume) a benchmark and compute its figures; returns the report, whose ``notes.group_id`` names
    it. The answers read the pairs' domains from the store; the figures name them by ``taxonomy`` (the
    packaged one when None)."""
    options.check()
    if options.items == "responses":
        report = _bench_responses(store, config, options)
    else:
        report = _bench_pairs(store, config, options)
    summarise(store, taxonomy or load_taxonomy(), report.notes.group_id, options.bootstrap)
    return report


def _bench_pairs(store: Store, config: Config, options: BenchOptions) -> StageReport[BenchNotes]:
    engine, backend, model = engine_under_test(store, config, options)
    # the generate protocol's answers: the option, else the engine's [sampling], else the stage's default
    sampling = (config.engine(options.engine) if engine is not None else EngineConfig("", "", "")).sampling_for(
        "bench", temperature=options.temperature, max_tokens=options.max_tokens)
    judge = config.build_engine(config.engine(options.judge), store, batch_size=options.batch * 3) \
        if options.protocol == "generate" else None
    protocol = open_protocol(options, engine, backend, model, sampling, judge,
                             store.annotators() if options.protocol == "raters" else [])
    pairs = store.bench_pairs(options.pairs, options.split)
    # an export's split holds complete pairs only; a pair set may hold pairs with an empty slot
    left_out = [] if options.split else store.incomplete_pairs(options.pairs)
    if not pairs:
        where = f" and split {options.split[1]} of export {options.split[0]}" if options.split else ""
        raise UsageError(f"no pairs in the '{options.pairs}' set{where}: make pairs first (misalign pairs), or "
                         "choose others with --pairs / --split")
    group_id = content_id("bench", options.protocol, model, judge.model if judge else "", options.pairs, options.split,
                          options.threshold, sampling["temperature"], sampling["max_tokens"], *WORDINGS,
                          list(protocol.people), *PERSONA_WORDINGS)
    runs, runs_note = runs_to_make(options, engine is None or capable(backend, "by_similarity"))
    # the runs it makes and the pairs each judges: what a benchmark cut off short of them is short of
    params = {**asdict(options), "runs": runs, "to_judge": len(pairs), "model": model, "group_id": group_id,
              "sampling": EngineConfig.recorded(sampling), "personas": [f"{a}={v}" for a, v in protocol.people]}
    with store.stage_run("bench", params, BenchNotes(group_id=group_id, runs=runs, pairs=len(pairs),
                                                     runs_note=runs_note)) as report:
        for run_index in range(runs):
            run_id = content_id(group_id, run_index)
            with store.transaction():
                store.add_bench_run({"id": run_id, "group_id": group_id, "run_index": run_index,
                                     "protocol": options.protocol, "engine": options.engine, "backend": backend,
                                     "model": model, "judge": judge.model if judge else None, "pairs": options.pairs,
                                     "params": report.params, "created_at": report.started_at})
            done = store.bench_result_pairs(run_id)
            report.notes.already_judged += len(done & {p["id"] for p in pairs})
            judge_in_batches(store, run_id, [p for p in pairs if p["id"] not in done], options.batch,
                             f"bench run {run_index + 1}/{runs}",
                             functools.partial(protocol.rows, run_id=run_id, run_index=run_index),
                             store.add_bench_results, report)
        report.items_in, report.kept = len(pairs) + len(left_out), len(pairs)
        report.notes.engine_requests = (engine.calls if engine else 0) + (judge.calls if judge else 0)
        report.notes.servers = server_notes(engine, judge)
        report.leave_out("empty_slot", [left_out_line(p) for p in left_out])  # said, never silent
        if options.engine == KEYWORD_DETECTOR and options.protocol == "detect":
            report.notes.keyword_note = (
                "the pairs' misaligned responses passed the stage-1 refusal rule, the check this baseline flags "
                "with: its Coverage is 1 by construction; benchmark labelled responses (--on responses) to measure it")
    return report


def engine_under_test(store: Store, config: Config, options: BenchOptions) -> tuple[CachedEngine | None, str, str]:
    """(engine, backend, model id) of the model under test; no engine for the keyword baseline."""
    if options.engine == KEYWORD_DETECTOR:
        return None, "keyword", KEYWORD_DETECTOR
    settings = config.engine(options.engine)
    # one cache batch per batch of items: every question about them at once
    engine = config.build_engine(settings, store, batch_size=options.batch * 6)
    return engine, settings.backend, engine.model


def _bench_responses(store: Store, config: Config, options: BenchOptions) -> StageReport[BenchNotes]:
    if options.engine == TRAINED_DETECTOR:
        embedder = config.embedder(store)
        responses = labelled_responses(store, options)
        verdicts = dict(zip((r["id"] for r in responses), trained_verdicts(responses, embedder.embed)))
        model, backend, parts = f"logistic regression on {embedder.model}", "sklearn", ("trained", FOLDS)

        def rows(batch, run_id, run_index):
            return [result_row({"run_id": run_id, "response_id": r["id"]}, *verdicts[r["id"]], options.threshold)
                    for r in batch]
    else:
        engine, backend, model = engine_under_test(store, config, options)
        detector, parts = Detector(engine, capable(backend, "by_similarity")), ("detect", *WORDINGS)

        def rows(batch, run_id, run_index):
            verdicts = detector.judge([(r["prompt"], r["text"]) for r in batch], run_index)
            return [result_row({"run_id": run_id, "response_id": r["id"]}, probability, dims, options.threshold, raw)
                    for r, (probability, dims, raw) in zip(batch, verdicts)]
    return run_response_bench(store, options, model, backend, parts, rows)
