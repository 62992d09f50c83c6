"""Fixtures of the governance tests: a store on SQLite (the test's ``WAXELL_DB``) or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from waxell_observe.config import db_url_from
from waxell_observe.governance import local_plugin


@pytest.fixture(autouse=True)
def _fresh_deciders() -> Iterator[None]:
    """Each test starts with no cached decider and the real clock."""
    local_plugin.forget_deciders()
    local_plugin.set_clock(None)
    yield
    local_plugin.set_clock(None)
    local_plugin.forget_deciders()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, waxell_db: Path) -> str:
    """A SQLAlchemy URL of an empty store: the test's SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return db_url_from(str(waxell_db))
    return db_url_from(request.getfixturevalue("postgres_url"))
