"""``misalign app|demo``: the Streamlit studio on a store, and the whole loop on the demo data before it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import echo

commands = typer.Typer()
APP_FILE = Path(__file__).resolve().parents[2] / "app.py"
DEMO_DB = "demo.db"


@commands.command("app")
def app_command(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8501,
    host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps it on this machine.")] = "127.0.0.1",
) -> None:
    """Open the Streamlit app on the store."""
    ctx.obj.open_store().close()
    _serve_app(Path(ctx.obj.db), ctx.obj.taxonomy_path, host, port)


def _serve_app(db: Path, taxonomy_path: str | None, host: str, port: int) -> None:
    env = {**os.environ, "MISALIGN_DB": str(db.resolve())}
    if taxonomy_path:
        env["MISALIGN_TAXONOMY"] = str(Path(taxonomy_path).resolve())
    command = [sys.executable, "-m", "pipeline.app.launch", "run", str(APP_FILE), "--server.address", host,
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--client.toolbarMode", "minimal", "--server.fileWatcherType", "none"]  # as .streamlit/config.toml
    echo(f"misalign app on http://{host}:{port} (store {env['MISALIGN_DB']}); Ctrl-C stops it")
    # become the server (no child left behind when this process is stopped)
    os.execve(sys.executable, command, env)


@commands.command("demo")
def demo_command(
    ctx: typer.Context,
    no_app: Annotated[bool, typer.Option("--no-app", help="Stop after the last stage instead of opening the app.")] = False,
    port: Annotated[int, typer.Option(help="Port for the app.")] = 8501,
    host: Annotated[str, typer.Option(help="Address the app binds.")] = "127.0.0.1",
) -> None:
    """The whole loop on CPU with the embedded engines, on the demo data, then the app on its store
    (--db, default demo.db: made or resumed)."""
    from pipeline.demo.run import run_demo

    db = Path(ctx.obj.db if ctx.obj.db_given else DEMO_DB)
    result = run_demo(db, echo=echo, taxonomy=ctx.obj.taxonomy())
    echo(f"demo store {result.db}, export {result.export_dir}")
    echo("The embedded engines are for trying the studio. For research, point the stages at a real model in "
         "misalign.toml: a GGUF file (backend llamacpp), a local model directory (backend hf or vllm), or "
         "'vllm serve' URLs (backend openai); see the README.")
    if not no_app:
        _serve_app(db, ctx.obj.taxonomy_path, host, port)
