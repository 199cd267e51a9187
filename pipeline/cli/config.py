"""``misalign config show``: the configuration (misalign.toml) with every default filled in."""

from __future__ import annotations

import json

import typer

from pipeline.cli.common import echo

config_app = typer.Typer(help="The configuration (misalign.toml).", no_args_is_help=True)


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the configuration with every default filled in, as JSON: the engines, what each stage uses,
    the stage-1 rules each slot must pass (per misalignment kind), and every option of the stages' commands
    with its value and where it comes from (misalign.toml or the default; a flag on the command line beats
    both). A generating stage's sampling left unset shows the value its engine will be asked for, from the
    engine's [sampling] or the stage's default."""
    from pipeline.cli.file_options import option_sources
    from pipeline.errors import UsageError
    from pipeline.stages.pairs.options import checks_from_config, parse_checks

    config = ctx.obj.config()
    try:
        checks = parse_checks(checks_from_config(config.table("pairs", "rules")))
    except UsageError as exc:
        raise UsageError(f"{config.path}: [pairs.rules]: {exc.reason}") from None
    rules: dict = {}
    for kind, slot, names in checks:  # what stage 1 checks, [pairs.rules] over the defaults
        rules.setdefault("any kind" if kind == "*" else kind, {})[slot] = list(names)
    shown = {**config.as_dict(), "stage-1 rules": rules, "options": option_sources(config, ctx.find_root().command)}
    echo(json.dumps(shown, indent=2, default=str))
