"""The settings of a push to and a pull from Argilla: plain dataclasses, light to import (the sync loads the SDK)."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import UsageError, check_range
from pipeline.registry import option
from pipeline.review.argilla import PUSH_BATCH
from pipeline.review.label_review import LABEL_QUEUE
from pipeline.review.queues import QUEUES

ALL_QUEUES = (*QUEUES, LABEL_QUEUE)


@dataclass
class PushOptions:
    """What ``misalign review push`` sends, and where (the server: ``url`` and ``api_key``, default
    ``ARGILLA_API_URL`` and ``ARGILLA_API_KEY``)."""

    panel: str | None = option(None, "The panel whose queued items to send.", required=True)
    queues: tuple[str, ...] = option(ALL_QUEUES, "Queue (repeatable; default all).", flag="queue", repeatable=True)
    password: str | None = option(None, "Password for annotator accounts this push creates.",
                                  flag="annotator-password", envvar="MISALIGN_ANNOTATOR_PASSWORD")
    batch: int = option(PUSH_BATCH, "Records per request; each batch is marked pushed once sent, so a cut-off push "
                                    "resumes after it.")
    url: str | None = option(None, cli=False)  # ARGILLA_API_URL
    api_key: str | None = option(None, cli=False)  # ARGILLA_API_KEY

    def check(self) -> None:
        unknown = [q for q in self.queues if q not in ALL_QUEUES]
        if unknown:
            raise UsageError(f"'{unknown[0]}' is not a queue (queues: {', '.join(ALL_QUEUES)})", field="queue")
        check_range("batch", self.batch, 1, 10_000)
        if self.panel is None:
            raise UsageError("review push: no panel given")


@dataclass
class PullOptions:
    """Where ``misalign review pull`` reads answers from (default ``ARGILLA_API_URL``, ``ARGILLA_API_KEY``)."""

    url: str | None = option(None, cli=False)
    api_key: str | None = option(None, cli=False)

    def check(self) -> None:
        """Nothing to check before the server is asked: :func:`argilla_client` names what is missing."""
