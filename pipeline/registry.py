"""The stages of the loop, each declared once (as datatrove's pipeline steps declare themselves): its name,
command, words, options and notes classes, ``misalign.toml`` section and the engine roles it asks for with
their sampling. Everything that needs a stage's identity reads it from here: ``misalign.toml``'s sections
and ``[stages]`` roles (``pipeline.engines.config``), the CLI and ``config show``, the app's run lists, and
:func:`pipeline.flow.run.run_stage`, which runs a stage by name under one contract::

    run(store, taxonomy, config, options) -> StageReport[Notes]

Its options are declared once too, field by field (:func:`option`): the CLI's flags and the file's keys
are made from them.

>>> STAGES["dedup"].command, STAGES["pairs"].roles["generate"]["max_tokens"], ENGINE_ROLES["judge"]
('misalign dedup', 512, None)
"""

from __future__ import annotations

import importlib
from dataclasses import MISSING, dataclass, field



SAMPLING_HELP = "Default: the engine's \\[engines.NAME.sampling] in misalign.toml, else the stage's (misalign config show)."


def option(default=MISSING, help: str = "", *, flag: str | None = None, names: tuple[str, ...] = (),
           separator: str | None = None, repeatable: bool = False, parse=None, argument: bool = False,
           required: bool = False, envvar: str | None = None, cli: bool = True, nested: dict | None = None,
           factory=MISSING):
    """A stage's option, declared once on its Options dataclass: its default, its help, and how the command
    line and ``misalign.toml`` give it. The CLI's flags (``pipeline.cli.declared``), the file's keys and their
    settings model (``pipeline.flow.settings``) are made from it.

    ``flag``: its name there, when not the field's (``batch`` for ``batch_prompts``); ``names``: more flags
    for it; ``separator``: a tuple given as one string (``jsonl,csv``); ``repeatable``: a tuple given by
    repeating the flag; ``parse``: how the command line's text becomes the value; ``argument``: the
    command's argument, not a flag; ``required``: the command needs it (a library may leave it unset until
    ``check()``); ``envvar``: the environment variable that gives it when the flag does not; ``cli=False``: no
    flag (a library's or the file's setting); ``nested``:
    for a settings dataclass inside, the flag of each of its fields the command offers.

    >>> from dataclasses import dataclass, fields
    >>> @dataclass
    ... class Example:
    ...     batch_prompts: int = option(16, "Prompts per batch.", flag="batch")
    >>> fields(Example)[0].metadata["flag"], Example().batch_prompts
    ('batch', 16)
    """
    metadata = {"help": help, "flag": flag, "names": names, "separator": separator, "repeatable": repeatable or None,
                "parse": parse, "argument": argument or None, "required": required or None, "envvar": envvar,
                "cli": None if cli else False, "nested": nested}
    metadata = {k: v for k, v in metadata.items() if v is not None}
    return field(default=default, default_factory=factory, metadata=metadata)


def flag_of(declared) -> str:
    """The name a flag and a file give a declared field: its ``flag``, else its own name."""
    return declared.metadata.get("flag", declared.name)


def default_of(declared):
    """A declared field's default (made by its factory where it has one); ``MISSING`` for a required one."""
    if declared.default is not MISSING:
        return declared.default
    if declared.default_factory is not MISSING:
        return declared.default_factory()
    return MISSING


def _load(where: str):
    module, name = where.split(":")
    return getattr(importlib.import_module(module), name)


# what a stage that writes asks of its engine unless the engine's [engines.X.sampling] or the stage's own
# option says otherwise (the option wins over the file, the file over these)
_WRITES = {"temperature": 0.7, "top_p": 0.9}


@dataclass(frozen=True)
class Stage:
    """One stage, declared once: the CLI, ``misalign.toml`` (its section, its ``[stages]`` roles), ``config
    show``, the app's words for its runs and :func:`run_stage` all read it from here."""

    name: str  # its runs are recorded under this name (``stage_runs.stage``)
    command: str  # the CLI command that runs it
    what: str  # what it does, in a line
    words: str  # what a run of it did, as the app's run lists say it
    run_at: str  # "module:function", imported when the stage runs
    options_at: str  # "module:Class" of its settings
    notes_at: str  # "module:Class" of its report's notes
    section: str | None = None  # the misalign.toml section that sets its options (pipeline.flow.settings)
    # the engine roles it asks ``[stages]`` for, each with the sampling it writes with (None: it only scores)
    roles: dict = field(default_factory=dict)
    tables: tuple[str, ...] = ()  # tables of its section it reads itself (``[pairs.rules]``), not options

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
    Stage("ingest", "misalign ingest FILE", "prompts and their labels into the store", "ingest prompts",
          "pipeline.stages.ingest:ingest", "pipeline.stages.options:IngestOptions",
          "pipeline.stages.ingest:IngestNotes"),
    Stage("label", "misalign label", "each prompt's domains, zero-shot or by the learned labelling model", "label domains",
          "pipeline.stages.label:label", "pipeline.stages.options:LabelOptions",
          "pipeline.stages.label_rows:LabelNotes", section="label", roles={"label": None}),
    Stage("dedup", "misalign dedup", "near-duplicate prompts removed (SimHash), with an audit", "remove near-duplicates",
          "pipeline.stages.dedup:dedup", "pipeline.stages.options:DedupOptions",
          "pipeline.stages.dedup:DedupNotes", section="dedup"),
    Stage("expand", "misalign expand", "domains short of prompts raised by generation", "expand sparse domains",
          "pipeline.stages.expand:expand", "pipeline.stages.options:ExpandOptions",
          "pipeline.stages.expand:ExpandNotes", section="expand", roles={"expand": {**_WRITES, "max_tokens": 64}}),
    Stage("pairs", "misalign pairs", "an aligned and a misaligned response per prompt, ruled and judged", "generate pairs",
          "pipeline.stages.pairs.run:make_pairs", "pipeline.stages.pairs.options:PairOptions",
          "pipeline.stages.pairs.run:PairNotes", section="pairs",
          roles={"generate": {**_WRITES, "max_tokens": 512}, "judge": None}, tables=("rules",)),
    Stage("import_responses", "misalign import responses FILE", "labelled responses from another tool or study",
          "import labelled responses",
          "pipeline.stages.responses:import_responses", "pipeline.stages.responses:ImportResponsesOptions",
          "pipeline.stages.responses:ImportResponsesNotes"),
    Stage("pairs_import", "misalign pairs --import FILE", "candidates made elsewhere through the same rules and judge",
          "import responses as pairs",
          "pipeline.stages.pairs.importer:import_candidates", "pipeline.stages.pairs.options:PairImportOptions",
          "pipeline.stages.pairs.run:PairNotes", roles={"judge": None}),
    Stage("review_queue", "misalign review queue", "the pairs a panel should see", "queue pairs for review",
          "pipeline.review.queues:build_queues", "pipeline.review.queues:QueueOptions",
          "pipeline.review.queues:QueueNotes", section="review"),
    Stage("review_label_queue", "misalign review label-queue",
          "the prompts a labelling model is least sure about, for a panel", "queue labels for review",
          "pipeline.review.label_review:build_label_review", "pipeline.review.label_review:LabelQueueOptions",
          "pipeline.review.queues:QueueNotes", section="review"),
    Stage("review_push", "misalign review push", "a panel's queued items sent to Argilla", "push to Argilla",
          "pipeline.review.argilla.sync:review_push", "pipeline.review.argilla.options:PushOptions",
          "pipeline.review.argilla.sync:PushNotes"),
    Stage("review_pull", "misalign review pull", "the panels' submitted answers back from Argilla",
          "pull from Argilla",
          "pipeline.review.argilla.sync:review_pull", "pipeline.review.argilla.options:PullOptions",
          "pipeline.review.argilla.sync:PullNotes"),
    Stage("bench", "misalign bench run", "a model measured on the pairs or on labelled responses", "benchmark a model",
          "pipeline.bench.run:run_bench", "pipeline.bench.options:BenchOptions",
          "pipeline.bench.options:BenchNotes", section="bench", roles={"bench": {**_WRITES, "max_tokens": 256}}),
    Stage("import_inspect", "misalign bench import-inspect LOG", "an Inspect AI run of misalign/detect as a benchmark",
          "import an Inspect AI run",
          "pipeline.bench.inspect_import:import_inspect_log", "pipeline.bench.options:InspectImportOptions",
          "pipeline.bench.options:BenchNotes"),
    Stage("steer_build", "misalign steer build", "a steering vector from aligned/misaligned pairs",
          "build a steering vector",
          "pipeline.steer.build:build_steering", "pipeline.steer.options:SteerOptions",
          "pipeline.steer.build:SteerNotes"),
    Stage("export", "misalign export", "curated pairs split without leakage, written with a dataset card", "export pairs",
          "pipeline.export.splits:export", "pipeline.export.options:ExportOptions",
          "pipeline.export.options:ExportNotes", section="export"),
    Stage("export_responses", "misalign export --what responses", "the labelled responses with their verdicts",
          "export labelled responses",
          "pipeline.export.responses:export_responses", "pipeline.export.options:ExportOptions",
          "pipeline.export.options:ExportNotes"),
)}


# derived from the declarations: the roles [stages] may name, each with its sampling defaults, and the
# misalign.toml sections that set stages' options
ENGINE_ROLES: dict[str, dict | None] = {role: sampling for stage in STAGES.values()
                                        for role, sampling in stage.roles.items()}
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(stage.section for stage in STAGES.values() if stage.section))
SECTION_TABLES: dict[str, tuple[str, ...]] = {section: tuple(t for stage in STAGES.values() if stage.section == section
                                                             for t in stage.tables) for section in SECTIONS}


def stage_words(stage: str) -> str:
    """What a run of a stage did, as a person would say it (a name no stage has, from an older store, with
    spaces for underscores).

    >>> stage_words("pairs_import"), stage_words("some_old_stage")
    ('import responses as pairs', 'some old stage')
    """
    return STAGES[stage].words if stage in STAGES else stage.replace("_", " ")
