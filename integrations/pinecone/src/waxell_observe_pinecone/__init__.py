"""waxell-observe capture of Pinecone queries.

``waxell_observe.init()`` turns it on (name ``pinecone``); :func:`instrument` / :func:`uninstrument`
do the same by hand. Every ``Index.query`` / ``AsyncIndex.query`` inside a run becomes one
``retrieval`` span: the query (the vector's size, or the id of the stored record it searches by),
``top_k``, the namespace as collection, the ids and scores of the matches (their metadata only
with ``capture_content``) and the read units Pinecone reports. See
``docs/integrations-vector-stores.md``. Importing this package does not import ``pinecone``.
"""

from __future__ import annotations

from waxell_observe_pinecone._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
