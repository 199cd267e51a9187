"""``misalign.toml``: engines by name, the engine each stage uses, and sampling defaults.

Read once, validated with errors that name the file and key, shown with defaults filled in by
``misalign config show``. Without a file the embedded default applies: the packaged MiniLM.

    [engines.local]
    backend = "hf"                     # hf | openai | vllm | embed
    model = "models/qwen2.5-0.5b-instruct"
    device = "cpu"
    [engines.local.sampling]
    temperature = 0.7
    max_tokens = 512

    [engines.served]
    backend = "openai"
    model = "mistral-7b-instruct"
    urls = ["http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1"]
    concurrency = 8

    [stages]
    label = "embedded"
    generate = "served"
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import UsageError
from pipeline.engines import BACKENDS, CachedEngine, GenerateRequest, open_engine
from pipeline.engines.protocol import as_messages
from review_store import Store

DEFAULT_PATH = Path("misalign.toml")
BACKEND_OPTIONS = {
    "hf": {"device", "dtype", "batch_size"},
    "openai": {"urls", "api_key_env", "concurrency", "timeout", "retries", "backoff"},
    "vllm": {"gpu_memory_utilization", "max_model_len", "dtype"},
    "embed": {"device", "temperature", "batch_size", "max_seq_length", "runtime", "quantized"},
}
SAMPLING_DEFAULTS = {"n": 1, "temperature": 0.7, "top_p": 0.9, "max_tokens": 512, "seed": None}
EMBEDDED = {"backend": "embed", "model": "default"}
STAGES = ("label", "expand", "generate", "judge", "bench")


class ConfigError(UsageError):
    """A configuration that cannot be used; the message names the file and key."""


@dataclass(frozen=True)
class EngineConfig:
    name: str
    backend: str
    model: str
    options: dict = field(default_factory=dict)
    sampling: dict = field(default_factory=lambda: dict(SAMPLING_DEFAULTS))

    def request(self, prompt, **overrides) -> GenerateRequest:
        """A generate request with this engine's sampling defaults, overridden where given."""
        values = {**self.sampling, **{k: v for k, v in overrides.items() if v is not None}}
        stop = tuple(values.pop("stop", ()) or ())
        return GenerateRequest(messages=as_messages(prompt), stop=stop, **values)


@dataclass(frozen=True)
class Config:
    path: str | None
    engines: dict[str, EngineConfig]
    stages: dict[str, str]

    def engine(self, name: str) -> EngineConfig:
        if name not in self.engines:
            raise ConfigError(f"{self.path or 'config'}: no engine named '{name}' (engines: {', '.join(self.engines)})")
        return self.engines[name]

    def engine_for(self, stage: str, override: str | None = None) -> EngineConfig:
        """The engine a stage uses: the CLI's --engine, else [stages], else the embedded default."""
        return self.engine(override or self.stages.get(stage, "embedded"))

    def as_dict(self) -> dict:
        return {"path": self.path, "stages": self.stages, "engines": {
            name: {"backend": e.backend, "model": e.model, **e.options, "sampling": e.sampling}
            for name, e in self.engines.items()}}


def _engine(where: str, name: str, raw: object) -> EngineConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: engines.{name} must be a table")
    raw = copy.deepcopy(raw)
    backend = raw.pop("backend", None)
    if backend not in BACKENDS:
        raise ConfigError(f"{where}: engines.{name}.backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    model = raw.pop("model", "default" if backend == "embed" else None)
    if not isinstance(model, str) or not model:
        raise ConfigError(f"{where}: engines.{name}.model is missing (a local directory, or the served model's name)")
    sampling = raw.pop("sampling", {})
    unknown = set(sampling) - set(SAMPLING_DEFAULTS) - {"stop"}
    if unknown:
        raise ConfigError(f"{where}: engines.{name}.sampling.{sorted(unknown)[0]} is not a sampling setting "
                          f"({', '.join(SAMPLING_DEFAULTS)}, stop)")
    unknown = set(raw) - BACKEND_OPTIONS[backend]
    if unknown:
        raise ConfigError(f"{where}: engines.{name}.{sorted(unknown)[0]} is not an option of the {backend} backend "
                          f"({', '.join(sorted(BACKEND_OPTIONS[backend]))})")
    if backend == "openai" and (not isinstance(raw.get("urls"), list) or not raw["urls"]):
        raise ConfigError(f"{where}: engines.{name}.urls must list at least one base URL")
    return EngineConfig(name, backend, model, raw, {**SAMPLING_DEFAULTS, **sampling})


def load_config(path: str | Path | None = None) -> Config:
    """The configuration at ``path`` (default ``./misalign.toml`` if present), validated."""
    if path is None and not DEFAULT_PATH.is_file():
        data, where = {}, None
    else:
        file = Path(path or DEFAULT_PATH)
        if not file.is_file():
            raise ConfigError(f"{file}: config file not found")
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML ({exc})") from None
        where = str(file)
    raw_engines = {"embedded": EMBEDDED, **data.get("engines", {})}
    engines = {name: _engine(where or "defaults", name, raw) for name, raw in raw_engines.items()}
    stages = data.get("stages", {})
    for stage, name in stages.items():
        if stage not in STAGES:
            raise ConfigError(f"{where}: stages.{stage} is not a stage ({', '.join(STAGES)})")
        if name not in engines:
            raise ConfigError(f"{where}: stages.{stage} names engine '{name}', which is not defined under [engines]")
    return Config(where, engines, dict(stages))


def same_model(a: str, b: str) -> bool:
    """Whether two engines' model ids name one model (the same directory name counts as the same).

    >>> same_model("/models/qwen2.5-7b", "/srv/copies/qwen2.5-7b"), same_model("mistral-7b", "qwen2.5-7b")
    (True, False)
    """
    return a == b or Path(a).name == Path(b).name


def build_engine(config: EngineConfig, store: Store, batch_size: int = 32) -> CachedEngine:
    """The configured engine, opened and wrapped in the store's cache."""
    return CachedEngine(open_engine(config.backend, config.model, config.options), store, batch_size=batch_size)
