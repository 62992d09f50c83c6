"""waxell-observe auto-instrumentation for the Ollama Python client.

``waxell_observe.init()`` turns it on (name ``ollama``) once the program imports ``ollama``;
:func:`instrument` / :func:`uninstrument` do the same by hand. Captured: ``chat``, ``generate``,
``embed`` and ``embeddings`` of ``ollama.Client``, ``ollama.AsyncClient`` and the module-level
functions (``stream=True`` included), one LLM record per call with ``prompt_eval_count`` /
``eval_count`` as tokens. See ``docs/integrations-providers.md``.

Importing this package does not import ``ollama``.
"""

from __future__ import annotations

from waxell_observe_ollama._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
