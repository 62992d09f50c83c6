"""The store: runs and their records in SQLite (default) or PostgreSQL.

One module used by the embedded sink and by the server alike (DESIGN.md: one store, one
engine). Importing it imports SQLAlchemy, so the SDK only imports it on its background
worker, never from ``import waxell_observe``.
"""

from __future__ import annotations

from waxell_observe.store.database import Store, get_store

__all__ = ["Store", "get_store"]
