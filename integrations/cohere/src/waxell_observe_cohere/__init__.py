"""waxell-observe auto-instrumentation for the Cohere Python SDK (v2 API).

``waxell_observe.init()`` turns it on (name ``cohere``) once the program imports ``cohere``;
:func:`instrument` / :func:`uninstrument` do the same by hand. Captured: ``chat``, ``chat_stream`` and
``embed`` of ``cohere.ClientV2`` and ``cohere.AsyncClientV2`` (and of ``client.v2``), one LLM record per
call. See ``docs/integrations-providers.md``.

Importing this package does not import ``cohere``.
"""

from __future__ import annotations

from waxell_observe_cohere._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
