"""Engines: one protocol (generate, choice_probs, embed), backends declared in a registry
(:mod:`pipeline.engines.backends`), all through the store's cache.

Example (``pipeline.engines.config``; the model is a local directory, never downloaded)::

    engine = config.build_engine(EngineConfig(name="tiny", backend="hf", model="models/tiny"), store)
"""

from __future__ import annotations

from pipeline.engines.backends import REGISTRY, open_engine
from pipeline.engines.cache import CachedEngine, server_notes
from pipeline.engines.protocol import (
    ChoiceRequest,
    Engine,
    EngineError,
    Generation,
    GenerateRequest,
    as_messages,
    valid_probs,
)

BACKENDS = tuple(REGISTRY)

__all__ = ["BACKENDS", "CachedEngine", "ChoiceRequest", "Engine", "EngineError", "Generation", "GenerateRequest",
           "as_messages", "open_engine", "server_notes", "valid_probs"]
