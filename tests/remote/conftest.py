"""Fixtures of the remote-delivery tests: stub control planes, a clean delivery engine per test,
and the real ``waxell-observe serve`` as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from remote_stubs import HungServer, ProtocolStub, free_port, start_patiently

import waxell_observe
from waxell_observe import WaxellObserveClient
from waxell_observe.governance import breaker
from waxell_observe.governance import remote_decider as remote_sink
from waxell_observe.pipeline import pipeline as pipeline_module
from waxell_observe.plugins import reset_plugin_manager


def _reset_engine() -> None:
    pipeline_module.reset(timeout=0.2)
    breaker.reset_breakers()
    for client in remote_sink._policy_clients.values():
        client.close_sync()
    remote_sink._policy_clients.clear()
    remote_sink._warned_policy.clear()


@pytest.fixture(autouse=True)
def clean_remote_engine(waxell_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no delivery engine and leaves none behind (nothing pending).

    The OpenTelemetry plugin is disabled here: in remote mode it waits for the control plane
    to name an OTLP endpoint, and these tests make the control plane fail on purpose.
    """
    monkeypatch.setenv("WAXELL_DISABLE_PLUGINS", "otel")
    reset_plugin_manager()
    _reset_engine()
    yield
    _reset_engine()
    monkeypatch.delenv("WAXELL_DISABLE_PLUGINS")
    reset_plugin_manager()


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """The process's pipeline with test-friendly retry settings (short backoffs)."""
    from waxell_observe.pipeline import drainer

    def make(*, base_backoff: float = 0.05, max_backoff: float = 0.5) -> Any:
        monkeypatch.setattr(drainer, "BASE_BACKOFF", base_backoff)
        monkeypatch.setattr(drainer, "MAX_BACKOFF", max_backoff)
        monkeypatch.setattr(drainer, "SLOW_MAX_BACKOFF", max_backoff)
        return pipeline_module.pipeline()

    return make


@pytest.fixture
def stub() -> Iterator[ProtocolStub]:
    server = ProtocolStub()
    yield server
    if not server.rules:
        # Deliver what the test left in flight before the stub goes away: closing it under a
        # drainer that is still talking to it is a delivery error the test did not cause.
        waxell_observe.flush_sync(timeout=10)
    server.close()


@pytest.fixture
def hung() -> Iterator[HungServer]:
    server = HungServer()
    yield server
    server.close()


@pytest.fixture
def remote(stub: ProtocolStub) -> ProtocolStub:
    """Remote mode against the stub (no key)."""
    WaxellObserveClient.configure(api_url=stub.url, api_key="")
    return stub


# -- the real server ---------------------------------------------------------------------------


class ServerProcess:
    """``waxell-observe serve`` on a free port over ``db``; restartable on the same port."""

    def __init__(self, db: str, log: Path) -> None:
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
        with open(self.log, "ab") as handle:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from waxell_observe.cli import main; main()", "serve", "--port",
                 str(self.port), "--db", self.db, "--log-level", "warning"],
                stdout=handle, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not come up: {self.log.read_text(errors='replace')}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def read_run(self, run_id: str) -> dict[str, Any]:
        reply = httpx.get(f"{self.url}/api/v1/read/runs/{run_id}/", timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def list_runs(self, **params: Any) -> dict[str, Any]:
        reply = httpx.get(f"{self.url}/api/v1/read/runs/", params={"limit": 500, **params}, timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def real_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The real server (one per test module and store kind): over a SQLite file, or over a
    fresh PostgreSQL database. Tests share it, so each uses its own agent names."""
    root = tmp_path_factory.mktemp("server")
    database = ""
    if request.param == "sqlite":
        db = str(root / "server.db")
    else:
        postgres = request.getfixturevalue("postgres_server")
        database = postgres.create_database()
        db = postgres.url(database)
    server = ServerProcess(db, root / "server.log")
    server.start()
    yield server
    server.stop()
    if database:
        request.getfixturevalue("postgres_server").drop_database(database)


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Like ``real_server``, but one per test session (per xdist worker) and store kind, shared by
    every module that asks for it: starting the server is the costly part of these tests. Tests
    keep apart by their own agent names and run ids; a test that stops or kills it starts it
    again (same port) before it ends."""
    root = tmp_path_factory.mktemp("shared-server")
    database = ""
    if request.param == "sqlite":
        db = str(root / "server.db")
    else:
        postgres = request.getfixturevalue("postgres_server")
        database = postgres.create_database()
        db = postgres.url(database)
    server = ServerProcess(db, root / "server.log")
    start_patiently(server)
    yield server
    server.stop()
    if database:
        request.getfixturevalue("postgres_server").drop_database(database)


@pytest.fixture
def hold_drainer() -> Callable[[Any], Any]:
    """``with hold_drainer(pipeline): ...`` — the drainer delivers nothing inside the block (its
    cycles are skipped), so what is recorded there goes out in one batch afterwards: tests
    that count requests get the same requests every time."""
    import contextlib

    @contextlib.contextmanager
    def hold(pipeline: Any) -> Iterator[None]:
        drainer = pipeline.drainer
        drainer.cycle = lambda: False
        try:
            yield
        finally:
            del drainer.cycle
            drainer.wake()

    return hold
