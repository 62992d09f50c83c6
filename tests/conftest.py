"""Shared fixtures: every test gets its own embedded store and a clean configuration.

- ``waxell_db``: (autouse) a fresh SQLite file named by ``WAXELL_DB``; the configuration is
  reset before and after the test, and records are flushed after it.
- ``read_run`` / ``read_runs``: read back what was stored, through the real store.
- ``register_plugin``: register a plugin object for the duration of one test.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import waxell_observe
from waxell_observe.config import set_config
from waxell_observe.plugins import plugin_manager

_ENV_TO_CLEAR = (
    "WAXELL_API_URL",
    "WAXELL_API_KEY",
    "WAXELL_OBSERVE",
    "WAXELL_DEBUG",
    "WAXELL_CAPTURE_CONTENT",
    "WAXELL_DISABLE_PLUGINS",
    "WAXELL_PROMPT_GUARD",
    "WAXELL_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "WAXELL_POLICY_FAIL_CLOSED",
)


@pytest.fixture(autouse=True)
def waxell_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Path]:
    db = tmp_path / "observe.db"
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WAXELL_DB", str(db))
    monkeypatch.setenv("WAXELL_CONFIG_FILE", str(tmp_path / "no-such-config"))
    monkeypatch.setenv("WAXELL_JOURNAL_DIR", str(tmp_path / "journal"))
    set_config(None)
    before = _delivery_problems()
    yield db
    waxell_observe.flush_sync(timeout=30)
    set_config(None)
    after = _delivery_problems()
    if after != before and request.node.get_closest_marker("delivery_problems") is None:
        pytest.fail(
            f"the pipeline dropped records or met delivery errors during this test: {before} -> {after} "
            "(mark the test with @pytest.mark.delivery_problems if it causes them on purpose)"
        )


def _delivery_problems() -> tuple[int, ...]:
    """(records dropped, records not journaled, delivery errors) of this process's pipelines so far."""
    from waxell_observe.pipeline import pipeline as pipeline_module

    current = pipeline_module.existing()
    now = current.problems() if current is not None else (0, 0, 0)
    return tuple(a + b for a, b in zip(now, pipeline_module.retired_problems, strict=True))


def _url(db: Path) -> str:
    return f"sqlite:///{db}"


@pytest.fixture
def read_run(waxell_db: Path) -> Callable[[str], dict[str, Any]]:
    """Flush, then return one stored run (with all its records) in ``show --json`` shape."""
    from waxell_observe.store import get_store
    from waxell_observe.store.reader import get_run

    def read(run_id: str) -> dict[str, Any]:
        report = waxell_observe.flush_sync(timeout=30)
        assert report.pending == 0, report
        with get_store(_url(waxell_db)).read() as conn:
            run = get_run(conn, run_id)
        assert run is not None, f"run {run_id} is not in the store"
        return run

    return read


@pytest.fixture
def read_runs(waxell_db: Path) -> Callable[..., list[dict[str, Any]]]:
    """Flush, then list stored runs (newest first) in ``runs --json`` shape."""
    from waxell_observe.store import get_store
    from waxell_observe.store.reader import RunFilter, list_runs

    def read(**filters: Any) -> list[dict[str, Any]]:
        waxell_observe.flush_sync(timeout=30)
        with get_store(_url(waxell_db)).read() as conn:
            return list_runs(conn, RunFilter(**filters), limit=10_000)

    return read


@pytest.fixture
def register_plugin() -> Iterator[Callable[[object], object]]:
    """Register plugin objects for one test; they are unregistered afterwards."""
    registered: list[object] = []

    def register(plugin: object, name: str | None = None) -> object:
        plugin_manager().register(plugin, name=name)
        registered.append(plugin)
        return plugin

    yield register
    for plugin in registered:
        if plugin_manager().is_registered(plugin):
            plugin_manager().unregister(plugin)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("WAXELL_TEST_ARTIFACTS", str(Path(__file__).parent.parent / "test-artifacts"))
    # Subprocesses that drop every WAXELL_* variable still journal under a throwaway data directory,
    # never under the user's own (where another process of the user could adopt the journals).
    import tempfile

    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="waxell-tests-data-")


# -- PostgreSQL (a throwaway server for the whole session, a fresh database per test) ---------

_PG_ENV_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) are needed for the postgres tests; "
    "install them (Debian: `apt-get install postgresql`) or put them on PATH"
)


def _pg_bindir() -> Path:
    import glob
    import shutil

    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    pytest.fail(_PG_ENV_HINT, pytrace=False)


class _PostgresServer:
    """A PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only."""

    def __init__(self, bindir: Path | None = None) -> None:
        """``bindir``: where initdb, pg_ctl and postgres are (default: the system's PostgreSQL)."""
        import shutil
        import socket
        import subprocess
        import tempfile

        self.bindir = bindir or _pg_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="waxell-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._prefix: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root: run the cluster as `postgres`
            if shutil.which("runuser") is None:
                pytest.fail(
                    "running as root needs `runuser` to start PostgreSQL as user postgres", pytrace=False
                )
            self._prefix = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        try:
            self._run(
                "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
            )
            self._run(
                "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "60", "start"
            )
        except subprocess.CalledProcessError as exc:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            shutil.rmtree(self.root, ignore_errors=True)
            pytest.fail(
                f"could not start PostgreSQL: {exc}\n{exc.stdout}\n{exc.stderr}\n{log}", pytrace=False
            )
        self._counter = 0

    def _run(self, tool: str, *args: str) -> None:
        import subprocess

        subprocess.run(
            [*self._prefix, str(self.bindir / tool), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(statement)

    def create_database(self) -> str:
        self._counter += 1
        name = f"waxell_test_{os.getpid()}_{self._counter}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        import shutil
        import subprocess

        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[_PostgresServer]:
    """A throwaway PostgreSQL server (started once per test session, stopped at its end).

    Fails (does not skip) with an install hint when PostgreSQL is not installed.
    """
    server = _PostgresServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: _PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, as ``postgresql://user@127.0.0.1:port/db``.

    That is the form users give to ``--db`` / ``WAXELL_DB``; ``waxell_observe.config.db_url_from``
    turns it into the SQLAlchemy URL (``postgresql+psycopg://...``). Dropped after the test.
    """
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)
