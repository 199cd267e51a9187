"""Run `transformers serve` on 127.0.0.1 for a local model directory, for tests and benchmarks.

>>> with transformers_serve("tiny-model") as url:
...     OpenAIEngine("tiny-model", [url]).generate(requests)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from pipeline.app.serving import free_port


def start_server(model: str | Path, port: int, folder: Path, *extra: str, ready_within: float = 90.0) -> subprocess.Popen:
    """`transformers serve` for ``model`` on 127.0.0.1:``port``, healthy; the caller stops it (a test may kill it)."""
    # /v1/models fails unless HF_HUB_CACHE names an existing folder (environment.md)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(folder), "HF_HUB_DISABLE_TELEMETRY": "1"}
    log_path = folder / f"serve-{port}.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("transformers")), "serve", "--host", "127.0.0.1", "--port",
             str(port), "--device", "cpu", *extra, str(model)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url, deadline = f"http://127.0.0.1:{port}", time.time() + ready_within
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.time() > deadline:
            server.kill()
            raise RuntimeError(f"transformers serve did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.5)


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


@contextmanager
def transformers_serve(model: str | Path, *extra: str, ready_within: float = 90.0) -> Iterator[str]:
    """Start the server, wait for /health, yield its OpenAI base URL, stop it on exit."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(model, port, Path(tmp), *extra, ready_within=ready_within)
        try:
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            stop_server(server)
