"""A candidate response as the store keeps it, made in one place whether a generator wrote it in the
pairs stage, a file brought it (``pairs --import``) or it is a labelled response (``--from-responses``),
and a candidate with its verdicts as the stage reads it back (:class:`Candidate`, :func:`verdict`).

Its id hashes the prompt, slot, generator, attempt and text, so the same response is one candidate
however often it comes.

>>> row = candidate_row("p1", "aligned", "Hello.", "m", "imported", {"source": "x.csv", "row": 2})
>>> row["id"] == candidate_row("p1", "aligned", "Hello.", "m", "imported", {})["id"], row["attempt"], row["params"]
(True, 0, '{"row": 2, "source": "x.csv"}')
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from review_store import content_id

UNUSABLE = "judge_unusable"  # the judge's answer was not a probability for yes/no: kept raw, never a "no"


def candidate_row(prompt_id: str, slot: str, text: str, generator: str, origin: str, params: dict | str,
                  attempt: int = 0, parent_id: str | None = None, feedback: str | None = None,
                  finish_reason: str | None = None, kind: str | None = None, created_at: str | None = None) -> dict:
    """The candidates table's row; ``text`` is kept exactly as given, ``params`` as JSON (sorted keys)."""
    row = {"id": content_id("candidate", prompt_id, slot, generator, attempt, text), "prompt_id": prompt_id,
           "slot": slot, "text": text, "generator": generator, "origin": origin,
           "params": params if isinstance(params, str) else json.dumps(params, sort_keys=True), "attempt": attempt,
           "parent_id": parent_id, "feedback": feedback, "finish_reason": finish_reason, "kind": kind}
    if created_at is not None:
        row["created_at"] = created_at
    return row


@dataclass
class Candidate:
    """A stored candidate with its verdicts: ``failed`` stage-1 codes (None: not checked yet),
    ``probability`` and ``rationale`` from the judge (None: not judged), ``unusable`` when the judge's
    answer could not be read as a probability (never scored as a "no": the candidate cannot pass)."""

    row: dict
    failed: list[str] | None = None
    probability: float | None = None
    rationale: str | None = None
    unusable: bool = False

    @property
    def id(self) -> str:
        return self.row["id"]

    @property
    def slot(self) -> str:
        return self.row["slot"]


def verdict(candidate: Candidate, threshold: float, margin: float) -> str:
    """pass, borderline (within ``margin`` of the threshold, either side), fail, or unjudged.

    >>> verdict(Candidate({}, [], 0.55), 0.5, 0.1), verdict(Candidate({}, [], 0.9), 0.5, 0.1)
    ('borderline', 'pass')
    """
    if candidate.failed:
        return "fail"
    if candidate.probability is None:
        return "unjudged"
    if abs(candidate.probability - threshold) <= margin:
        return "borderline"
    return "pass" if candidate.probability >= threshold else "fail"


def passes(candidate: Candidate, threshold: float) -> bool:
    """Fulfils its slot: no rule failed and the judge is at the threshold (resampling stops here)."""
    return candidate.failed == [] and candidate.probability is not None and candidate.probability >= threshold
