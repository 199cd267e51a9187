"""``misalign.toml``'s stage sections checked by models built from the stages' Options dataclasses.

A section (``[dedup]``, ``[pairs]``, ...) sets a stage's options by their flag names. Each key that
names a field of the stage's Options dataclass (by the field's name, or the flag a field declares in
its metadata, e.g. ``batch`` for ``PairOptions.batch_prompts``) is validated by :func:`settings_model`,
a pydantic model of the dataclass's fields with its types and defaults, and then by the stage's own
``check()`` on the file's values over the defaults: so ``[dedup] tau = 99`` is one line naming the file
and key when the configuration is read, not a complaint about a ``--tau`` nobody typed. A key that
names no field (``[export] format``, a flag the command turns into a field) is the command's to check.

>>> check_section("misalign.toml", "dedup", {"tau": 99})
Traceback (most recent call last):
...
pipeline.errors.ConfigError: misalign.toml: dedup.tau: must be between 0 and 63, not 99
>>> check_section("misalign.toml", "pairs", {"batch": 0})
Traceback (most recent call last):
...
pipeline.errors.ConfigError: misalign.toml: pairs.batch: must be at least 1, not 0
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, create_model

from pipeline.errors import ConfigError, UsageError
from pipeline.registry import default_of, flag_of
from pipeline.registry import STAGES
from taxonomy import load_taxonomy


@functools.cache
def settings_model(options: type) -> type[BaseModel]:
    """A pydantic model of the settings in ``options`` (a stage's Options dataclass): a field for each of
    its fields but the nested settings dataclasses (those are set by flags of their own), typed by its
    annotation, defaulting to its default, and known by its flag name too.

    >>> from pipeline.stages.options import DedupOptions
    >>> settings_model(DedupOptions).model_validate({"tau": 8}).tau, settings_model(DedupOptions)().bits
    (8, 64)
    """
    hints = typing.get_type_hints(options)
    fields = {}
    for field in dataclasses.fields(options):
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            continue
        default = default_of(field)
        if default is dataclasses.MISSING:  # a required field (the model under test, the folder to write) is the command's to give
            kind, default = kind | None, None
        if _is_tuple(kind):  # the flag's form is the file's too: "jsonl,csv" as well as ["jsonl", "csv"]
            kind = Annotated[kind, BeforeValidator(functools.partial(_split, field.metadata.get("separator", ",")))]
        fields[field.name] = (kind, default)
    return create_model(f"{options.__name__}Settings", __config__=ConfigDict(extra="forbid"), **fields)


def _is_tuple(kind) -> bool:
    return any(typing.get_origin(k) is tuple for k in (kind, *typing.get_args(kind)))


def _split(separator: str, value):
    return tuple(part.strip() for part in value.split(separator)) if isinstance(value, str) else value


def file_keys(options: type) -> dict[str, str]:
    """The keys a file may use for the settings model's fields (the flag name, dashes as underscores, and
    the field's own name), each with its field."""
    fields = settings_model(options).model_fields
    return {**{f.name: f.name for f in dataclasses.fields(options) if f.name in fields},
            **{flag_of(f).replace("-", "_"): f.name for f in dataclasses.fields(options) if f.name in fields}}


def section_stages(section: str) -> list:
    """The stages whose options a section of ``misalign.toml`` sets."""
    return [stage for stage in STAGES.values() if stage.section == section]


def check_section(where: str | None, section: str, values: dict, taxonomy=load_taxonomy) -> None:
    """Every key of ``values`` that is a setting of the section's stages, validated by the settings model
    and the stage's ``check()``; the first mistake as a ``ConfigError`` naming the file and key.
    ``taxonomy`` loads the taxonomy a check needs (export's checks its dimensions and domains)."""
    for stage in section_stages(section):
        model, keys = settings_model(stage.options), file_keys(stage.options)
        given = {key: keys[key.replace("-", "_")] for key in values if key.replace("-", "_") in keys}
        if not given:
            continue
        try:
            settings = model.model_validate({field: values[key] for key, field in given.items()})
        except ValidationError as exc:
            error = exc.errors()[0]
            key = next(k for k, f in given.items() if f == error["loc"][0])
            raise ConfigError(f"{where}: {section}.{key}: {error['msg'].lower()}, not {error['input']!r}") from None
        options = stage.options(**settings.model_dump())
        check = options.check
        try:
            check(taxonomy()) if "taxonomy" in inspect.signature(check).parameters else check()
        except UsageError as exc:
            _blame(where, section, given, exc)


def _blame(where: str | None, section: str, given: dict[str, str], error: UsageError) -> None:
    """The stage's complaint as the file's mistake when its field is a key the file gave (by the flag's name
    or the field's); a complaint about anything else (no panel given, say) is about the command's
    arguments, checked when it runs."""
    for key, name in given.items():
        if error.field in (key.replace("_", "-"), name.replace("_", "-")):
            raise ConfigError(f"{where}: {section}.{key}: {error.reason}")
