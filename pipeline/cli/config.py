"""``misalign config show``: the configuration (misalign.toml) with every default filled in."""

from __future__ import annotations

import json

import typer

from pipeline.cli.common import echo

config_app = typer.Typer(help="The configuration (misalign.toml).", no_args_is_help=True)


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the configuration with every default filled in, as JSON."""
    echo(json.dumps(ctx.obj.config().as_dict(), indent=2))
