"""``misalign config show``: the configuration (misalign.toml) with every default filled in."""

from __future__ import annotations

import json

import typer

from pipeline.cli.common import echo

config_app = typer.Typer(help="The configuration (misalign.toml).", no_args_is_help=True)


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the configuration with every default filled in, as JSON: the engines, what each stage uses,
    and every option of the stages' commands with its value and where it comes from (misalign.toml or
    the default; a flag on the command line beats both)."""
    from pipeline.cli.defaults import option_sources

    config = ctx.obj.config()
    shown = {**config.as_dict(), "options": option_sources(config, ctx.find_root().command)}
    echo(json.dumps(shown, indent=2, default=str))
