"""The ingest stage: a prompts file into the store, with its labels, in one transaction.

Exact duplicates (same normalised text) collapse to one prompt that keeps every source row.
Bad rows stop the ingest with a one-line error, or are skipped and counted with ``skip_bad``.

>>> report = ingest(store, taxonomy, options=IngestOptions("prompts.csv", label_columns={"safety": "safety_name"}))
>>> report.notes.new_prompts, report.notes.new_labels
(2, 1)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.engines.config import Config
from pipeline.stages.options import IngestOptions
from pipeline.text.progress import progress
from pipeline.text.readers import BadRow, SourceRecord, read_records, text_field
from review_store import Notes, StageReport, Store, prompt_id
from taxonomy import Taxonomy


def _prompt_text(path: Path, record: SourceRecord, options: IngestOptions) -> str:
    """The prompt exactly as the file has it (its id is the hash of its normalised text)."""
    text = text_field(path, record, options.text_column)
    where = f"{path}: {record.position}: field '{options.text_column}'"
    if not text.strip():  # what normalising leaves of it: whitespace is what it removes
        raise BadRow(f"{where}: empty or whitespace-only prompt", "empty_prompt")
    if len(text) > options.max_chars:
        raise BadRow(f"{where}: prompt is {len(text):,} characters, over the limit of {options.max_chars:,} (--max-chars)",
                     "too_long")
    return text


def _record_labels(path: Path, record: SourceRecord, options: IngestOptions, taxonomy: Taxonomy) -> list[tuple[str, str]]:
    labels = []
    for dimension, column in options.label_columns.items():
        value = text_field(path, record, column).strip()
        if not value:
            if options.empty_label == "none":
                labels.append((dimension, "none"))
            continue
        entry = taxonomy.resolve(dimension, value)
        if entry is None:
            raise BadRow(f"{path}: {record.position}: field '{column}': unknown {dimension} label '{value}' "
                         f"(not a domain name or alias in taxonomy {taxonomy.version})", "unknown_label")
        labels.append((dimension, entry.id))
    return labels


def _record_semantic_type(path: Path, record: SourceRecord, column: str | None, taxonomy: Taxonomy) -> str | None:
    value = text_field(path, record, column).strip().lower() if column else ""
    known = [t.id for t in taxonomy.semantic_types]
    if value and value not in known:
        raise BadRow(f"{path}: {record.position}: field '{column}': unknown semantic type '{value}' "
                     f"(one of {', '.join(known)})", "unknown_semantic_type")
    return value or None


@dataclass
class IngestNotes(Notes):
    new_prompts: int = 0
    duplicate_rows: int = 0  # rows whose prompt an earlier row of the file had (byte for byte)
    new_source_rows: int = 0
    new_labels: int = 0
    new_semantic_types: int = 0


def ingest(store: Store, taxonomy: Taxonomy, config: Config | None = None,
           options: IngestOptions | None = None) -> StageReport[IngestNotes]:
    """Ingest ``options.path`` into ``store``; the store is unchanged if it raises :class:`InputError`.
    Ingest reads no engine (``config`` is the stage contract's)."""
    options = options or IngestOptions()
    options.check()
    path = Path(options.path)
    source = options.source or path.name
    labeler = f"imported:{source}"
    params = {k: v for k, v in asdict(options).items() if k != "path"}
    with store.stage_run("ingest", {**params, "file": str(path)}, IngestNotes()) as report, \
            progress(None, f"ingest {path.name}", "rows") as bar:

        prompts: dict[str, dict] = {}
        sources, labels, types = [], {}, {}
        columns = [options.text_column, *options.label_columns.values(), *filter(None, [options.semantic_type_column])]
        records = read_records(path, list(dict.fromkeys(columns)), options.format, options.encoding)
        for record in records:
            report.items_in += 1
            bar.update(1)
            try:
                text = _prompt_text(path, record, options)
                record_labels = _record_labels(path, record, options, taxonomy)
                semantic_type = _record_semantic_type(path, record, options.semantic_type_column, taxonomy)
            except BadRow as bad:
                if not options.skip_bad:
                    raise
                report.drop(bad.reason)
                continue
            report.kept += 1
            pid = prompt_id(text)
            prompts.setdefault(pid, {"id": pid, "text": text, "origin": options.origin})
            sources.append({"prompt_id": pid, "source": source, "row": record.row})
            for dimension, domain in record_labels:
                labels[(pid, dimension, domain)] = {
                    "prompt_id": pid, "dimension": dimension, "domain": domain, "probability": 1.0,
                    "labeler": labeler, "taxonomy_version": taxonomy.version, "created_at": report.started_at,
                }
            if semantic_type:
                types[(pid, semantic_type)] = {"prompt_id": pid, "type": semantic_type, "probability": 1.0, "labeler": labeler}

        with store.transaction():
            report.notes = IngestNotes(
                new_prompts=store.add_prompts(prompts.values(), created_at=report.started_at),
                duplicate_rows=report.kept - len(prompts),
                new_source_rows=store.add_prompt_sources(sources),
                new_labels=store.add_labels(labels.values()),
                new_semantic_types=store.add_semantic_types(types.values()))
            store.record_stage_run(report)
    return report
