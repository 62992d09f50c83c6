"""waxell-observe auto-instrumentation for LiteLLM.

``waxell_observe.init()`` turns it on (name ``litellm``) once the program imports ``litellm``;
:func:`instrument` / :func:`uninstrument` do the same by hand. Captured: ``litellm.completion`` /
``acompletion`` (streamed or not) and ``embedding`` / ``aembedding``: one LLM record per call, its
provider the one LiteLLM routes the model to (``anthropic/claude-...`` -> ``anthropic``). A provider
SDK LiteLLM calls underneath (the OpenAI SDK for Azure, say) records nothing of its own for it. See
``docs/integrations-providers.md``.

Importing this package does not import ``litellm``.
"""

from __future__ import annotations

from waxell_observe_litellm._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
