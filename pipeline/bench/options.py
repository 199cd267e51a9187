"""The settings of a benchmark run: a plain dataclass, light to import.

>>> BenchOptions(engine="keyword-refusal", runs=0).check()
Traceback (most recent call last):
...
pipeline.errors.UsageError: --runs: must be at least 1, not 0
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.defaults import BOOTSTRAP_SAMPLES
from pipeline.errors import UsageError, check_range
from review_store import Notes
from review_store.bench import PAIR_SETS

PROTOCOLS = ("detect", "generate", "raters")
ITEMS = ("pairs", "responses")
KEYWORD_DETECTOR = "keyword-refusal"
TRAINED_DETECTOR = "trained"  # on labelled responses: learnt from their verdicts, scored out of fold


@dataclass
class BenchOptions:
    engine: str = field(metadata={"flag": "model"})  # the model under test: an engine name from misalign.toml, or keyword-refusal
    protocol: str = "detect"
    runs: int = 3
    pairs: str = "pipeline"  # pipeline, human, curated, reviewed or all (see review_store.bench.PAIR_SETS)
    split: tuple[str, str] | None = field(default=None, metadata={"separator": ":"})  # (export id, split name): only the pairs an export put there
    threshold: float = 0.5
    judge: str | None = None  # generate protocol: scores the answers
    # generate protocol; None: the engine's [engines.X.sampling], else the stage's (pipeline.registry)
    temperature: float | None = None
    max_tokens: int | None = None
    batch: int = 64
    items: str = field(default="pairs", metadata={"flag": "on"})  # pairs (of the pair set) or responses (labelled responses: misalign import responses)
    models: tuple[str, ...] = ()  # responses: only those of these models
    labeler: str | None = None  # responses: whose domains the per-domain figures use (none: no domain figures)
    bootstrap: int = BOOTSTRAP_SAMPLES  # resamples behind the figures' 95% intervals

    def check(self) -> None:
        if self.items not in ITEMS:
            raise UsageError(f"must be one of {', '.join(ITEMS)}, not '{self.items}'", field="on")
        if self.items == "responses" and self.protocol != "detect":
            raise UsageError("labelled responses are benchmarked with the detect protocol (--protocol detect)")
        if self.engine == TRAINED_DETECTOR and self.items != "responses":
            raise UsageError("the trained detector learns from labelled responses' verdicts: use it with --on responses")
        if self.protocol not in PROTOCOLS:
            raise UsageError(f"must be one of {', '.join(PROTOCOLS)}, not '{self.protocol}'", field="protocol")
        if self.pairs not in PAIR_SETS:
            raise UsageError(f"must be one of {', '.join(PAIR_SETS)}, not '{self.pairs}'", field="pairs")
        if self.runs < 1:
            raise UsageError(f"must be at least 1, not {self.runs}", field="runs")
        check_range("threshold", self.threshold, 0, 1)
        check_range("temperature", self.temperature, 0)
        check_range("max-tokens", self.max_tokens, 1)
        check_range("batch", self.batch, 1)
        check_range("bootstrap", self.bootstrap, 1)
        if self.protocol == "generate" and (not self.judge or self.engine == KEYWORD_DETECTOR):
            raise UsageError("the generate protocol needs a model that writes (--model) and a --judge")
        if self.protocol == "raters" and self.engine == KEYWORD_DETECTOR:
            raise UsageError("persona-conditioned raters need an LLM engine (--model)")


def runs_to_make(options: BenchOptions, deterministic: bool) -> tuple[int, str | None]:
    """How many runs a benchmark makes, and a note when it makes fewer than asked: one run for a
    detector whose answers cannot vary (a keyword, similarity, trained or imported one), never sd 0 over three.

    >>> runs_to_make(BenchOptions(engine="keyword-refusal"), deterministic=True)
    (1, 'keyword-refusal gives the same answers every run: 1 run, not 3')
    """
    if deterministic and options.runs > 1:
        return 1, f"{options.engine} gives the same answers every run: 1 run, not {options.runs}"
    return options.runs, None


@dataclass
class BenchNotes(Notes):
    """A benchmark's figures. Its report counts the items asked for as ``in`` (pairs of the set or split,
    or labelled responses), those in the benchmark as ``kept`` and the rest as dropped, by reason; the
    judging itself is counted here, per item and run."""

    group_id: str = ""  # names the benchmark: ``bench report GROUP``
    runs: int = 0
    pairs: int | None = None  # pairs judged per run (on pairs)
    responses: int | None = None  # responses judged per run (on labelled responses)
    judged: int = 0  # item-runs judged by this run
    already_judged: int = 0  # item-runs judged by an earlier, cut-off run and not again
    unusable_answers: int = 0  # responses whose answer could not be read: left out of the figures, never "no"
    engine_requests: int | None = None
    servers: dict | None = None
    model: str | None = None  # the model an imported log is of
    results_added: int | None = None
    runs_note: str | None = None  # why fewer runs than asked
    keyword_note: str | None = None  # what the keyword baseline's Coverage on pairs means
