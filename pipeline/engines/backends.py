"""The backends, each declared once: its name, where its engine lives (imported only when opened, so an
unused backend costs nothing), the options ``misalign.toml`` may give it (types and ranges; a setting
not given keeps the backend's own default), and whether its model is a local directory.

A new backend is one decorated options model::

    @backend("mine", "my_package.engine:MyEngine")
    class MyOptions(BaseModel):
        model_config = STRICT
        timeout: float | None = None
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.engines.protocol import Engine, EngineError

STRICT = ConfigDict(extra="forbid", strict=True)  # "many" is not a number, 5 is not a table


@dataclass(frozen=True)
class Backend:
    name: str
    engine: str  # "module:Class", imported when an engine is opened
    options: type[BaseModel]
    local_model: bool = False  # the model setting is a directory (a shipped model's short name stands for one)
    kept_open: bool = False  # slow to open (vLLM compiles its model): opened once per process, then reused
    # what it can do, asked for by the stages (never its name)
    writes: bool = True  # generates text
    by_similarity: bool = False  # scores options by similarity to their descriptions: no answer to read, the same
    # every run
    steerable: bool = False  # applies a steering vector to its model (forward hooks)
    default_model: str | None = None  # the model it opens when misalign.toml names none

    def open(self, model: str, options: dict) -> Engine:
        """The backend's engine on ``model`` with ``options`` (the one already open, for a backend kept open)."""
        if self.local_model:
            from pipeline.engines.models import resolve
            model = resolve(model)
        module, name = self.engine.split(":")
        if not self.kept_open:
            return getattr(importlib.import_module(module), name)(model, **options)
        key = (self.name, model, json.dumps(options, sort_keys=True))
        if key not in _KEPT_OPEN:
            _KEPT_OPEN[key] = getattr(importlib.import_module(module), name)(model, **options)
        return _KEPT_OPEN[key]


REGISTRY: dict[str, Backend] = {}
_KEPT_OPEN: dict[tuple, Engine] = {}


def backend(name: str, engine: str, **declared) -> Callable[[type[BaseModel]], type[BaseModel]]:
    """Declare a backend: a decorator on the model of its options; ``declared``: :class:`Backend`'s other fields."""
    def register(options: type[BaseModel]) -> type[BaseModel]:
        REGISTRY[name] = Backend(name, engine, options, **declared)
        return options
    return register


def capable(name: str, capability: str) -> bool:
    """Whether the backend called ``name`` declares ``capability`` (``writes``, ``by_similarity``, ``steerable``);
    False for a name no backend has (imported verdicts, a keyword detector).

    >>> capable("hf", "steerable"), capable("embed", "writes"), capable("imported", "by_similarity")
    (True, False, False)
    """
    found = REGISTRY.get(name)
    return bool(found and getattr(found, capability))


def backends_that(capability: str) -> str:
    """The names of the backends that declare ``capability``, for a message.

    >>> backends_that("steerable")
    'hf'
    """
    return ", ".join(name for name, found in REGISTRY.items() if getattr(found, capability))


def open_engine(name: str, model: str, options: dict) -> Engine:
    """The named backend's engine; an unknown name is one line listing the known ones."""
    if name not in REGISTRY:
        raise EngineError(f"unknown backend '{name}' (use one of {', '.join(REGISTRY)})")
    return REGISTRY[name].open(model, options)


class Steer(BaseModel):
    model_config = STRICT
    vector: str
    strength: float = 1.0
    layers: list[int] | None = None


@backend("hf", "pipeline.engines.hf:HFEngine", local_model=True, steerable=True)
class HFOptions(BaseModel):
    model_config = STRICT
    device: str | None = None
    dtype: str | None = None
    batch_size: int | None = Field(None, ge=1)
    steer: Steer | None = None  # a steering vector applied to every call (misalign steer build)


@backend("openai", "pipeline.engines.openai_server:OpenAIEngine")
class OpenAIOptions(BaseModel):
    model_config = STRICT
    urls: list[Annotated[str, Field(pattern=r"^https?://")]] = Field(min_length=1)
    api_key_env: str | None = None
    concurrency: int | None = Field(None, ge=1)
    timeout: float | None = Field(None, gt=0)
    retries: int | None = Field(None, ge=0)
    backoff: float | None = Field(None, ge=0)
    start_timeout: float | None = Field(None, ge=0)  # seconds to wait for a server that is starting


@backend("vllm", "pipeline.engines.vllm_engine:VLLMEngine", local_model=True, kept_open=True)
class VLLMOptions(BaseModel):
    model_config = STRICT
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    max_model_len: int | None = Field(None, ge=1)
    dtype: str | None = None


@backend("llamacpp", "pipeline.engines.llamacpp:LlamaCppEngine")
class LlamaCppOptions(BaseModel):
    model_config = STRICT
    n_ctx: int | None = Field(None, ge=256)
    threads: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1)


@backend("embed", "pipeline.engines.embed:EmbedEngine", writes=False, by_similarity=True, default_model="default")
class EmbedOptions(BaseModel):
    model_config = STRICT
    device: str | None = None
    temperature: float | None = Field(None, gt=0)
    batch_size: int | None = Field(None, ge=1)
    max_seq_length: int | None = Field(None, ge=1)
    runtime: Literal["onnx", "torch"] | None = None
    quantized: bool | None = None
