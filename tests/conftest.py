"""Shared fixtures: every test gets its own embedded store and a clean configuration.

- ``waxell_db``: (autouse) a fresh SQLite file named by ``WAXELL_DB``; the configuration is
  reset before and after the test, and records are flushed after it.
- ``read_run`` / ``read_runs``: read back what was stored, through the real store.
- ``register_plugin``: register a plugin object for the duration of one test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import waxell_observe
from waxell_observe import execution_region
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
    "WAXELL_EXECUTION_REGION",
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
    # where the tests run (a cloud VM, AWS_REGION set) must not show in the runs' metadata
    monkeypatch.setenv("WAXELL_REGION_DETECT", "off")
    execution_region._reset()
    set_config(None)
    before = _delivery_problems()
    yield db
    waxell_observe.flush_sync(timeout=30)
    set_config(None)
    execution_region._reset()
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

from postgres_cluster import PostgresCluster as _PostgresServer  # noqa: E402 - tests/ is on sys.path


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
