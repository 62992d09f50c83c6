"""waxell-observe auto-instrumentation for the Anthropic Python SDK.

``waxell_observe.init()`` turns it on through the plugin hook ``on_instrument`` (name
``anthropic``); :func:`instrument` / :func:`uninstrument` do the same by hand. Captured:
``messages.create`` (sync, async, ``stream=True``) and ``messages.stream()`` (sync, async). Every
call becomes one LLM record on the current run (or on the background collector outside a run).
See ``docs/integrations-openai-anthropic.md``.

Importing this package does not import ``anthropic``.
"""

from __future__ import annotations

from waxell_observe_anthropic._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
