"""Fixtures of the governance tests: a store on SQLite (the test's ``WAXELL_DB``) or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from waxell_observe.config import db_url_from
from waxell_observe.governance import embedded_decider


@pytest.fixture(autouse=True)
def _fresh_deciders() -> Iterator[None]:
    """Each test starts with no cached decider and the real clock."""
    embedded_decider.forget_deciders()
    embedded_decider.set_clock(None)
    yield
    embedded_decider.set_clock(None)
    embedded_decider.forget_deciders()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, waxell_db: Path) -> str:
    """A SQLAlchemy URL of an empty store: the test's SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return db_url_from(str(waxell_db))
    return db_url_from(request.getfixturevalue("postgres_url"))
