"""The stages of the loop, each declared once, all under one contract (as datatrove's pipeline steps):

    run(store, taxonomy, config, options) -> StageReport[Notes]

``options`` is the stage's settings dataclass, checked by ``options.check()`` before any work; the run
happens inside ``store.stage_run`` (so it is recorded in ``stage_runs`` with its counts, its settings
and its typed notes), is resumable and idempotent, and shows progress through
:func:`pipeline.text.progress.progress`. A stage that reads no taxonomy or no engine takes them all
the same, so every stage is run alike:

>>> report = run_stage("ingest", store, taxonomy, config, STAGES["ingest"].options(path="prompts.csv"))
>>> report.kept, report.notes.new_prompts
(2, 2)
>>> run_stage("dedup", store, taxonomy, config).notes.fingerprinted
2
>>> run_stage("pairz", store, taxonomy, config)
Traceback (most recent call last):
...
pipeline.errors.UsageError: no stage named 'pairz' (stages: ingest, label, dedup, expand, pairs, import_responses, import_pairs, queue, label_queue, review_push, review_pull, bench, import_inspect, steer, export, export_responses)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from pipeline.errors import UsageError
from review_store import StageReport, Store
from taxonomy import Taxonomy


def _load(where: str):
    module, name = where.split(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Stage:
    name: str  # the stage's name here (its runs are recorded under a name of their own, e.g. review_queue)
    command: str  # the CLI command that runs it
    what: str  # what it does, in a line
    run_at: str  # "module:function", imported when the stage runs
    options_at: str  # "module:Class" of its settings
    notes_at: str  # "module:Class" of its report's notes
    section: str | None = None  # the misalign.toml section that sets its options (pipeline.flow.settings)

    @property
    def run(self):
        """The stage's function: ``run(store, taxonomy, config, options) -> StageReport``."""
        return _load(self.run_at)

    @property
    def options(self) -> type:
        return _load(self.options_at)

    @property
    def notes(self) -> type:
        return _load(self.notes_at)


STAGES: dict[str, Stage] = {stage.name: stage for stage in (
    Stage("ingest", "misalign ingest FILE", "prompts and their labels into the store",
          "pipeline.stages.ingest:ingest", "pipeline.stages.options:IngestOptions",
          "pipeline.stages.ingest:IngestNotes"),
    Stage("label", "misalign label", "each prompt's domains, zero-shot or by the learned labelling model",
          "pipeline.stages.label:label", "pipeline.stages.options:LabelOptions",
          "pipeline.stages.label_rows:LabelNotes", section="label"),
    Stage("dedup", "misalign dedup", "near-duplicate prompts removed (SimHash), with an audit",
          "pipeline.stages.dedup:dedup", "pipeline.stages.options:DedupOptions",
          "pipeline.stages.dedup:DedupNotes", section="dedup"),
    Stage("expand", "misalign expand", "domains short of prompts raised by generation",
          "pipeline.stages.expand:expand", "pipeline.stages.options:ExpandOptions",
          "pipeline.stages.expand:ExpandNotes", section="expand"),
    Stage("pairs", "misalign pairs", "an aligned and a misaligned response per prompt, ruled and judged",
          "pipeline.stages.pairs.run:make_pairs", "pipeline.stages.pairs.options:PairOptions",
          "pipeline.stages.pairs.run:PairNotes", section="pairs"),
    Stage("import_responses", "misalign import responses FILE", "labelled responses from another tool or study",
          "pipeline.stages.responses:import_responses", "pipeline.stages.responses:ImportResponsesOptions",
          "pipeline.stages.responses:ImportResponsesNotes"),
    Stage("import_pairs", "misalign pairs --import FILE", "candidates made elsewhere through the same rules and judge",
          "pipeline.stages.pairs.importer:import_candidates", "pipeline.stages.pairs.options:PairImportOptions",
          "pipeline.stages.pairs.run:PairNotes"),
    Stage("queue", "misalign review queue", "the pairs a panel should see",
          "pipeline.review.queues:build_queues", "pipeline.review.queues:QueueOptions",
          "pipeline.review.queues:QueueNotes", section="review"),
    Stage("label_queue", "misalign review label-queue", "the prompts a labelling model is least sure about, for a panel",
          "pipeline.review.label_review:build_label_review", "pipeline.review.label_review:LabelQueueOptions",
          "pipeline.review.queues:QueueNotes", section="review"),
    Stage("review_push", "misalign review push", "a panel's queued items sent to Argilla",
          "pipeline.review.argilla.sync:review_push", "pipeline.review.argilla.sync:PushOptions",
          "pipeline.review.argilla.sync:PushNotes"),
    Stage("review_pull", "misalign review pull", "the panels' submitted answers back from Argilla",
          "pipeline.review.argilla.sync:review_pull", "pipeline.review.argilla.sync:PullOptions",
          "pipeline.review.argilla.sync:PullNotes"),
    Stage("bench", "misalign bench run", "a model measured on the pairs or on labelled responses",
          "pipeline.bench.run:run_bench", "pipeline.bench.options:BenchOptions",
          "pipeline.bench.options:BenchNotes", section="bench"),
    Stage("import_inspect", "misalign bench import-inspect LOG", "an Inspect AI run of misalign/detect as a benchmark",
          "pipeline.bench.inspect_import:import_inspect_log", "pipeline.bench.inspect_import:InspectImportOptions",
          "pipeline.bench.options:BenchNotes"),
    Stage("steer", "misalign steer build", "a steering vector from aligned/misaligned pairs",
          "pipeline.steer.build:build_steering", "pipeline.steer.build:SteerOptions",
          "pipeline.steer.build:SteerNotes"),
    Stage("export", "misalign export", "curated pairs split without leakage, written with a dataset card",
          "pipeline.export.splits:export", "pipeline.export.options:ExportOptions",
          "pipeline.export.options:ExportNotes", section="export"),
    Stage("export_responses", "misalign export --what responses", "the labelled responses with their verdicts",
          "pipeline.export.responses:export_responses", "pipeline.export.options:ExportOptions",
          "pipeline.export.options:ExportNotes"),
)}


def run_stage(name: str, store: Store, taxonomy: Taxonomy, config, options=None) -> StageReport:
    """Run the stage called ``name`` with ``options`` (its defaults when not given)."""
    if name not in STAGES:
        raise UsageError(f"no stage named '{name}' (stages: {', '.join(STAGES)})")
    return STAGES[name].run(store, taxonomy, config, options)
