"""Start and stop a local Argilla: Redis (Debian's ``redis-server``), argilla-server's web app and
its background worker, all on 127.0.0.1, with the SQL search engine; an owner account is created.

argilla-server pins older FastAPI, pydantic and typer than this project, so it lives in a venv of
its own (``MISALIGN_ARGILLA_VENV``, default ``~/.cache/misalign/argilla-venv``), made on first use.

Example (starts Redis, the server and its worker; stops them after the block)::

    with local_argilla(default_home()) as server:
        client = argilla_client(server.url, server.api_key)
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from pipeline.defaults import cache_home
from pipeline.errors import ServiceError

ARGILLA_SERVER = ("argilla-server==2.8.0", "click<8.2")  # its CLI breaks on click 8.2
RUNNER = Path(__file__).with_name("runner.py")
OWNER = "owner"


class LocalArgillaError(ServiceError):
    """The local Argilla could not be set up or started; the message says which part and why."""


@dataclass(frozen=True)
class LocalArgilla:
    url: str
    api_key: str
    owner: str
    password: str
    home: Path
    web: subprocess.Popen = field(repr=False, compare=False)  # the web app's process (tests stop it)


def venv_path() -> Path:
    """argilla-server's own venv: ``MISALIGN_ARGILLA_VENV``, else ~/.cache/misalign/argilla-venv."""
    return Path(os.environ.get("MISALIGN_ARGILLA_VENV", Path.home() / ".cache" / "misalign" / "argilla-venv"))


def install_argilla_server(venv: Path | None = None) -> Path:
    """The venv's python, with argilla-server installed (once)."""
    venv = venv or venv_path()
    python, stamp = venv / "bin" / "python", venv / ".installed"
    if stamp.is_file() and stamp.read_text() == " ".join(ARGILLA_SERVER):
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", *ARGILLA_SERVER], capture_output=True, text=True)
    if done.returncode:
        raise LocalArgillaError(f"installing {' '.join(ARGILLA_SERVER)} into {venv} failed: "
                                f"{(done.stderr.strip().splitlines() or ['no output'])[-1]}")
    stamp.write_text(" ".join(ARGILLA_SERVER))
    return python


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(check, what: str, seconds: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise LocalArgillaError(f"{what} exited with status {process.returncode}")
        try:
            if check():
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.2)
    raise LocalArgillaError(f"{what} did not come up within {seconds:.0f} s")


def _redis_ready(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")


def default_home() -> Path:
    """Where ``misalign argilla serve`` keeps its database and owner credentials: under the studio's cache
    (``$MISALIGN_CACHE/argilla``, else ~/.cache/misalign/argilla), outside any checkout."""
    return cache_home() / "argilla"


def credentials_path(home: Path) -> Path:
    """The owner's password and API key of the local Argilla at ``home`` (owner-only, mode 0600)."""
    return Path(home) / "owner.json"


def credentials(home: Path) -> dict:
    """The owner's password and API key, made at random on a home's first start and kept there, readable by
    its owner alone: each install has its own, and no key is ever shipped.

    >>> import stat, tempfile
    >>> first, second = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    >>> credentials(first)["api_key"] != credentials(second)["api_key"]
    True
    >>> oct(stat.S_IMODE(credentials_path(first).stat().st_mode))
    '0o600'
    """
    path = credentials_path(home)
    if not path.is_file():
        owner = {"password": secrets.token_urlsafe(16), "api_key": f"owner.{secrets.token_hex(16)}"}
        # created owner-only: the key is never readable by others, not even for a moment
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            json.dump(owner, file)
    return json.loads(path.read_text())


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            process.terminate()
    for process in reversed(processes):
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def local_argilla(home: Path, port: int | None = None, log=None, redis_port: int | None = None) -> Iterator[LocalArgilla]:
    """Redis, migrated database, owner account, web app and worker; all stopped on exit (free ports
    where ``port`` or ``redis_port`` is not given)."""
    redis = shutil.which("redis-server")
    if redis is None:
        raise LocalArgillaError("redis-server not found: install Debian's package (apt-get install redis-server)")
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    python = install_argilla_server()
    port, redis_port = port or free_port(), redis_port or free_port()
    env = {**os.environ, "ARGILLA_HOME_PATH": str(home), "ARGILLA_DATABASE_URL": f"sqlite+aiosqlite:///{home / 'argilla.db'}",
           "ARGILLA_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "ARGILLA_SEARCH_ENGINE": "misalign-sql",
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}
    out = log or subprocess.DEVNULL
    processes: list[subprocess.Popen] = []
    try:
        processes.append(subprocess.Popen([redis, "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
                                           "--appendonly", "no", "--dir", str(home)], stdout=out, stderr=out))
        _wait(lambda: _redis_ready(redis_port), "redis-server", 20, processes[-1])
        migrate = subprocess.run([str(python), "-m", "argilla_server", "database", "migrate"], env=env,
                                 capture_output=True, text=True)
        if migrate.returncode:
            raise LocalArgillaError(f"argilla-server database migrate failed: {migrate.stderr.strip()[-300:]}")
        owner = credentials(home)
        created = subprocess.run([str(python), "-m", "argilla_server", "database", "users", "create", "--username", OWNER,
                                  "--first-name", "Owner", "--password", owner["password"], "--role", "owner", "--api-key", owner["api_key"]],
                                 env=env, capture_output=True, text=True)
        if created.returncode and "already exists" not in created.stdout + created.stderr:
            raise LocalArgillaError(f"creating the owner account failed: {(created.stdout + created.stderr).strip()[-300:]}")
        processes.append(subprocess.Popen([str(python), str(RUNNER), "web", "127.0.0.1", str(port)], env=env,
                                          stdout=out, stderr=out))
        url = f"http://127.0.0.1:{port}"
        _wait(lambda: httpx.get(f"{url}/api/v1/status", timeout=2).status_code == 200, "argilla-server", 120,
              processes[-1])
        me = httpx.get(f"{url}/api/v1/me", headers={"X-Argilla-Api-Key": owner["api_key"]}, timeout=10)
        if me.status_code != 200:
            raise LocalArgillaError(f"the owner's API key is refused ({me.status_code}); "
                                    f"{(created.stdout + created.stderr).strip()[-300:]}")
        processes.append(subprocess.Popen([str(python), str(RUNNER), "worker"], env=env, stdout=out, stderr=out))
        yield LocalArgilla(url, owner["api_key"], OWNER, owner["password"], home, processes[1])
    finally:
        _stop(processes)
