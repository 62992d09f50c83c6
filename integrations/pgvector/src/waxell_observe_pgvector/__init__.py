"""waxell-observe capture of pgvector similarity searches (through psycopg 3).

``waxell_observe.init()`` turns it on (name ``pgvector``, loaded when the program imports
``psycopg``); :func:`instrument` / :func:`uninstrument` do the same by hand. A statement executed by
a psycopg cursor (``Cursor.execute`` / ``AsyncCursor.execute``, so also ``Connection.execute`` and
SQLAlchemy's psycopg dialect) inside a run whose ``ORDER BY`` ranks by a pgvector distance
operator (``<->``, ``<=>``, ``<#>``, ``<+>``, ``<~>``, ``<%>``) becomes one ``retrieval`` span: the
query vector's size, ``LIMIT`` as top-k, the table, the ids of the rows found with their distance
when the statement selects it; the rows' text and other columns only with ``capture_content``. See
``docs/integrations-vector-stores.md``. Importing this package does not import ``psycopg``.
"""

from __future__ import annotations

from waxell_observe_pgvector._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
