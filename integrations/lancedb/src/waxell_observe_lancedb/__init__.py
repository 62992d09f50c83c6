"""waxell-observe capture of LanceDB vector searches.

``waxell_observe.init()`` turns it on (name ``lancedb``); :func:`instrument` / :func:`uninstrument`
do the same by hand. A vector search (``table.search(vector or text)...``) run inside a run with
``to_list()``, ``to_pandas()`` or ``to_arrow()`` becomes one ``retrieval`` span: the query (its
text, or the vector's size), ``limit`` as top-k, the ids (the ``id`` column, else ``_rowid``, else
the position) and ``_distance`` of the rows found (their text and other columns only with
``capture_content``). See ``docs/integrations-vector-stores.md``. Importing this package does not
import ``lancedb``.
"""

from __future__ import annotations

from waxell_observe_lancedb._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
