"""``misalign engine generate|choose``: try an engine by hand; answers go through the store's cache."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from pipeline.cli.common import echo

from pipeline.errors import UsageError

engine_app = typer.Typer(help="Try an engine by hand; answers go through the store's cache.", no_args_is_help=True)


@engine_app.command("generate")
def engine_generate(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="The user message.")],
    engine: Annotated[str, typer.Option("--model", "--engine", help="An engine named in misalign.toml (as bench "
                                                                   "run's --model).")] = "embedded",
    n: Annotated[Optional[int], typer.Option(help="Answers to sample.")] = None,
    temperature: Annotated[Optional[float], typer.Option()] = None,
    max_tokens: Annotated[Optional[int], typer.Option()] = None,
    seed: Annotated[Optional[int], typer.Option(min=0)] = None,
) -> None:
    """Generate answers to PROMPT with an engine (flags override its sampling defaults)."""
    config = ctx.obj.config()
    settings = config.engine(engine)
    request = settings.request(prompt, n=n, temperature=temperature, max_tokens=max_tokens, seed=seed)
    with ctx.obj.open_store() as store:
        [generation] = config.build_engine(settings, store).generate([request])
    for text, reason in zip(generation.texts, generation.finish_reasons):
        echo(json.dumps({"text": text, "finish_reason": reason}))


@engine_app.command("choose")
def engine_choose(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The user message.")],
    options: Annotated[str, typer.Option(help="Comma-separated options, e.g. yes,no.")],
    engine: Annotated[str, typer.Option("--model", "--engine", help="An engine named in misalign.toml (as bench "
                                                                   "run's --model).")] = "embedded",
) -> None:
    """Print each option's probability of following TEXT."""
    from pipeline.engines import ChoiceRequest, as_messages

    choices = tuple(o.strip() for o in options.split(",") if o.strip())
    if len(choices) < 2:
        raise UsageError("give at least two comma-separated options", field="options")
    with ctx.obj.open_store() as store:
        config = ctx.obj.config()
        [probs] = config.build_engine(config.engine(engine), store).choice_probs(
            [ChoiceRequest(as_messages(text), choices)])
    echo(json.dumps(probs))
