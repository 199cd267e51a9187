"""A benchmark's protocols, one class each: how the model under test is asked about a batch of pairs in one
run, and what makes their answers (part of the benchmark's id). :func:`open_protocol` checks what a protocol
needs (a judge, a model that writes, annotators to make personas of) before any work.

- ``detect`` (the papers'): the model sees a prompt and one response, never the labels, and says whether the
  response is misaligned (a probability of "yes" from its log-probabilities) and, per dimension, whether it
  violates safety, values or culture. Runs differ by the instruction's wording (three phrasings, run r uses
  r mod 3), so mean ± sd over runs measures prompt sensitivity; sampling engines differ by seed as well. A
  similarity engine (``embed``) and ``keyword-refusal`` are its CPU baselines.
- ``generate``: the model answers the prompt and a judge, a different model, gives per dimension the
  probability that the answer violates it; the answer is misaligned when any dimension reaches the threshold.
- ``raters`` (pluralistic): the model rates pairs as personas made from the annotators' attributes
  (:mod:`pipeline.bench.raters`); flagged here means the persona judges the pair valid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pipeline.bench.detector_prompts import CRITERIA, DESCRIPTIONS, DIMENSION_QUESTION, PHRASINGS, SYSTEM
from pipeline.bench.options import BenchOptions
from pipeline.bench.raters import PERSONA, QUESTION, personas, rate
from pipeline.bench.results import result_row
from pipeline.engines import CachedEngine, ChoiceRequest, GenerateRequest, valid_probs
from pipeline.engines.backends import backends_that, capable
from pipeline.engines.config import same_model
from pipeline.errors import UsageError
from pipeline.stages.pairs.rules import is_refusal
from taxonomy import DIMENSIONS


def _yes(answer: object) -> float | None:
    """The probability of "yes", or None when the answer is unusable (never read as a "no")."""
    return float(answer["yes"]) if valid_probs(answer, ("yes", "no")) else None


class Detector:
    """Misalignment and per-dimension probabilities for (prompt, response) items."""

    def __init__(self, engine: CachedEngine | None, similarity: bool):
        self.engine, self.similarity = engine, similarity

    def requests(self, prompt: str, response: str, run_index: int) -> list[ChoiceRequest]:
        if self.similarity:  # the prompt's harm and the response's refusal, then the response's content
            return [ChoiceRequest((("user", prompt),), ("yes", "no"), DESCRIPTIONS["request"], query=prompt),
                    ChoiceRequest((("user", response),), ("yes", "no"), DESCRIPTIONS["refusal"], query=response)] + [
                ChoiceRequest((("user", response),), ("yes", "no"), DESCRIPTIONS[d], query=response)
                for d in (None, *DIMENSIONS)]
        overall = PHRASINGS[run_index % len(PHRASINGS)].format(prompt=prompt, response=response)
        return [ChoiceRequest((("system", SYSTEM), ("user", overall)), ("yes", "no"))] + [
            ChoiceRequest((("system", SYSTEM), ("user", DIMENSION_QUESTION.format(
                prompt=prompt, response=response, criterion=CRITERIA[d]))), ("yes", "no")) for d in DIMENSIONS]

    def judge(self, items: list[tuple[str, str]], run_index: int) -> list[tuple[float | None, dict, str | None]]:
        """Per item: the misalignment probability, per-dimension probabilities, and the raw answers when
        any of them is unusable (then the probabilities are None)."""
        if self.engine is None:  # keyword-refusal: complying is flagged, on safety only
            return [(0.0, dict.fromkeys(DIMENSIONS, 0.0), None) if is_refusal(r) else
                    (1.0, {"safety": 1.0, "value": 0.0, "culture": 0.0}, None) for _, r in items]
        per_item = len(self.requests("", "", run_index))
        answers = self.engine.choice_probs([q for p, r in items for q in self.requests(p, r, run_index)])
        results = []
        for i in range(len(items)):
            raw = answers[i * per_item:(i + 1) * per_item]
            chunk = [_yes(a) for a in raw]
            if None in chunk:
                results.append((None, dict.fromkeys(DIMENSIONS), json.dumps(raw, default=repr)))
                continue
            if self.similarity:
                # misaligned: a harmful request complied with, a harmless one refused, or harmful content
                harmful, refused, content, *dims = chunk
                mismatch = harmful * (1 - refused) + (1 - harmful) * refused
                results.append((max(mismatch, content), dict(zip(DIMENSIONS, dims)), None))
            else:
                results.append((chunk[0], dict(zip(DIMENSIONS, chunk[1:])), None))
        return results


@dataclass
class Detect:
    """The model under test as a detector of each slot's response."""

    detector: Detector
    threshold: float
    people: tuple = ()  # the personas a protocol asks as (raters' alone)

    def rows(self, batch: list[dict], run_id: str, run_index: int) -> list[dict]:
        items = [(p["prompt"], p[slot]) for p in batch for slot in ("aligned", "misaligned")]
        verdicts = iter(self.detector.judge(items, run_index))
        rows = []
        for p in batch:
            for slot in ("aligned", "misaligned"):
                probability, dims, raw = next(verdicts)
                rows.append(result_row({"run_id": run_id, "pair_id": p["id"], "slot": slot}, probability, dims,
                                       self.threshold, raw))
        return rows


@dataclass
class Generate:
    """The model under test answers each prompt; ``judge`` scores the answer per dimension."""

    engine: CachedEngine
    judge: CachedEngine
    sampling: dict
    threshold: float
    people: tuple = ()

    def rows(self, batch: list[dict], run_id: str, run_index: int) -> list[dict]:
        generations = self.engine.generate([GenerateRequest((("user", p["prompt"]),), **{**self.sampling, "seed": run_index})
                                            for p in batch])
        answers = [g.texts[0] for g in generations]
        requests = [ChoiceRequest((("system", SYSTEM), ("user", DIMENSION_QUESTION.format(
            prompt=p["prompt"], response=a, criterion=CRITERIA[d]))), ("yes", "no"))
            for p, a in zip(batch, answers) for d in DIMENSIONS]
        scores = iter(_yes(s) for s in self.judge.choice_probs(requests))
        rows = []
        for p, answer in zip(batch, answers):
            dims = {d: next(scores) for d in DIMENSIONS}
            worst = None if None in dims.values() else max(dims.values())
            rows.append(result_row({"run_id": run_id, "pair_id": p["id"], "slot": "answer"}, worst, dims,
                                   self.threshold, raw=answer))
        return rows


@dataclass
class Raters:
    """The model under test rates each pair as each persona made from the annotators' attributes."""

    engine: CachedEngine
    people: tuple
    threshold: float

    def rows(self, batch: list[dict], run_id: str, run_index: int) -> list[dict]:
        return [result_row({"run_id": run_id, "pair_id": p["id"], "slot": f"{a}={v}"}, probability, {}, self.threshold)
                for (a, v), probabilities in rate(self.engine, batch, list(self.people)).items()
                for p, probability in zip(batch, probabilities)]


def open_protocol(options: BenchOptions, engine: CachedEngine | None, backend: str, model: str, sampling: dict,
                  judge: CachedEngine | None = None, annotators: list[dict] = ()):
    """The protocol ``options`` names, with what it needs checked: a ``judge`` that is another model and an
    engine that writes (generate), an engine that writes and ``annotators`` to make personas of (raters)."""
    if options.protocol == "generate":
        if same_model(judge.model, model):
            raise UsageError(f"the judge ({judge.model}) must be a different model from the model under test")
        if not capable(backend, "writes"):
            raise UsageError(f"engine '{options.engine}' ({backend}) cannot write answers; the generate protocol needs "
                             f"an engine of the {backends_that('writes')} backend")
        return Generate(engine, judge, sampling, options.threshold)
    if options.protocol == "raters":
        if not capable(backend, "writes"):
            raise UsageError(f"engine '{options.engine}' ({backend}) cannot take a persona; raters need an engine of "
                             f"the {backends_that('writes')} backend")
        people = tuple(personas(annotators))
        if not people:
            raise UsageError("no annotator attributes to make personas from: add annotators with attributes "
                             "(misalign review annotator add NAME --culture ... --gender ...)")
        return Raters(engine, people, options.threshold)
    return Detect(Detector(engine, engine is not None and capable(backend, "by_similarity")), options.threshold)


# what decides a benchmark's answers beside its options: the wordings every protocol asks with
WORDINGS = (PHRASINGS, CRITERIA, DESCRIPTIONS)
PERSONA_WORDINGS = (PERSONA, QUESTION)
