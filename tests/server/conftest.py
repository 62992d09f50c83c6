"""Fixtures of the server tests: the app over SQLite and over PostgreSQL, and a real server process.

- ``store_url``: parametrized, each test runs on a fresh SQLite file and on a fresh
  PostgreSQL database (``postgres_url`` from the root conftest);
- ``client``: a ``TestClient`` over ``create_app(store_url)`` (local mode);
- ``api``: small helpers speaking the wire protocol and the read API through ``client``;
- ``serve_process``: start ``waxell-observe serve`` in a subprocess on a free 127.0.0.1 port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from waxell_observe.config import db_url_from

OBSERVE = "/api/v1/observe"
READ = "/api/v1/read"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store: a SQLite file, or a PostgreSQL database (SQLAlchemy URL)."""
    if request.param == "sqlite":
        return db_url_from(str(tmp_path / "server.db"))
    return db_url_from(request.getfixturevalue("postgres_url"))


@pytest.fixture
def client(store_url: str) -> Iterator[Any]:
    from fastapi.testclient import TestClient
    from waxell_observe_server import create_app

    with TestClient(create_app(store_url, key_cache_seconds=0), raise_server_exceptions=False) as test_client:
        yield test_client


class Api:
    """The wire protocol and the read API, spoken through an httpx-like client."""

    def __init__(self, http: Any) -> None:
        self.http = http

    def post(self, path: str, body: Any, expect: int = 200) -> dict[str, Any]:
        response = self.http.post(f"{OBSERVE}/{path}", json=body)
        assert response.status_code == expect, (response.status_code, response.text)
        return response.json()

    def start(self, expect: int = 201, **body: Any) -> dict[str, Any]:
        body.setdefault("agent_name", "agent")
        return self.post("runs/start/", body, expect)

    def read(self, path: str, expect: int = 200, **params: Any) -> dict[str, Any]:
        response = self.http.get(f"{READ}/{path}", params=params)
        assert response.status_code == expect, (response.status_code, response.text)
        return response.json()

    def run(self, run_id: str) -> dict[str, Any]:
        return self.read(f"runs/{run_id}/")


@pytest.fixture
def api(client: Any) -> Api:
    return Api(client)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``waxell-observe serve`` in a subprocess (its own process group)."""

    def __init__(
        self,
        db: str,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        log: Path,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.db, self.host, self.log_path, self.extra = db, host, log, extra
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, wait: bool = True) -> ServerProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "waxell-observe"),
                    "serve",
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                    "--db",
                    self.db,
                    "--log-level",
                    "warning",
                    *self.extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server did not come up within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``waxell-observe serve`` processes; all are stopped after the test."""
    started: list[ServerProcess] = []

    def start(db: str, *, wait: bool = True, **kwargs: Any) -> ServerProcess:
        server = ServerProcess(db, log=tmp_path / f"serve-{len(started)}.log", **kwargs)
        started.append(server)
        return server.start(wait=wait)

    yield start
    for server in started:
        server.stop()
