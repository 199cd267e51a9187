"""A command's option values from ``misalign.toml``: one layer between the code's defaults and the flags.

A section named after a command (``[label]``, ``[dedup]``, ``[expand]``, ``[pairs]``, ``[bench]``,
``[review]``, ``[export]``) sets its options by their flag names (``tau = 8`` for ``--tau``;
``status = "all"`` for ``--status``); for a command group, every command of it that has the option
takes the value (``[bench] bootstrap = 2000`` reaches ``bench run``, ``bench report``, ...). A flag on
the command line beats the file, the file beats the default. Values are checked as the flag's own
would be, and a stage's settings by its settings model (``pipeline.flow.settings``: its options
dataclass's types and its own checks); a key no command of the section has, or a value of the wrong
kind or out of range, is one line naming the file and key. ``misalign config show`` prints each value with where it came from.

    [dedup]
    tau = 8
    [export]
    licence = "cc-by-4.0"
    seed = 3
"""

from __future__ import annotations

from collections.abc import Iterator

from typer._click import core
from typer._click.exceptions import BadParameter
from typer.core import TyperOption

from pipeline.engines.config import Config
from pipeline.errors import ConfigError
from pipeline.flow.settings import check_section
from pipeline.registry import SECTIONS
from taxonomy import load_taxonomy


def _commands(command: core.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], core.Command]]:
    """The command and, for a group, every command under it, each with its path of names."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


def flag_names(option: TyperOption) -> set[str]:
    """The names a file may use for an option: its flags without dashes (``--min-agreement`` as
    ``min-agreement`` or ``min_agreement``), and its parameter name."""
    names = {option.name}
    for flag in option.opts:
        if flag.startswith("--"):
            names |= {flag[2:], flag[2:].replace("-", "_")}
    return names


def _options(command: core.Command) -> list[TyperOption]:
    return [p for p in command.params if isinstance(p, TyperOption) and not p.hidden and p.name != "help"]


def option_defaults(config: Config, root: core.Group, taxonomy=load_taxonomy) -> dict:
    """Click's ``default_map`` for the root group from the stage sections of ``config``, each value checked
    as its flag's would be and each stage setting by the stage's settings model (``pipeline.flow.settings``)."""
    defaults: dict = {}
    for section, values in config.settings.items():
        targets = list(_commands(root.commands[section]))
        for key, value in values.items():
            found = [(path, command, option) for path, command in targets for option in _options(command)
                     if key in flag_names(option)]
            if not found:
                known = sorted({f[2:] for _, c in targets for o in _options(c) for f in o.opts if f.startswith("--")})
                raise ConfigError(f"{config.path}: {section}.{key} is not an option of 'misalign {section}' "
                                  f"({', '.join(known)})")
            for path, command, option in found:
                _check(config.path, section, key, command, option, value)
                node = defaults.setdefault(section, {})
                for name in path:
                    node = node.setdefault(name, {})
                node[option.name] = value
        check_section(config.path, section, values, taxonomy)
    return defaults


def _check(where: str | None, section: str, key: str, command: core.Command, option: TyperOption,
           value: object) -> None:
    """The value as the flag would take it, or one line naming the file and key."""
    if isinstance(value, (dict, list)) and not option.multiple:
        raise ConfigError(f"{where}: {section}.{key} takes one value, not {value!r}")
    try:
        option.process_value(core.Context(command), value)
    except BadParameter as exc:
        raise ConfigError(f"{where}: {section}.{key}: {exc.message}") from None


def option_sources(config: Config, root: core.Group) -> dict:
    """Every option of the stage sections' commands with the value it takes when no flag is given, and
    where that comes from: ``misalign.toml`` or the default."""
    given = option_defaults(config, root)
    shown: dict = {}
    for section in SECTIONS:
        for path, command in _commands(root.commands[section]):
            node = given.get(section, {})
            for name in path:
                node = node.get(name, {})
            options = {}
            for option in _options(command):
                if option.name in node:
                    options[option.opts[0]] = {"value": node[option.name], "from": config.path}
                elif not option.required:
                    default = option.default() if callable(option.default) else option.default
                    options[option.opts[0]] = {"value": default, "from": "default"}
            if options:
                _resolve_sampling(config, (section, *path), options)
                shown[" ".join((section, *path))] = options
    return shown


# the generating commands whose sampling options, left unset, come from their engine's [sampling] or the role's
# default: the command, the option naming its engine(s), the engine role it writes in (pipeline.registry)
_SAMPLED = {("expand",): ("--engine", "expand"), ("pairs",): ("--generator", "generate"),
            ("bench", "run"): ("--model", "bench")}


def _resolve_sampling(config: Config, path: tuple[str, ...], options: dict) -> None:
    """Fill an unset ``--temperature``, ``--top-p`` or ``--max-tokens`` with the value the stage will ask
    for (``EngineConfig.sampling_for``) and say where it comes from: the engine's ``[sampling]`` or the
    stage's default; an engine of its own per generator where the pairs stage has several."""
    if path not in _SAMPLED:
        return
    engine_flag, role = _SAMPLED[path]
    names = options.get(engine_flag, {}).get("value")
    names = [names] if isinstance(names, str) else list(names or ())
    if unknown := [name for name in names if name not in config.engines]:  # only the file can have named them here
        raise ConfigError(f"{config.path}: {path[0]}.{engine_flag[2:]}: no engine named '{unknown[0]}' "
                          f"(engines: {', '.join(config.engines)})")
    engines = [config.engine(name) for name in names] or [config.engine_for(role)]
    for flag in ("--temperature", "--top-p", "--max-tokens"):
        if flag not in options or options[flag]["value"] is not None:
            continue
        key = flag[2:].replace("-", "_")
        values = {e.name: e.sampling_for(role)[key] for e in engines}
        sources = dict.fromkeys(f"{config.path}: engines.{e.name}.sampling" if key in e.sampling_given
                                else f"default ({path[0]})" for e in engines)
        options[flag] = {"value": values if len(set(values.values())) > 1 else next(iter(values.values())),
                         "from": " and ".join(sources)}
