"""waxell-observe capture of Qdrant searches.

``waxell_observe.init()`` turns it on (name ``qdrant``); :func:`instrument` / :func:`uninstrument`
do the same by hand. Every ``query_points``, ``query_batch_points`` and
``query_points_groups`` call (``QdrantClient`` and ``AsyncQdrantClient``, local or remote) inside a
run becomes one ``retrieval`` span per search: the query (a document's text, or the vector's
size), ``limit`` as top-k, the ids and scores of the points found (their payload only with
``capture_content``). See
``docs/integrations-vector-stores.md``. Importing this package does not import ``qdrant_client``.
"""

from __future__ import annotations

from waxell_observe_qdrant._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
