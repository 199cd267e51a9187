"""The ``misalign`` command line: the root group and its global options, the command groups registered.

The store options (``--db``, env ``MISALIGN_DB``; ``--taxonomy``; ``--config``) may stand before or
after the command. A user's mistake exits with status 1 and one line on stderr that says what and
where, the store left as it was; a bug keeps its traceback (see ``pipeline.cli.common``).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from typer._click.core import ParameterSource

from pipeline.cli import argilla, bench, config, engine, model, review, serve, stages, steer, store
from pipeline.cli.common import Context, MisalignGroup
from pipeline.cli.file_options import option_defaults

app = typer.Typer(
    cls=MisalignGroup,
    help="misalign: build, review, benchmark and export LLM misalignment benchmarks. "
         "The store options (--db, --taxonomy, --config) may come before or after the command.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[str, typer.Option(envvar="MISALIGN_DB", help="The store (SQLite file).")] = "misalign.db",
    taxonomy: Annotated[Optional[str], typer.Option(
        envvar="MISALIGN_TAXONOMY", help="A taxonomy YAML file of your own (default: the shipped one).")] = None,
    config: Annotated[Optional[str], typer.Option(
        envvar="MISALIGN_CONFIG", help="Engines and stage settings (default: ./misalign.toml if present).")] = None,
) -> None:
    """The store options every command shares."""
    given = ctx.get_parameter_source("db") not in (ParameterSource.DEFAULT, None)
    ctx.obj = Context(db, taxonomy, config, db_given=given)
    settings = ctx.obj.config()
    if settings.settings:  # misalign.toml's [label], [dedup], ...: option values where no flag gives one
        ctx.default_map = option_defaults(settings, ctx.command, ctx.obj.taxonomy)


for commands in (store.commands, stages.commands, serve.commands):
    app.add_typer(commands)
app.add_typer(stages.label_app, name="label")
app.add_typer(review.review_app, name="review")
app.add_typer(bench.bench_app, name="bench")
app.add_typer(steer.steer_app, name="steer")
app.add_typer(stages.import_app, name="import")
app.add_typer(argilla.argilla_app, name="argilla")
app.add_typer(config.config_app, name="config")
app.add_typer(engine.engine_app, name="engine")
app.add_typer(model.model_app, name="model")
