"""``misalign.toml``: engines by name, the engine each stage uses, and sampling defaults.

Read once, validated with errors that name the file and key, shown with defaults filled in by
``misalign config show``. Without a file the embedded default applies: the packaged MiniLM.

    [engines.local]
    backend = "hf"                     # hf | openai | vllm | llamacpp | embed
    model = "models/qwen2.5-0.5b-instruct"
    device = "cpu"
    [engines.local.sampling]
    temperature = 0.7
    max_tokens = 512

    [engines.steered]                  # the same model with a steering vector added
    backend = "hf"
    model = "models/qwen2.5-0.5b-instruct"
    steer = { vector = "vectors/culture.safetensors", strength = 4.0 }

    [engines.served]
    backend = "openai"
    model = "mistral-7b-instruct"
    urls = ["http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1"]
    concurrency = 8

    [stages]
    label = "embedded"
    generate = "served"

    [label]                            # any option of a stage's command, as its flag names it
    delta = 0.4
    [dedup]
    tau = 8
    [bench]                            # every bench command with that option
    bootstrap = 2000
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from pipeline.errors import ConfigError
from collections.abc import Callable

from pipeline.engines import BACKENDS, CachedEngine, Engine, GenerateRequest, open_engine
from pipeline.engines.backends import STRICT, REGISTRY, Steer, backends_that, capable
from pipeline.engines.protocol import as_messages
from pipeline.registry import ENGINE_ROLES, SECTION_TABLES, SECTIONS
from review_store import Store

DEFAULT_PATH = Path("misalign.toml")
SAMPLING_DEFAULTS = {"n": 1, "temperature": 0.7, "top_p": 0.9, "max_tokens": 512, "seed": None,
                     "repetition_penalty": None}


# types and ranges only; a setting not given keeps the backend's own default
class _Sampling(BaseModel):
    model_config = STRICT
    n: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    stop: list[str] | None = None
    repetition_penalty: float | None = Field(None, gt=0)


EMBEDDED = {"backend": "embed", "model": "default"}


@dataclass(frozen=True)
class EngineConfig:
    name: str
    backend: str
    model: str
    options: dict = field(default_factory=dict)
    sampling: dict = field(default_factory=lambda: dict(SAMPLING_DEFAULTS))
    sampling_given: dict = field(default_factory=dict)  # what [engines.X.sampling] itself sets

    def sampling_for(self, role: str, **options) -> dict:
        """The sampling this engine writes with in a role (``generate``, ``expand``, ``bench``): the stage's
        option where given, else this engine's ``[sampling]`` in misalign.toml, else the role's default (its
        stage's declaration, :data:`pipeline.registry.ENGINE_ROLES`).

        >>> EngineConfig("e", "hf", "m", sampling_given={"max_tokens": 99}).sampling_for("generate", temperature=0.2)
        {'temperature': 0.2, 'top_p': 0.9, 'max_tokens': 99, 'stop': (), 'seed': None, 'repetition_penalty': None}
        """
        given = {k: v for k, v in options.items() if v is not None}
        values = {**ENGINE_ROLES[role], "stop": (), "seed": None, "repetition_penalty": None,
                  **{k: v for k, v in self.sampling_given.items() if k != "n"}, **given}
        values["stop"] = tuple(values["stop"] or ())
        return values

    @staticmethod
    def recorded(sampling: dict) -> dict:
        """What a stage run records of the sampling it used: every value, seed, stop and repetition penalty only
        where set.

        >>> EngineConfig.recorded({"temperature": 0.7, "seed": None, "stop": (), "repetition_penalty": 1.1})
        {'temperature': 0.7, 'repetition_penalty': 1.1}
        """
        return {k: v for k, v in sampling.items() if k not in ("seed", "stop", "repetition_penalty") or v}

    def request(self, prompt, **overrides) -> GenerateRequest:
        """A generate request with this engine's sampling defaults, overridden where given."""
        values = {**self.sampling, **{k: v for k, v in overrides.items() if v is not None}}
        stop = tuple(values.pop("stop", ()) or ())
        return GenerateRequest(messages=as_messages(prompt), stop=stop, **values)


def open_configured(settings: EngineConfig) -> Engine:
    """The engine ``settings`` describes, opened: how a :class:`Config` opens engines unless told otherwise."""
    return open_engine(settings.backend, settings.model, settings.options)


@dataclass(frozen=True)
class Config:
    path: str | None
    engines: dict[str, EngineConfig]
    stages: dict[str, str]
    # [label], [dedup], ...: option values for those commands (pipeline.registry.SECTIONS)
    settings: dict = field(default_factory=dict)
    # the tables a stage reads itself, by section and name ([pairs.rules]: tables["pairs"]["rules"])
    tables: dict = field(default_factory=dict)
    # the seam every stage opens its engines through: tests pass a faulty or counting one (opening_with)
    opener: Callable[[EngineConfig], Engine] = field(default=open_configured, repr=False, compare=False)

    def opening_with(self, opener: Callable[[EngineConfig], Engine]) -> "Config":
        """This configuration with engines opened by ``opener`` instead."""
        return dataclasses.replace(self, opener=opener)

    def build_engine(self, settings: EngineConfig, store: Store, batch_size: int = 32) -> CachedEngine:
        """The engine ``settings`` describes, opened by this configuration's opener and wrapped in the store's
        cache."""
        return CachedEngine(self.opener(settings), store, batch_size=batch_size)

    def embedder(self, store: Store):
        """The embedded encoder (the shipped MiniLM), its vectors kept in ``store``: the features of the learned
        labelling model and of the trained detector."""
        return self.opener(EngineConfig("embedded", **EMBEDDED, options={"batch_size": 64})).keeping_vectors_in(store)

    def table(self, section: str, name: str) -> dict:
        """A table of a stage's section (``[pairs.rules]``), empty when the file has none."""
        return dict(self.tables.get(section, {}).get(name, {}))

    def engine(self, name: str) -> EngineConfig:
        if name not in self.engines:
            raise ConfigError(f"{self.path or 'config'}: no engine named '{name}' (engines: {', '.join(self.engines)})")
        return self.engines[name]

    def engine_for(self, role: str, override: str | None = None) -> EngineConfig:
        """The engine for a role a stage asks for: the CLI's --engine, else [stages], else the embedded default."""
        return self.engine(override or self.stages.get(role, "embedded"))

    def steered(self, name: str, vector: str, strength: float) -> tuple["Config", str]:
        """This configuration plus engine ``name`` with a steering vector added, under a name that says so
        (``tiny steered 4``); only the hf backend can apply one."""
        engine = self.engine(name)
        if not capable(engine.backend, "steerable"):
            raise ConfigError(f"engine '{name}' uses the {engine.backend} backend, which cannot apply a "
                              f"steering vector; steer an engine of the {backends_that('steerable')} backend", field="steer")
        _validate(self.path or "config", f"engines.{name}.steer", Steer, {"vector": vector, "strength": strength})
        steered_name = f"{name} steered {strength:g}"
        options = {**engine.options, "steer": {"vector": vector, "strength": strength}}
        return self.with_engine(EngineConfig(steered_name, engine.backend, engine.model, options, engine.sampling,
                                             engine.sampling_given)), steered_name

    def with_engine(self, engine: EngineConfig) -> "Config":
        """This configuration with one more engine (or one replaced), under its name."""
        return dataclasses.replace(self, engines={**self.engines, engine.name: engine})

    def as_dict(self) -> dict:
        """Every engine with its defaults filled in, ``[pairs.rules]``, and what each role uses: its engine
        and, for the roles that write, the sampling it will ask for (before any option on the command line)."""
        uses = {}
        for role, writes in ENGINE_ROLES.items():
            engine = self.engine_for(role)
            uses[role] = {"engine": engine.name}
            if writes and capable(engine.backend, "writes"):
                uses[role]["sampling"] = {k: list(v) if isinstance(v, tuple) else v
                                          for k, v in engine.sampling_for(role).items()}
        return {"path": self.path, "stages": self.stages, "stage_settings": uses, "tables": self.tables,
                "engines": {name: {"backend": e.backend, "model": e.model, **e.options, "sampling": e.sampling}
                            for name, e in self.engines.items()}}


def _engine(where: str, name: str, raw: object) -> EngineConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: engines.{name} must be a table")
    raw = copy.deepcopy(raw)
    backend = raw.pop("backend", None)
    if backend not in BACKENDS:
        raise ConfigError(f"{where}: engines.{name}.backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    model = raw.pop("model", REGISTRY[backend].default_model)
    if not isinstance(model, str) or not model:
        raise ConfigError(f"{where}: engines.{name}.model is missing (a local directory, or the served model's name)")
    sampling = raw.pop("sampling", {})
    if not isinstance(sampling, dict):
        raise ConfigError(f"{where}: engines.{name}.sampling must be a table")
    unknown = set(sampling) - set(SAMPLING_DEFAULTS) - {"stop"}
    if unknown:
        raise ConfigError(f"{where}: engines.{name}.sampling.{sorted(unknown)[0]} is not a sampling setting "
                          f"({', '.join(SAMPLING_DEFAULTS)}, stop)")
    options = REGISTRY[backend].options
    unknown = set(raw) - set(options.model_fields)
    if unknown:
        raise ConfigError(f"{where}: engines.{name}.{sorted(unknown)[0]} is not an option of the {backend} backend "
                          f"({', '.join(sorted(options.model_fields))})")
    if backend == "openai" and (not isinstance(raw.get("urls"), list) or not raw["urls"]):
        raise ConfigError(f"{where}: engines.{name}.urls must list at least one base URL")
    _validate(where, f"engines.{name}.sampling", _Sampling, sampling)
    _validate(where, f"engines.{name}", options, raw)
    return EngineConfig(name, backend, model, raw, {**SAMPLING_DEFAULTS, **sampling}, dict(sampling))


def _validate(where: str, key: str, model: type[BaseModel], values: dict) -> None:
    """Types and ranges of a table's settings, the first mistake as one line naming the file and key."""
    try:
        model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        got = f", not {error['input']!r}" if field else ""
        raise ConfigError(f"{where}: {key}.{field}: {error['msg'].lower()}{got}" if field else
                          f"{where}: {key}: {error['msg'].lower()}") from None


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
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{file}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML ({exc})") from None
        where = str(file)
    known = ("engines", "stages", *SECTIONS)
    unknown = set(data) - set(known)
    if unknown:
        raise ConfigError(f"{where}: '{sorted(unknown)[0]}' is not a section of misalign.toml ({', '.join(known)})")
    for section in ("engines", "stages", *SECTIONS):
        if not isinstance(data.get(section, {}), dict):
            raise ConfigError(f"{where}: {section} must be a table ([{section}]), not {data[section]!r}")
    raw_engines = {"embedded": EMBEDDED, **data.get("engines", {})}
    engines = {name: _engine(where or "defaults", name, raw) for name, raw in raw_engines.items()}
    stages = data.get("stages", {})
    for stage, name in stages.items():
        if stage not in ENGINE_ROLES:
            raise ConfigError(f"{where}: stages.{stage} is not a stage's engine role ({', '.join(ENGINE_ROLES)})")
        if not isinstance(name, str) or name not in engines:
            raise ConfigError(f"{where}: stages.{stage} names engine '{name}', which is not defined under [engines]")
    given = {section: data[section] for section in SECTIONS if section in data}
    settings = {section: {k: v for k, v in values.items() if k not in SECTION_TABLES[section]}
                for section, values in given.items()}
    tables = {section: {k: v for k, v in values.items() if k in SECTION_TABLES[section]}
              for section, values in given.items()}
    return Config(where, engines, dict(stages), settings, {s: t for s, t in tables.items() if t})


def same_model(a: str, b: str) -> bool:
    """Whether two engines' model ids name one model (the same directory name counts as the same).

    >>> same_model("/models/qwen2.5-7b", "/srv/copies/qwen2.5-7b"), same_model("mistral-7b", "qwen2.5-7b")
    (True, False)
    """
    return a == b or Path(a).name == Path(b).name
