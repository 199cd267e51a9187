"""What every command module of the CLI shares: the context (store, taxonomy, config) and the
decorator that turns errors a user can act on into one line and exit status 1."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from pipeline.engines.config import ConfigError, load_config
from pipeline.engines import EngineError
from pipeline.text.readers import InputError
from review_store import Store, StoreError
from taxonomy import TaxonomyError, load_taxonomy


class Context:
    def __init__(self, db: str, taxonomy: str | None, config: str | None):
        self.db = db
        self.taxonomy_path = taxonomy
        self.config_path = config

    def config(self):
        return load_config(self.config_path)

    def open_store(self, must_exist: bool = False) -> Store:
        if must_exist and self.db != ":memory:" and not Path(self.db).exists():
            raise StoreError(f"{self.db}: no store here; run 'misalign init' or 'misalign ingest FILE' first")
        return Store(self.db)

    @contextmanager
    def acting(self) -> Iterator[Store]:
        """The existing store, for a stage to act on; a ValueError it raises is the user's to fix
        (a bad setting or input), so it becomes one line and exit status 1."""
        with self.open_store(must_exist=True) as store:
            try:
                yield store
            except ValueError as exc:
                raise InputError(str(exc)) from None

    def taxonomy(self):
        return load_taxonomy(self.taxonomy_path)


def user_errors(command):
    """Turn the errors a user can act on into one line on stderr and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (InputError, TaxonomyError, StoreError, ConfigError, EngineError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

    return wrapper
