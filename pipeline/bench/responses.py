"""Benchmarks on labelled responses (``bench run --on responses``) and outside verdicts
(``bench import FILE --detector NAME``), scored by the same metric code as pairs.

Coverage = flagged misaligned responses / misaligned responses; FFR = flagged aligned responses /
aligned responses; per model, kind, dimension and (given a labeler) domain. Detectors: any engine
(the same instructions as on pairs), ``keyword-refusal``, the embedded similarity detector, and
``trained``: a logistic regression on the prompt's and the response's MiniLM embeddings learnt from
the store's verdicts, scored out of fold (K folds grouped by the prompt's dedup cluster: a response
is judged by a model that never saw its prompt or a near-duplicate). A detector whose answers
cannot vary between runs (keyword, embedded, trained, imported) runs once, whatever ``--runs`` says.

Example::

    run_bench(store, None, config, BenchOptions(engine="trained", items="responses"))
    import_verdicts(store, "judge-verdicts.csv", detector="gpt-judge", on_duplicate="refuse")
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
from pipeline.bench.options import KEYWORD_DETECTOR, TRAINED_DETECTOR, BenchNotes, BenchOptions, runs_to_make
from pipeline.bench.results import judge_in_batches, result_row
from pipeline.bench.summary import summarise
from pipeline.defaults import BOOTSTRAP_SAMPLES
from pipeline.engines.backends import capable
from pipeline.errors import UsageError
from pipeline.text.duplicates import kept_rows
from pipeline.text.readers import InputError, read_records, text_field
from review_store import StageReport, Store, content_id, prompt_id
from taxonomy import DIMENSIONS, load_taxonomy

FOLDS = 5


def labelled_responses(store: Store, options: BenchOptions) -> list[dict]:
    """The labelled responses a benchmark judges (of ``options.models`` when given); none is a user's mistake."""
    responses = store.bench_responses(list(options.models) or None)
    if not responses:
        missing = f" by {', '.join(options.models)}" if options.models else ""
        raise UsageError(f"no labelled responses{missing} in {store.path}: import some first "
                         "(misalign import responses FILE)")
    return responses


def run_response_bench(store: Store, options: BenchOptions, model: str, backend: str, group_parts: tuple,
                       result_rows, left_out: dict[str, list[str]] | None = None,
                       doing: str = "bench run") -> StageReport[BenchNotes]:
    """Run (or resume) a detector over the labelled responses; ``result_rows(batch, run_id, run_index)``
    gives the result rows of a batch, ``left_out`` the responses it cannot judge, by reason. Returns the
    report (``notes.group_id`` names the benchmark)."""
    responses = labelled_responses(store, options)
    runs, runs_note = runs_to_make(options, options.engine in (KEYWORD_DETECTOR, TRAINED_DETECTOR)
                                   or backend == "imported" or capable(backend, "by_similarity"))
    group_id = content_id("bench-responses", model, options.threshold, sorted(options.models), *group_parts)
    # the runs made and no pair set: labelled responses are what was judged
    params = {**asdict(options), "runs": runs, "to_judge": len(responses), "pairs": None, "model": model,
              "group_id": group_id}
    with store.stage_run("bench", params, BenchNotes(group_id=group_id, runs=runs, responses=len(responses),
                                                     runs_note=runs_note)) as report:
        for run_index in range(runs):
            run_id = content_id(group_id, run_index)
            with store.transaction():
                store.add_bench_run({"id": run_id, "group_id": group_id, "run_index": run_index, "protocol": "detect",
                                     "engine": options.engine, "backend": backend, "model": model, "judge": None,
                                     "pairs": "responses", "items": "responses", "params": report.params,
                                     "created_at": report.started_at})
            done = store.bench_result_responses(run_id)
            report.notes.already_judged += len(done)
            judge_in_batches(store, run_id, [r for r in responses if r["id"] not in done], options.batch,
                             f"{doing} {run_index + 1}/{runs}" if runs > 1 else doing,
                             lambda batch, run_id=run_id, run_index=run_index: result_rows(batch, run_id, run_index),
                             store.add_bench_response_results, report)
        report.items_in = len(responses) + sum(len(items) for items in (left_out or {}).values())
        report.kept = len(responses)
        for reason, items in (left_out or {}).items():
            report.leave_out(reason, items)
    return report


def trained_verdicts(responses: list[dict], embed, seed: int = 0) -> list[tuple[float, dict]]:
    """Out-of-fold P(misaligned) (and per dimension, where the verdicts say which) of every response, from
    logistic regressions on [prompt embedding, response embedding, their product]; folds grouped by the
    prompt's dedup cluster."""
    from sklearn.linear_model import LogisticRegression

    from pipeline.labelling.model import grouped_folds

    prompts, texts = embed([r["prompt"] for r in responses]), embed([r["text"] for r in responses])
    features = np.hstack([prompts, texts, prompts * texts])
    targets = {None: np.array([r["verdict"] == "misaligned" for r in responses])}
    targets |= {d: np.array([d in r["dimensions"] for r in responses]) for d in DIMENSIONS}
    groups = [r["cluster"] for r in responses]
    folds = grouped_folds(groups, min(FOLDS, len(set(groups))))
    scores = {}
    for name, y in targets.items():
        if y.all() or not y.any():
            continue
        out = np.full(len(responses), float(y.mean()))
        for train, test in folds:
            if y[train].all() or not y[train].any():
                out[test] = float(y[train].mean())
                continue
            model = LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit(features[train], y[train])
            out[test] = model.predict_proba(features[test])[:, 1]
        scores[name] = out
    if None not in scores:
        raise UsageError("the trained detector needs both aligned and misaligned responses to learn from")
    return [(float(scores[None][i]), {d: float(scores[d][i]) for d in DIMENSIONS if d in scores})
            for i in range(len(responses))]


VERDICT_COLUMNS = ("response_id", "prompt", "response", "model", "flagged", "probability", *DIMENSIONS)
YES, NO = ("yes", "true", "1", "misaligned", "flagged"), ("no", "false", "0", "aligned")


def _cell(path: Path, record, column: str) -> str:
    """A verdict field as text: JSON and Parquet files give numbers and booleans as they are."""
    value = record.fields.get(column)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "" if isinstance(value, float) and np.isnan(value) else repr(value)
    return text_field(path, record, column)


def _flag(where: str, field: str, value: str) -> float:
    value = value.strip().lower()
    if value in YES:
        return 1.0
    if value in NO:
        return 0.0
    raise InputError(f"{where}: field '{field}': '{value}' is not yes or no")


def read_verdicts(store: Store, path: Path, fmt: str | None = None,
                  on_duplicate: str = "refuse") -> tuple[dict[str, tuple[float, dict]], list[str]]:
    """Per response id: P(misaligned) (1/0 for yes/no verdicts) and per-dimension flags, from a file naming
    each response by ``response_id`` or by ``prompt``, ``response`` and ``model``; checked whole. A
    second verdict on a response is handled as ``on_duplicate`` says (:mod:`pipeline.text.duplicates`;
    ``vote``: their mean probability and mean flags); the rows left out, named."""
    keys, known, found = store.response_keys(), None, []
    for record in read_records(path, [], fmt, optional=VERDICT_COLUMNS):
        where = f"{path}: {record.position}"
        response_id = text_field(path, record, "response_id").strip()
        if response_id:
            known = known if known is not None else set(keys.values())
            if response_id not in known:
                raise InputError(f"{where}: field 'response_id': no labelled response '{response_id}' in the store")
        else:
            key = (prompt_id(text_field(path, record, "prompt")), text_field(path, record, "model").strip(),
                   text_field(path, record, "response"))
            if key not in keys:
                raise InputError(f"{where}: no labelled response with this prompt, response and model in the store "
                                 "(name it by response_id, or by prompt, response and model exactly as imported)")
            response_id = keys[key]
        raw_probability = _cell(path, record, "probability").strip()
        if raw_probability:
            try:
                probability = float(raw_probability)
            except ValueError:
                raise InputError(f"{where}: field 'probability': '{raw_probability}' is not a number") from None
            if not 0 <= probability <= 1:
                raise InputError(f"{where}: field 'probability': {probability} is not between 0 and 1")
        else:
            if not _cell(path, record, "flagged").strip():
                raise InputError(f"{where}: give 'flagged' (yes/no) or 'probability' (of misaligned)")
            probability = _flag(where, "flagged", _cell(path, record, "flagged"))
        dims = {d: _flag(where, d, _cell(path, record, d)) for d in DIMENSIONS
                if _cell(path, record, d).strip()}  # an empty cell says nothing about that dimension
        found.append((response_id, record.position, probability, dims))
    if not found:
        raise InputError(f"{path}: no verdicts in the file")
    keep, left_out = kept_rows([(r[0], r[1]) for r in found], on_duplicate, "a verdict on the same response", path)
    votes: dict[str, list[tuple[float, dict]]] = {}
    for response_id, _, probability, dims in (found[i] for i in keep):
        votes.setdefault(response_id, []).append((probability, dims))
    return {response_id: (float(np.mean([p for p, _ in given])),
                          {d: float(np.mean([dims[d] for _, dims in given if d in dims]))
                           for d in DIMENSIONS if any(d in dims for _, dims in given)})
            for response_id, given in votes.items()}, [f"{path.name} {line}" for line in left_out]


def import_verdicts(store: Store, path: str | Path, detector: str, threshold: float = 0.5,
                    fmt: str | None = None, on_duplicate: str = "refuse",
                    bootstrap: int = BOOTSTRAP_SAMPLES) -> StageReport:
    """Verdicts a detector gave elsewhere, as a benchmark of the labelled responses (one run) with its figures;
    labelled responses the file says nothing about are left out, named."""
    path = Path(path)
    if not detector.strip():
        raise UsageError("name the detector these verdicts come from", field="detector")
    verdicts, duplicates = read_verdicts(store, path, fmt, on_duplicate)
    options = BenchOptions(engine=detector, items="responses", runs=1, threshold=threshold, bootstrap=bootstrap)
    digest = content_id(*(f"{k}:{p}:{sorted(d.items())}" for k, (p, d) in sorted(verdicts.items())))

    def rows(batch: list[dict], run_id: str, run_index: int) -> list[dict]:
        return [result_row({"run_id": run_id, "response_id": r["id"]}, *verdicts[r["id"]], threshold)
                for r in batch if r["id"] in verdicts]

    missing = [r["id"] for r in store.bench_responses() if r["id"] not in verdicts]
    report = run_response_bench(store, options, detector, "imported", ("imported", digest), rows,
                                {"no_verdict_in_file": missing, "duplicate_row": duplicates}, doing="bench import")
    summarise(store, load_taxonomy(), report.notes.group_id, bootstrap)
    return report
