"""Start OpenAI-compatible servers on 127.0.0.1 for tests and benchmarks: `transformers serve` and `vllm serve`
on a local model directory, llama.cpp's server (``python -m llama_cpp.server``) on a GGUF file.

>>> with transformers_serve("tiny-model") as url:
...     OpenAIEngine("tiny-model", [url]).generate(requests)
>>> with served("vllm", "~/.cache/misalign/models/smollm2") as url:
...     OpenAIEngine("~/.cache/misalign/models/smollm2", [url]).choice_probs(requests)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from pipeline.app.serving import free_port

BIN = Path(sys.executable).parent
SERVERS = ("transformers", "vllm", "llamacpp")


def server_command(kind: str, model: str | Path, port: int, *extra: str) -> list[str]:
    """The command line of a ``kind`` server for ``model`` on 127.0.0.1:``port``."""
    model = str(model)
    if kind == "transformers":
        return [str(BIN / "transformers"), "serve", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
                *extra, model]
    if kind == "vllm":  # `vllm serve`'s server; float32: the numbers of the hf backend on the same directory
        # (the CPU build's `vllm` command looks up a package named vllm, which it is not: the module is run instead)
        return [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--host", "127.0.0.1",
                "--port", str(port), "--dtype", "float32",
                "--max-model-len", "4096", "--max-logprobs", "20", "--enable-prefix-caching",
                "--uvicorn-log-level", "warning", *extra]
    if kind == "llamacpp":  # logits_all: the top log-probabilities of the first token, which a judge reads
        return [sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port", str(port),
                "--n_ctx", "4096", "--logits_all", "true", *extra]
    raise ValueError(f"no server kind {kind!r} ({', '.join(SERVERS)})")


def start_server(model: str | Path, port: int, folder: Path, *extra: str, ready_within: float = 90.0,
                 kind: str = "transformers", cores: str | None = None) -> subprocess.Popen:
    """A ``kind`` server for ``model`` on 127.0.0.1:``port``, answering; the caller stops it (a test may kill it).
    ``cores`` (e.g. "1" or "0-3"): the CPU cores a vLLM server's threads are bound to, so that replicas on one
    machine do not bind to the same cores (vLLM binds to all of them unless told)."""
    # /v1/models fails unless HF_HUB_CACHE names an existing folder (environment.md)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(folder), "HF_HUB_DISABLE_TELEMETRY": "1",
           "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2"), "VLLM_LOGGING_LEVEL": "WARNING",
           "VLLM_NO_USAGE_STATS": "1", **({"VLLM_CPU_OMP_THREADS_BIND": cores} if cores else {})}
    log_path = folder / f"{kind}-serve-{port}.log"
    with log_path.open("w") as log:
        # a session of its own: stopping or killing the server reaches its workers too (vLLM's engine core)
        server = subprocess.Popen(server_command(kind, model, port, *extra), env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    url, deadline = f"http://127.0.0.1:{port}", time.time() + ready_within
    while True:
        try:
            if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.time() > deadline:
            kill_server(server)
            raise RuntimeError(f"{kind} serve did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.5)


def _signal(server: subprocess.Popen, number: int) -> None:
    """``number`` to the server's session (itself and its workers) where it leads one, else to it alone."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(server.pid) == server.pid:
            os.killpg(server.pid, number)
        else:
            server.send_signal(number)


def kill_server(server: subprocess.Popen) -> None:
    """SIGKILL to the server and every process it started, as a crash would end them."""
    _signal(server, signal.SIGKILL)
    server.wait()


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM to the server and its workers; SIGKILL after 30 s."""
    _signal(server, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    kill_server(server)  # whatever of its workers is left


@contextmanager
def served(kind: str, model: str | Path, *extra: str, ready_within: float = 90.0) -> Iterator[str]:
    """Start a ``kind`` server, wait until it answers, yield its OpenAI base URL, stop it on exit."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(model, port, Path(tmp), *extra, ready_within=ready_within, kind=kind)
        try:
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            stop_server(server)


def transformers_serve(model: str | Path, *extra: str, ready_within: float = 90.0):
    """`transformers serve` on ``model`` (see :func:`served`)."""
    return served("transformers", model, *extra, ready_within=ready_within)
