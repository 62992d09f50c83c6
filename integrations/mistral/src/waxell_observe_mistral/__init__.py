"""waxell-observe auto-instrumentation for the Mistral AI Python SDK (``mistralai``).

``waxell_observe.init()`` turns it on (name ``mistral``) once the program imports ``mistralai``;
:func:`instrument` / :func:`uninstrument` do the same by hand. Captured: ``chat.complete`` /
``complete_async`` / ``stream`` / ``stream_async`` (and ``chat.parse``), the same methods of ``agents``
and ``fim``, and ``embeddings.create`` / ``create_async``, one LLM record per call. See
``docs/integrations-providers.md``.

Importing this package does not import ``mistralai``.
"""

from __future__ import annotations

from waxell_observe_mistral._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
