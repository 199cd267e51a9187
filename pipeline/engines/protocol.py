"""The one protocol every stage uses to talk to a model: generate, choice_probs, embed.

Requests are frozen dataclasses so they can be hashed into the store's engine cache.

Example, with any engine that writes (hf, llamacpp, openai or vllm)::

    request = GenerateRequest(messages=(("user", "Say hi"),), max_tokens=8, seed=1)
    [generation] = engine.generate([request])
    generation.texts[0], generation.finish_reasons[0]
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from functools import lru_cache
from dataclasses import asdict, dataclass, field

import numpy as np

from pipeline.errors import ServiceError

Messages = tuple[tuple[str, str], ...]  # ((role, content), ...)


class EngineError(ServiceError):
    """A model call that cannot be made or answered; the message says which engine and why."""


def as_messages(messages: Messages | str | Sequence[dict]) -> Messages:
    """A user string, OpenAI-style dicts or (role, content) pairs as the protocol's tuple form."""
    if isinstance(messages, str):
        return (("user", messages),)
    return tuple((m["role"], m["content"]) if isinstance(m, dict) else (m[0], m[1]) for m in messages)


@dataclass(frozen=True)
class GenerateRequest:
    messages: Messages
    n: int = 1
    temperature: float = 0.7
    top_p: float = 0.9
    max_tokens: int = 512
    seed: int | None = None
    stop: tuple[str, ...] = ()
    repetition_penalty: float | None = None  # above 1 discourages repeating tokens; None: the engine's own default

    def payload(self) -> dict:
        payload = {"messages": [list(m) for m in self.messages], "n": self.n, "temperature": self.temperature,
                   "top_p": self.top_p, "max_tokens": self.max_tokens, "seed": self.seed, "stop": list(self.stop)}
        if self.repetition_penalty is not None:  # only when asked, so earlier cached answers keep their keys
            payload["repetition_penalty"] = self.repetition_penalty
        return payload

    def sampling_key(self) -> tuple:
        """Requests with equal keys can share one batched call."""
        return (self.n, self.temperature, self.top_p, self.max_tokens, self.seed, self.stop, self.repetition_penalty)


@lru_cache(maxsize=1024)
def _digest(texts: tuple[str, ...]) -> str:
    return hashlib.sha256("\x1f".join(texts).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChoiceRequest:
    """Which of ``options`` follows ``messages``. Similarity-based engines compare ``query``
    (default: the user messages) with ``descriptions`` (one per option, default: the options);
    LLM engines score the option strings after the messages."""

    messages: Messages
    options: tuple[str, ...]
    descriptions: tuple[str, ...] | None = None
    query: str | None = None

    def __post_init__(self):
        if len(self.options) < 2:
            raise ValueError("a choice needs at least two options")
        if self.descriptions is not None and len(self.descriptions) != len(self.options):
            raise ValueError("give one description per option")

    def payload(self) -> dict:
        """What the cache keys on; long description lists shared by many requests enter as their hash."""
        return {"messages": [list(m) for m in self.messages], "options": list(self.options),
                "descriptions": None if self.descriptions is None else _digest(self.descriptions), "query": self.query}


@dataclass
class Generation:
    """The answers to one request: ``n`` texts with their finish reasons ('stop' or 'length')."""

    texts: list[str]
    finish_reasons: list[str]
    prompt_tokens: int = 0
    completion_tokens: list[int] = field(default_factory=list)

    def payload(self) -> dict:
        return asdict(self)


class Engine:
    """What every backend provides, and the optional capabilities with what a backend without them does:
    a backend subclasses this and overrides what it has. A call it cannot answer raises
    :class:`EngineError` (an embedding model cannot generate)."""

    backend: str
    model: str
    cached: bool = True  # its answers are worth keeping in the store's cache (False: cheaper to recompute)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        raise EngineError(f"the {self.backend} backend cannot generate text")

    def choice_probs(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float]]:
        raise EngineError(f"the {self.backend} backend cannot score options")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise EngineError(f"the {self.backend} backend has no embeddings")

    def server_stats(self) -> dict[str, dict]:
        """Per server, what it answered and failed (engines with several servers); none otherwise."""
        return {}

    def keeping_vectors_in(self, store) -> "Engine":
        """This engine keeping what it computes in ``store`` where that saves work (embeddings); itself otherwise."""
        return self


def normalise(scores: np.ndarray) -> np.ndarray:
    """Softmax of log-scores (log-probabilities or similarities over a temperature).

    >>> normalise(np.log(np.array([1.0, 3.0]))).round(2).tolist()
    [0.25, 0.75]
    """
    shifted = np.exp(scores - np.max(scores))
    return shifted / shifted.sum()


def valid_probs(answer: object, options: tuple[str, ...]) -> bool:
    """An answer the stage can use: a probability for exactly these options, summing to one."""
    if not isinstance(answer, dict) or set(answer) != set(options):
        return False
    values = list(answer.values())
    return all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in values) and \
        abs(sum(values) - 1.0) < 1e-3
