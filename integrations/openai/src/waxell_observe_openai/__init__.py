"""waxell-observe auto-instrumentation for the OpenAI Python SDK.

``waxell_observe.init()`` turns it on through the plugin hook ``on_instrument`` (name ``openai``);
:func:`instrument` / :func:`uninstrument` do the same by hand. Captured: ``chat.completions.create``
and ``parse`` (sync, async, ``stream=True``, the ``.stream()`` helper), ``responses.create`` and
``parse`` (sync, async, streaming, ``responses.stream()``) and ``embeddings.create``. Every call
becomes one LLM record on the current run (or on the background collector outside a run). See
``docs/integrations-openai-anthropic.md``.

Importing this package does not import ``openai``.
"""

from __future__ import annotations

from waxell_observe_openai._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
