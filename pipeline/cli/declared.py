"""A stage command's options made from its Options dataclass, where each option is declared once
(:func:`pipeline.registry.option`): the flag, its help, its default and how the text becomes the value.

A command takes its settings as one ``options`` parameter and :func:`with_options` puts the flags in its
place, then builds the dataclass from them before the command runs (its ``check()`` is the stage's, run
once, before any work)::

    @app.command("dedup")
    @with_options(DedupOptions)
    def dedup_command(ctx: typer.Context, options: DedupOptions) -> None:
        ...
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline.errors import UsageError
from pipeline.registry import default_of, flag_of


@dataclasses.dataclass(frozen=True)
class Flag:
    """One option of a command, from one field (``path``: the field, inside nested settings when longer)."""

    path: tuple[str, ...]
    name: str  # the flag without dashes
    field: dataclasses.Field
    kind: type  # the field's type, None taken out

    @property
    def parameter(self) -> str:
        """The command's parameter: the field's path (an argument: its flag, which its usage line shows)."""
        return self.name.replace("-", "_") if self.field.metadata.get("argument") else "__".join(self.path)

    def cli_type(self):
        """The type the flag takes: the field's, or text where the field's value is split or parsed from it."""
        meta = self.field.metadata
        if meta.get("repeatable"):
            return Optional[list[(typing.get_args(self.kind) or (str,))[0]]]
        if meta.get("separator") or meta.get("parse") or typing.get_origin(self.kind) in (tuple, dict):
            return Optional[str]
        return Optional[self.kind] if self.kind in (int, float, str, Path) else self.kind

    def cli_default(self):
        """The dataclass's default as the flag shows it (a tuple joined by its separator); none for an
        argument, which the command requires."""
        meta, default = self.field.metadata, default_of(self.field)
        if meta.get("argument") or meta.get("required") or default is dataclasses.MISSING:
            return inspect.Parameter.empty
        if meta.get("repeatable") or meta.get("parse") or default in (None, ()):
            return None
        if isinstance(default, tuple):
            return meta.get("separator", ",").join(map(str, default))
        return default

    def info(self):
        meta = self.field.metadata
        if meta.get("argument"):
            return typer.Argument(help=meta.get("help"), show_default=False)
        names = (f"--{self.name}/--no-{self.name}",) if self.kind is bool else (f"--{self.name}", *meta.get("names", ()))
        return typer.Option(*names, help=meta.get("help"), envvar=meta.get("envvar"))

    def value(self, given):
        """The field's value from the flag's: split, parsed or converted as declared; not given, its default."""
        meta = self.field.metadata
        if given is None:
            return default_of(self.field)
        if meta.get("parse"):
            return meta["parse"](given)
        if meta.get("repeatable"):
            return tuple(given)
        if isinstance(given, str) and typing.get_origin(self.kind) is tuple:
            item = (typing.get_args(self.kind) or (str,))[0]
            parts = [p.strip() for p in given.split(meta.get("separator", ",")) if p.strip()]
            try:
                return tuple(item(p) for p in parts)
            except ValueError:
                separated = {",": "comma-separated"}.get(meta.get("separator", ","), f"'{meta.get('separator')}'-separated")
                what = {float: "numbers", int: "whole numbers"}.get(item, "values")
                raise UsageError(f"'{given}' is not {separated} {what}", field=self.name) from None
        return given


def _plain(kind):
    """``int | None`` as ``int``; a path given as text or a Path (``str | Path``) as ``Path``."""
    if typing.get_origin(kind) not in (typing.Union, types.UnionType):
        return kind
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if len(args) == 1 else Path if Path in args else str


def flags(options: type, path: tuple[str, ...] = (), offered: dict | None = None) -> list[Flag]:
    """The flags of an Options dataclass's fields (``offered``: of a nested one, the fields its parent offers,
    each under its flag), nested settings flattened, in field order."""
    hints = typing.get_type_hints(options)
    found = []
    for field in dataclasses.fields(options):
        meta, kind = field.metadata, _plain(hints[field.name])
        if meta.get("cli") is False or (offered is not None and field.name not in offered):
            continue
        if dataclasses.is_dataclass(kind):
            found += flags(kind, (*path, field.name), meta.get("nested"))
            continue
        name = offered[field.name] if offered else flag_of(field).replace("_", "-")
        found.append(Flag((*path, field.name), name, field, kind))
    return found


def build(options: type, made: dict, path: tuple[str, ...] = ()):
    """The Options dataclass from its fields' values (``made``: by each field's path), nested settings built
    inside."""
    hints = typing.get_type_hints(options)
    kwargs = {}
    for field in dataclasses.fields(options):
        kind = _plain(hints[field.name])
        if (*path, field.name) in made:
            kwargs[field.name] = made[(*path, field.name)]
        elif dataclasses.is_dataclass(kind) and any(p[:len(path) + 1] == (*path, field.name) for p in made):
            kwargs[field.name] = build(kind, made, (*path, field.name))
    return options(**{k: v for k, v in kwargs.items() if v is not dataclasses.MISSING})


def with_options(options: type):
    """Replace the command's ``options`` parameter with a flag per declared field (its arguments first), and
    build the dataclass from them when the command runs."""
    declared = flags(options)

    def decorate(command):
        keyword = inspect.Parameter.KEYWORD_ONLY
        hints = typing.get_type_hints(command, include_extras=True)
        own = [p.replace(kind=keyword, annotation=hints.get(p.name, p.annotation))
               for p in inspect.signature(command).parameters.values() if p.name != "options"]
        made = [inspect.Parameter(f.parameter, keyword, default=f.cli_default(), annotation=Annotated[f.cli_type(), f.info()])
                for f in declared]
        arguments = [p for p, f in zip(made, declared) if f.field.metadata.get("argument")]

        @functools.wraps(command)
        def run(**kwargs):
            values = {f.path: f.value(kwargs.pop(f.parameter, None)) for f in declared}
            return command(**kwargs, options=build(options, values))

        run.__signature__ = inspect.Signature([*own[:1], *arguments, *(p for p in made if p not in arguments), *own[1:]])
        run.__annotations__ = {**{k: v for k, v in hints.items() if k not in ("options", "return")},
                               **{p.name: p.annotation for p in made}}
        del run.__wrapped__  # typer reads the signature above, not the command's
        return run

    return decorate
