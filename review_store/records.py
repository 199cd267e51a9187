"""Records that cross rooms: what stages hand to the store and the store hands back."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Generic, TypeVar

from review_store.clock import utc_now


@dataclass
class Notes:
    """A stage's own figures beside its counts (e.g. new prompts, labels added), shown on the Runs page.

    Each stage declares its own subclass with typed fields, every one with a default; ``left_out`` names
    the items a stage could not take, by reason.

    >>> @dataclass
    ... class IngestNotes(Notes):
    ...     new_prompts: int = 0
    >>> IngestNotes(new_prompts=3).as_dict()
    {'new_prompts': 3}
    """

    left_out: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """The figures as stored: fields whose value is ``None`` and an empty ``left_out`` left out."""
        figures = {k: v for k, v in asdict(self).items() if v is not None}
        if not figures["left_out"]:
            del figures["left_out"]
        return figures


N = TypeVar("N", bound=Notes)


@dataclass
class StageReport(Generic[N]):
    """What one run of a stage did: items in, kept, dropped by reason, time taken, and its ``notes``.

    The report times its run from when it is made; ``run_id`` is set once the store has recorded it.
    """

    stage: str
    items_in: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    params: dict[str, object] = field(default_factory=dict)
    notes: N = field(default_factory=Notes)
    started_at: str = field(default_factory=utc_now)
    run_id: int | None = None
    began: float = field(default_factory=time.perf_counter, repr=False, compare=False)

    def elapsed(self) -> float:
        """Seconds since the run began."""
        return time.perf_counter() - self.began

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + count

    def leave_out(self, reason: str, items: list[str]) -> None:
        """Items a stage could not take, counted under ``reason`` and each named under it in
        ``notes.left_out`` ({reason: [item, ...]})."""
        if items:
            self.drop(reason, len(items))
            self.notes.left_out[reason] = [*self.notes.left_out.get(reason, []), *items]

    def summary(self) -> str:
        """One line for the terminal, e.g. ``ingest: 10226 in, 10137 kept, 0 dropped (1.2 s)``."""
        dropped = sum(self.dropped.values())
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.dropped.items()))
        extra = ", ".join(f"{k}: {_figure(v)}" for k, v in self.notes.as_dict().items() if _figure(v) is not None)
        line = f"{self.stage}: {self.items_in} in, {self.kept} kept, {dropped} dropped"
        if reasons:
            line += f" ({reasons})"
        if extra:
            line += f"; {extra}"
        return line + f" [{self.seconds:.2f} s]"


def _figure(value: object) -> str | None:
    """A note as the summary line shows it: a number or word as it is, a few counts by name in one
    phrase (``train 18 / test 2``); longer or nested notes are for the Runs page.

    >>> _figure(3), _figure({"train": 18, "test": 2}), _figure({"a": [1]}), _figure([1])
    ('3', 'train 18 / test 2', None, None)
    """
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, dict) and value and len(value) <= 5 and all(isinstance(v, (int, float)) for v in value.values()):
        return " / ".join(f"{k} {v}" for k, v in value.items())
    return None
