"""waxell-observe capture of Chroma queries.

``waxell_observe.init()`` turns it on (name ``chroma``); :func:`instrument` / :func:`uninstrument`
do the same by hand. Every ``Collection.query`` (sync and async) inside a run becomes one
``retrieval`` span per query: the query text, ``n_results`` as top-k, the ids and distances of the
documents found (their text and metadata only with ``capture_content``). See
``docs/integrations-vector-stores.md``. Importing this package does not import ``chromadb``.
"""

from __future__ import annotations

from waxell_observe_chroma._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
