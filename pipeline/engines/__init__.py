"""Engines: one protocol (generate, choice_probs, embed), four backends, all through the store's cache.

Example (``pipeline.engines.config``; the model is a local directory, never downloaded)::

    engine = build_engine(EngineConfig(name="tiny", backend="hf", model="models/tiny"), store)
"""

from __future__ import annotations

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

BACKENDS = ("hf", "openai", "vllm", "embed")

__all__ = ["BACKENDS", "CachedEngine", "ChoiceRequest", "Engine", "EngineError", "Generation", "GenerateRequest",
           "as_messages", "open_engine", "server_notes", "valid_probs"]


def open_engine(backend: str, model: str, options: dict) -> Engine:
    """The backend's engine; backends are imported here, so an unused one costs nothing. A shipped model's
    short name (``smollm2``) stands for its installed directory (:mod:`pipeline.engines.models`)."""
    if backend in ("hf", "vllm"):
        from pipeline.engines.models import resolve
        model = resolve(model)
    if backend == "hf":
        from pipeline.engines.hf import HFEngine
        return HFEngine(model, **options)
    if backend == "openai":
        from pipeline.engines.openai_server import OpenAIEngine
        return OpenAIEngine(model, **options)
    if backend == "vllm":
        from pipeline.engines.vllm_engine import VLLMEngine
        return VLLMEngine(model, **options)
    if backend == "embed":
        from pipeline.engines.embed import EmbedEngine
        return EmbedEngine(model, **options)
    raise EngineError(f"unknown backend '{backend}' (use one of {', '.join(BACKENDS)})")
