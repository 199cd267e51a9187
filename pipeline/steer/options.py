"""The settings of a steering vector's build: a plain dataclass, light to import (the build loads the model).

>>> SteerOptions(model="tiny", out="v.safetensors").check()
Traceback (most recent call last):
...
pipeline.errors.UsageError: --layer: give at least one decoder layer to steer at
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import UsageError, check_range
from pipeline.registry import option

METHODS = ("contrastive", "learned")


@dataclass
class SteerOptions:
    model: str | None = option(None, "An hf engine from misalign.toml (a local model directory).", required=True)
    out: str | Path | None = option(None, "The vector file to write (.safetensors).", required=True)
    layers: tuple[int, ...] = option((), "A decoder layer to steer at (repeatable), counted from 0.", flag="layer",
                                     repeatable=True, required=True)
    method: str = option("contrastive", "contrastive (mean activation difference) or learned (Adam on 1 - cos to "
                                        "each pair's difference).")
    pairs: str = option("curated", "The pair set: curated, human, pipeline, all.")
    export: str | None = option(None, "Only the train split of this export (misalign export prints its id), so test "
                                      "pairs never enter the vector.")
    dimension: str | None = option(None, "Only pairs with a domain of this dimension.")
    domain: str | None = option(None, "Only pairs of this domain id.")
    seed: int = option(0, "Seed of the learned method.")

    def check(self) -> None:
        if self.model is None:
            raise UsageError("name the hf engine to build the vector for", field="model")
        if self.out is None or Path(self.out).suffix != ".safetensors":
            raise UsageError(f"'{self.out}' should end in .safetensors", field="out")
        if not self.layers:
            raise UsageError("give at least one decoder layer to steer at", field="layer")
        if self.method not in METHODS:
            raise UsageError(f"'{self.method}' is not one of {', '.join(METHODS)}", field="method")
        check_range("seed", self.seed, 0)
