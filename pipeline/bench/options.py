"""The settings of a benchmark run: a plain dataclass, light to import.

>>> BenchOptions(engine="keyword-refusal", runs=0).check()
Traceback (most recent call last):
...
pipeline.errors.UsageError: --runs: must be at least 1, not 0
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.defaults import BOOTSTRAP_SAMPLES
from pipeline.errors import UsageError, check_range
from pipeline.registry import SAMPLING_HELP, option
from review_store import Notes
from review_store.bench import PAIR_SETS

PROTOCOLS = ("detect", "generate", "raters")
ITEMS = ("pairs", "responses")
KEYWORD_DETECTOR = "keyword-refusal"
TRAINED_DETECTOR = "trained"  # on labelled responses: learnt from their verdicts, scored out of fold


@dataclass
class BenchOptions:
    engine: str = option(help=f"Engine under test from misalign.toml, or {KEYWORD_DETECTOR}.", flag="model")
    protocol: str = option("detect", "detect (judge given responses), generate (answer, then a judge) or raters "
                                     "(persona-conditioned).")
    judge: str | None = option(None, "generate protocol: the engine that scores answers.")
    runs: int = option(3, "Runs to average (mean ± sd).")
    pairs: str = option("pipeline", "pipeline (accepted, not rejected by people), human (human_accepted), curated "
                                    "(human_accepted, else pipeline-accepted), reviewed (decided by people: for "
                                    "raters) or all.")
    # (export id, split name): only the pairs an export put there
    split: tuple[str, str] | None = option(None, "EXPORT_ID:SPLIT, e.g. 3f2a...:test: only the pairs an export put "
                                                 "in that split (misalign export prints the id).", separator=":")
    threshold: float = option(0.5, "Probability at which a response is flagged.")
    # generate protocol; None: the engine's [engines.X.sampling], else the stage's (pipeline.registry)
    temperature: float | None = option(None, "generate protocol: " + SAMPLING_HELP)
    max_tokens: int | None = option(None, "generate protocol: " + SAMPLING_HELP)
    batch: int = option(64, cli=False)  # pairs a batch of questions asks about
    items: str = option("pairs", "pairs (of --pairs) or responses (labelled responses: misalign import responses).",
                        flag="on")
    models: tuple[str, ...] = option((), "--on responses: only the responses of these models (comma-separated).")
    labeler: str | None = option(None, "--on responses: figures per domain of this labeler's domains.")
    bootstrap: int = option(BOOTSTRAP_SAMPLES, "Bootstrap resamples for the intervals.")

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
        if self.split is not None and len(self.split) != 2:
            raise UsageError(f"'{':'.join(self.split)}' is not EXPORT_ID:SPLIT", field="split")
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


@dataclass
class InspectImportOptions:
    path: str | Path | None = option(None, "An Inspect AI log of `inspect eval misalign/detect` (.eval or .json).",
                                     flag="log", argument=True)
    bootstrap: int = option(BOOTSTRAP_SAMPLES, "Bootstrap resamples for the intervals.")

    def check(self) -> None:
        if self.path is None:
            raise UsageError("bench import-inspect: no log given")
        check_range("bootstrap", self.bootstrap, 1)


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
