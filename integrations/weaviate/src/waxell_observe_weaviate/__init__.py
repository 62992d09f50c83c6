"""waxell-observe capture of Weaviate collection queries.

``waxell_observe.init()`` turns it on (name ``weaviate``); :func:`instrument` / :func:`uninstrument`
do the same by hand. Every ``near_vector``, ``near_text``, ``near_object``, ``near_image``,
``near_media``, ``hybrid``, ``bm25`` and ``fetch_objects`` query of a collection
(``collection.query.*`` and ``collection.generate.*``, sync and async clients) inside a run becomes
one ``retrieval`` span: the query (its text, or the vector's size), ``limit`` as top-k, the uuids of
the objects found with their distances or scores when the query asks for them
(``return_metadata``), and their properties only with ``capture_content``. See
``docs/integrations-vector-stores.md``. Importing this package does not import ``weaviate``.
"""

from __future__ import annotations

from waxell_observe_weaviate._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
