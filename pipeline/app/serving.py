"""The studio served for a script or a test: ``misalign --db DB app`` on a free port of 127.0.0.1,
waited for until healthy, stopped afterwards.

    with app_server(Path("demo.db")) as url:
        httpx.get(url)
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(db: Path, cwd: Path | None = None, timeout: float = 60) -> Iterator[str]:
    """The app on ``db``, healthy; yields its URL and stops it when the block ends."""
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("misalign")), "--db", str(db), "app", "--port",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).text == "ok":
                    break
            except httpx.TransportError:
                if time.time() > deadline:
                    raise RuntimeError(f"the app did not become healthy in {timeout:.0f} s") from None
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
