"""Opening the store a CLI command reads (``--db``, else ``WAXELL_DB``, else the default)."""

from __future__ import annotations

import click

from waxell_observe.config import db_url_from, get_config

__all__ = ["open_store", "db_option"]

db_option = click.option(
    "--db",
    "db",
    default=None,
    metavar="PATH|URL",
    help="Store to read: a SQLite path or a postgresql:// URL (default: WAXELL_DB or ~/.waxell/observe.db).",
)


def open_store(db: str | None = None):  # type: ignore[no-untyped-def]
    """The :class:`~waxell_observe.store.Store` named by ``db`` or the configuration."""
    from waxell_observe.pipeline.pipeline import recover
    from waxell_observe.store import get_store

    recover()  # runs that ended programs left journaled land first
    url = db_url_from(db) if db else get_config().db_url
    return get_store(url)
