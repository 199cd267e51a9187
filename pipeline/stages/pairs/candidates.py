"""A candidate response as the store keeps it, made in one place whether a generator wrote it in the
pairs stage, a file brought it (``pairs --import``) or it is a labelled response (``--from-responses``).

Its id hashes the prompt, slot, generator, attempt and text, so the same response is one candidate
however often it comes.

>>> row = candidate_row("p1", "aligned", "Hello.", "m", "imported", {"source": "x.csv", "row": 2})
>>> row["id"] == candidate_row("p1", "aligned", "Hello.", "m", "imported", {})["id"], row["attempt"], row["params"]
(True, 0, '{"row": 2, "source": "x.csv"}')
"""

from __future__ import annotations

import json

from review_store import content_id


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
