"""What every command module of the CLI shares: the context (store, taxonomy, config) and the command
group that reads the store options wherever they stand and turns the user's mistakes into one line.

A ``UsageError`` (bad option, file, setting, missing input), a ``ServiceError`` (a server that did not
answer), a ``StoreError`` or a ``TaxonomyError`` is printed as one line on stderr with exit status 1;
click's own usage errors (``--tau abc``) as one line with status 2; anything else is a bug and keeps
its traceback, with a note asking for a report. Heavy modules load only in the commands that use them.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
from pathlib import Path

import typer
from typer._click import exceptions as click_errors  # typer 0.29 carries its own click (pinned in pyproject)
from typer.core import TyperGroup

from pipeline.errors import ServiceError, UsageError, one_line, terminal_safe
from review_store import Store, StoreError
from review_store.store import is_writable
from taxonomy import TaxonomyError, load_taxonomy

GLOBAL_OPTIONS = ("--db", "--taxonomy", "--config")
ONE_LINE_ERRORS = (UsageError, ServiceError, StoreError, TaxonomyError)
BUG_NOTE = ("misalign: this is a bug, not something you did wrong; please report it with the traceback above "
            "and the command you ran")


class Context:
    def __init__(self, db: str, taxonomy: str | None, config: str | None, db_given: bool = True):
        self.db = db
        self.db_given = db_given  # --db or MISALIGN_DB was set (the demo otherwise uses demo.db)
        self.taxonomy_path = taxonomy
        self.config_path = config

    def config(self):
        from pipeline.engines.config import load_config

        return load_config(self.config_path)

    def open_store(self, must_exist: bool = False, only_reads: bool = False) -> Store:
        """The store; a command that ``only_reads`` opens a store it cannot write to read-only."""
        if must_exist and self.db != ":memory:" and not Path(self.db).exists():
            raise StoreError(f"{self.db}: no store here; run 'misalign init' or 'misalign ingest FILE' first")
        if only_reads and self.db != ":memory:" and Path(self.db).is_file() and not is_writable(Path(self.db)):
            return Store(self.db, read_only=True)
        return Store(self.db)

    def taxonomy(self):
        return load_taxonomy(self.taxonomy_path)


def hoist_global_options(args: list[str]) -> list[str]:
    """The store options moved before the command, so ``misalign status --db X`` reads as
    ``misalign --db X status``.

    >>> hoist_global_options(["status", "--db", "x.db", "--json"])
    ['--db', 'x.db', 'status', '--json']
    >>> hoist_global_options(["review", "status", "--config=m.toml", "--", "--db"])
    ['--config=m.toml', 'review', 'status', '--', '--db']
    """
    front, rest, i = [], [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if arg.split("=", 1)[0] in GLOBAL_OPTIONS:
            taken = 1 if "=" in arg else 2
            front += args[i:i + taken]
            i += taken
            continue
        rest.append(arg)
        i += 1
    return front + rest


def out_of_space(exc: BaseException) -> bool:
    """A full disk, a file size limit or a failing disk, as the OS or SQLite says it (SQLite reports a
    file that may not grow as a disk I/O error)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO):
        return True
    return isinstance(exc, sqlite3.OperationalError) and any(
        words in str(exc) for words in ("disk is full", "disk I/O error"))


def echo(message: object = "", err: bool = False) -> None:
    """Print a line of output: names, labels and data text can hold terminal escapes, shown escaped."""
    typer.echo(terminal_safe(message), err=err)


def check_utf8_argument(arg: str) -> None:
    """Names, prompts and options are stored as UTF-8 text: an argument with bytes that are not (Python
    holds them as lone surrogates) is one line, unless it names a file that exists (Linux file names
    may hold any bytes)."""
    bad = next((c for c in arg if "\ud800" <= c <= "\udfff"), None)
    if bad is not None and not os.path.exists(arg):
        shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise click_errors.UsageError(f"the argument '{shown}' is not UTF-8 text; give names and values in UTF-8")


def _usage_line(exc: click_errors.UsageError) -> str:
    where = exc.ctx.command_path if exc.ctx else "misalign"
    return f"error: {where}: {one_line(exc.format_message())} (see '{where} --help')"


class MisalignGroup(TyperGroup):
    """The root command group: global options anywhere, one line for the user's mistakes, tracebacks for bugs."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        for arg in args:
            check_utf8_argument(arg)
        return super().parse_args(ctx, hoist_global_options(args))

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ONE_LINE_ERRORS as exc:
            echo(f"error: {one_line(exc)}", err=True)
            raise typer.Exit(1) from None
        except click_errors.NoArgsIsHelpError:
            raise
        except click_errors.UsageError as exc:
            echo(_usage_line(exc), err=True)
            raise typer.Exit(2) from None
        except (typer.Exit, typer.Abort, click_errors.ClickException):
            raise
        except Exception as exc:
            if out_of_space(exc):  # a transaction is rolled back, a file written beside its target
                echo(f"error: a write to disk failed ({one_line(exc)}): the disk is full, over a size limit or failing; "
                     "the write was rolled back (earlier batches stay): free some space and run again to resume",
                     err=True)
                raise typer.Exit(1) from None
            exc.add_note(BUG_NOTE)
            raise

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click_errors.UsageError as exc:  # a bad global option, before any command ran
            echo(_usage_line(exc), err=True)
            sys.exit(exc.exit_code)
        except click_errors.ClickException as exc:
            echo(f"error: {one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            echo("aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


LEFT_OUT = {"empty_slot": "pairs with an empty slot", "no_verdict_in_file": "labelled responses the file gives no "
            "verdict on", "tied_verdict": "responses whose annotators split evenly",
            "verdict_skipped": "rows whose verdict --verdict-map skips", "duplicate_row": "rows repeating an earlier one"}


def echo_left_out(report) -> None:
    """Each item a command left out, under its reason: never silent."""
    for reason, items in report.notes.left_out.items():
        echo(f"left out {len(items)} {LEFT_OUT.get(reason, reason.replace('_', ' '))}:")
        for item in items:
            echo(f"  {one_line(item)}")
