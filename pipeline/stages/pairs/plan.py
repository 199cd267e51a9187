"""Planning the requests to the generators: K first attempts per empty slot spread over the pool, and
one new attempt per failed candidate while the round budget lasts. ``models`` is the pool's model ids,
in order; an entry names its generator by index.

>>> plan = initial_plan([{"id": "00000001"}], {"00000001": []}, ["a", "b"], k=3)
>>> [(e.slot, e.generator, e.n) for e in plan]
[('aligned', 0, 1), ('aligned', 1, 2), ('misaligned', 0, 1), ('misaligned', 1, 2)]
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.stages.pairs.candidates import Candidate, passes
from pipeline.stages.pairs.templates import SLOTS


@dataclass(frozen=True)
class PlanEntry:
    """One request to a generator: ``n`` candidates for ``slot`` of ``prompt`` from pool member
    ``generator``; ``parent`` is the failed candidate a resample rewrites (None: a first attempt)."""

    prompt: dict
    slot: str
    generator: int
    n: int
    parent: Candidate | None = None


def generator_for(models: list[str], prompt_id: str, candidate: Candidate | None = None, offset: int = 0) -> int:
    """The pool index that writes a candidate: the parent's generator if it is in the pool, else
    a spread over the pool by prompt."""
    if candidate is not None:
        for index, model in enumerate(models):
            if model == candidate.row["generator"]:
                return index
    return (int(prompt_id[:8], 16) + offset) % len(models)



def initial_plan(prompts: list[dict], candidates: dict[str, list[Candidate]], models: list[str], k: int) -> list[PlanEntry]:
    """K candidates for each slot that has none yet, spread over the generators."""
    if not models:
        return []
    plan = []
    for prompt in prompts:
        for slot in SLOTS:
            if any(c.slot == slot for c in candidates[prompt["id"]]):
                continue
            shares: dict[int, int] = {}
            for j in range(k):
                index = generator_for(models, prompt["id"], offset=j)
                shares[index] = shares.get(index, 0) + 1
            plan += [PlanEntry(prompt, slot, index, n) for index, n in sorted(shares.items())]
    return plan



def resample_plan(prompts: list[dict], candidates: dict[str, list[Candidate]], models: list[str], threshold: float,
              rounds: int) -> list[PlanEntry]:
    """One new attempt per failed candidate of the latest attempt, for slots with no candidate at
    the threshold, until the round budget."""
    if not models:
        return []
    plan = []
    for prompt in prompts:
        for slot in SLOTS:
            mine = [c for c in candidates[prompt["id"]] if c.slot == slot]
            if not mine or any(passes(c, threshold) for c in mine):
                continue
            latest = max(c.row["attempt"] for c in mine)
            if latest >= rounds:
                continue
            # a new attempt cannot mend a judge's unusable answer
            plan += [PlanEntry(prompt, slot, generator_for(models, prompt["id"], c), 1, c)
                     for c in mine if c.row["attempt"] == latest and not c.unusable]
    return plan

