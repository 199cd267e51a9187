"""The settings of a benchmark run: a plain dataclass, light to import.

>>> BenchOptions(engine="keyword-refusal", runs=0).check()
Traceback (most recent call last):
...
pipeline.errors.UsageError: --runs: must be at least 1, not 0
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import UsageError, check_range
from review_store.bench import PAIR_SETS

PROTOCOLS = ("detect", "generate", "raters")
KEYWORD_DETECTOR = "keyword-refusal"


@dataclass
class BenchOptions:
    engine: str  # the model under test: an engine name from misalign.toml, or keyword-refusal
    protocol: str = "detect"
    runs: int = 3
    pairs: str = "pipeline"  # pipeline, human, curated, reviewed or all (see review_store.bench.PAIR_SETS)
    split: tuple[str, str] | None = None  # (export id, split name): only the pairs an export put there
    threshold: float = 0.5
    judge: str | None = None  # generate protocol: scores the answers
    temperature: float = 0.7
    max_tokens: int = 256
    batch: int = 64

    def check(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise UsageError(f"--protocol: must be one of {', '.join(PROTOCOLS)}, not '{self.protocol}'")
        if self.pairs not in PAIR_SETS:
            raise UsageError(f"--pairs: must be one of {', '.join(PAIR_SETS)}, not '{self.pairs}'")
        if self.runs < 1:
            raise UsageError(f"--runs: must be at least 1, not {self.runs}")
        check_range("--threshold", self.threshold, 0, 1)
        check_range("--temperature", self.temperature, 0)
        check_range("--max-tokens", self.max_tokens, 1)
        check_range("batch size", self.batch, 1)
        if self.protocol == "generate" and (not self.judge or self.engine == KEYWORD_DETECTOR):
            raise UsageError("the generate protocol needs a model that writes (--model) and a --judge")
        if self.protocol == "raters" and self.engine == KEYWORD_DETECTOR:
            raise UsageError("persona-conditioned raters need an LLM engine (--model)")
