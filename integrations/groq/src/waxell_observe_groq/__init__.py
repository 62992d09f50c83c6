"""waxell-observe auto-instrumentation for the groq Python SDK.

``waxell_observe.init()`` turns it on (name ``groq``) once the program imports ``groq``;
:func:`instrument` / :func:`uninstrument` do the same by hand. Captured: ``chat.completions.create``
(sync, async, streamed) and ``embeddings.create``, one LLM record per call. See
``docs/integrations-providers.md``.

Importing this package does not import ``groq``.
"""

from __future__ import annotations

from waxell_observe_groq._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
