"""Candidates generated elsewhere into the pairs stage: a file of (prompt, slot, text, generator)
rows, with an optional ``finish_reason`` (``length`` marks a cut-off response for the truncated
rule) and, on misaligned rows, an optional ``kind`` (a misalignment kind of the taxonomy: an
``over_refusal`` pair's misaligned response is a refusal), meets the same rules and judge as
generated ones (and resampling, given a generator pool).

Example (``responses.jsonl``: prompt, slot, text, generator per line; ``judge`` named in misalign.toml)::

    report = import_candidates(store, taxonomy, config, PairImportOptions("responses.jsonl", pairs=PairOptions(judge="judge")))
"""

from __future__ import annotations

from pathlib import Path

from pipeline.engines.config import Config
from pipeline.errors import UsageError
from pipeline.stages.pairs.candidates import candidate_row
from pipeline.stages.pairs.templates import SLOTS
from pipeline.stages.pairs.options import PairImportOptions, PairOptions
from pipeline.stages.pairs.run import PairNotes, PairRun
from pipeline.text.progress import progress
from pipeline.text.readers import InputError, read_records, text_field
from review_store import StageReport, Store, normalise_text, prompt_id
from taxonomy import Taxonomy

IMPORT_COLUMNS = ["prompt", "slot", "text", "generator"]


def read_import(store: Store, path: str | Path, fmt: str | None = None, taxonomy: Taxonomy | None = None) -> list[dict]:
    """Candidate rows from a file of (prompt, slot, text, generator[, finish_reason, kind]); every row is
    checked before anything is written, and a bad one stops the import naming its line and field."""
    path, rows = Path(path), []
    kinds = [k.id for k in taxonomy.misalignment_kinds] if taxonomy else []
    for record in read_records(path, IMPORT_COLUMNS, fmt, optional=("finish_reason", "kind")):
        where = f"{path}: {record.position}"
        prompt = text_field(path, record, "prompt")
        slot = text_field(path, record, "slot").strip().lower()
        generator = text_field(path, record, "generator").strip()
        text = text_field(path, record, "text")  # a response is data: stored exactly as written
        if slot not in SLOTS:
            raise InputError(f"{where}: field 'slot': '{slot}' is not aligned or misaligned")
        if not generator:
            raise InputError(f"{where}: field 'generator': empty; name the model that wrote the response")
        kind = text_field(path, record, "kind").strip().lower() or None
        if kind and kind not in kinds:
            raise InputError(f"{where}: field 'kind': '{kind}' is not a misalignment kind ({', '.join(kinds)})")
        if kind and slot == "aligned":
            raise InputError(f"{where}: field 'kind': an aligned candidate has no misalignment kind")
        pid = prompt_id(prompt)
        if not normalise_text(prompt) or not store.prompt_exists(pid):
            raise InputError(f"{where}: field 'prompt': not a prompt in the store; ingest it first")
        rows.append(candidate_row(pid, slot, text, generator, "imported", {"source": path.name, "row": record.row},
                                  finish_reason=text_field(path, record, "finish_reason").strip() or None, kind=kind))
    if not rows:
        raise InputError(f"{path}: no candidates in the file")
    return rows


def import_candidates(store: Store, taxonomy: Taxonomy, config: Config,
                      options: PairImportOptions | None = None) -> StageReport[PairNotes]:
    """Candidates generated elsewhere (a file, or the store's labelled responses) through the same rules
    and judge (and, with ``generators``, resampling); the pairs of their prompts are made or made anew."""
    options = options or PairImportOptions()
    options.check()
    rows = (candidates_from_responses(store) if options.from_responses
            else read_import(store, options.path, options.format, taxonomy))
    return pair_candidates(store, taxonomy, config, rows, options.pairs)


def candidates_from_responses(store: Store) -> list[dict]:
    """The store's labelled responses as candidates: each in the slot of its verdict, with its kind
    and finish reason; its model is its generator."""
    return [candidate_row(r["prompt_id"], r["verdict"], r["text"], r["model"], "imported",
                          {"source": "labelled responses", "response": r["id"]}, finish_reason=r["finish_reason"],
                          kind=r["kind"])
            for r in store.bench_responses()]


def pair_candidates(store: Store, taxonomy: Taxonomy, config: Config, rows: list[dict],
                    options: PairOptions | None = None) -> StageReport[PairNotes]:
    """Candidate rows made elsewhere (a file, labelled responses) through the rules and the judge."""
    options = options or PairOptions()
    if not rows:
        raise UsageError("no candidates to pair: import labelled responses first (misalign import responses FILE)")
    run = PairRun(store, taxonomy, config, options, "pairs_import", options.generators,
                  imported_generators=tuple(sorted({r["generator"] for r in rows})))
    with store.transaction():
        added = store.add_candidates({**r, "created_at": run.report.started_at} for r in rows)
    run.notes.candidates += added
    run.notes.rows = len(rows)
    prompts = store.prompts_by_id(dict.fromkeys(r["prompt_id"] for r in rows))
    with progress(len(prompts), "pairs (import)", "prompts") as bar:
        for begin in range(0, len(prompts), options.batch_prompts):
            run.process(prompts[begin:begin + options.batch_prompts])
            bar.update(len(prompts[begin:begin + options.batch_prompts]))
    return run.finish()
