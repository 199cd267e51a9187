"""``misalign argilla install|serve``: a local Argilla server (no Elasticsearch) for small panels and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline.cli.common import echo

argilla_app = typer.Typer(help="A local Argilla server (no Elasticsearch) for small panels and tests.",
                          no_args_is_help=True)


@argilla_app.command("install")
def argilla_install() -> None:
    """Make argilla-server's own venv (MISALIGN_ARGILLA_VENV) if it is not there yet."""
    from pipeline.review.argilla.local.server import install_argilla_server

    echo(f"argilla-server ready: {install_argilla_server()}")


@argilla_app.command("serve")
def argilla_serve(
    ctx: typer.Context,
    home: Annotated[Optional[Path], typer.Option(help="Where the server keeps its database and owner credentials "
                                                 "(default: ~/.cache/misalign/argilla, or $MISALIGN_CACHE/argilla).")] = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 6900,
    redis_port: Annotated[Optional[int], typer.Option(help="Port for its Redis on 127.0.0.1 (default: a free one).")] = None,
    annotator_password: Annotated[Optional[str], typer.Option(
        envvar="MISALIGN_ANNOTATOR_PASSWORD", help="Password for the panels' annotator accounts.")] = None,
) -> None:
    """Start Redis, argilla-server and its worker on 127.0.0.1 with misalign's SQL search engine; create the
    owner and the panels' annotator accounts; print the URL. Ctrl-C, SIGINT or SIGTERM stops everything."""
    import signal
    import sys
    import time

    from pipeline.review.argilla.sync import argilla_client, ensure_accounts
    from pipeline.review.argilla.local.server import credentials_path, default_home, local_argilla

    def stop(signum, frame):
        raise KeyboardInterrupt  # leaves the block below, which stops Redis, the server and its worker

    # started in the background a shell hands us SIGINT ignored; we honour it, and SIGTERM, anyway
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, stop)
    try:
        with local_argilla(home or default_home(), port, redis_port=redis_port) as server, ctx.obj.open_store() as store:
            client = argilla_client(server.url, server.api_key)
            for panel in store.panels():
                created = ensure_accounts(client, store, panel["name"], annotator_password)
                echo(f"panel {panel['name']}: workspace ready, {len(created)} annotator accounts created")
            echo(f"Argilla on {server.url} (owner '{server.owner}'; password and API key in "
                 f"{credentials_path(server.home)}, readable by you alone)")
            echo(f"export ARGILLA_API_URL={server.url} ARGILLA_API_KEY=$(misalign argilla key --home {server.home})")
            sys.stdout.flush()  # the URL is what a script waits for, even when our output is a pipe
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        echo("stopped")


@argilla_app.command("key")
def argilla_key(
    home: Annotated[Optional[Path], typer.Option(help="The local server's home (default: as argilla serve).")] = None,
) -> None:
    """Print the local Argilla owner's API key, for ARGILLA_API_KEY (the one place the studio shows it)."""
    from pipeline.errors import UsageError
    from pipeline.review.argilla.local.server import credentials, credentials_path, default_home

    home = home or default_home()
    if not credentials_path(home).is_file():  # never made here: a key is made only when a server starts
        raise UsageError(f"{home} holds no local Argilla yet (start one: misalign argilla serve)", field="home")
    echo(credentials(home)["api_key"])
