"""waxell-observe auto-instrumentation for the together Python SDK.

``waxell_observe.init()`` turns it on (name ``together``) once the program imports ``together``;
:func:`instrument` / :func:`uninstrument` do the same by hand. Captured: ``chat.completions.create``
(sync, async, streamed) and ``embeddings.create``, one LLM record per call. See
``docs/integrations-providers.md``.

Importing this package does not import ``together``.
"""

from __future__ import annotations

from waxell_observe_together._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
