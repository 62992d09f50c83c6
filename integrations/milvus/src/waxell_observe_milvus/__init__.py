"""waxell-observe capture of Milvus searches.

``waxell_observe.init()`` turns it on (name ``milvus``); :func:`instrument` / :func:`uninstrument`
do the same by hand. Every ``MilvusClient.search`` / ``AsyncMilvusClient.search`` inside a run
becomes one ``retrieval`` span per query in ``data``: the query (a full-text query's text, or the
vector's size), ``limit`` as top-k, the ids and distances of the entities found (what a distance
means follows ``search_params["metric_type"]`` when the call names it), their output fields only
with ``capture_content``. See ``docs/integrations-vector-stores.md``. Importing this package does
not import ``pymilvus``.
"""

from __future__ import annotations

from waxell_observe_milvus._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
