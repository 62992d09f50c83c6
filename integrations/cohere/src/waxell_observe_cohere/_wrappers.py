"""How the cohere SDK's v2 endpoints are guarded, observed and read.

``chat`` answers a ``V2ChatResponse``; ``chat_stream`` is a generator (an async generator on the async
client) of typed events, wrapped so the call is recorded when it ends; ``embed`` takes ``texts``. The
requests carry OpenAI-style ``messages`` and ``tools``.

Imported only when the SDK's ``cohere.v2.client`` module is (from a post-import hook).
"""

from __future__ import annotations

import types
from typing import Any

from waxell_observe.instrumentation import CallObservation, Endpoint
from waxell_observe.instrumentation.chat_completions import observe_chat
from waxell_observe_cohere._reading import CohereEventAccumulator, chat_result, embed_result

__all__ = ["CHAT", "CHAT_STREAM", "EMBED", "PROVIDER"]

PROVIDER = "cohere"


def _observe_stream(endpoint: Endpoint, instance: Any, kwargs: dict[str, Any]) -> CallObservation:
    """``chat_stream``: a streamed call without ``stream=True`` in its arguments."""
    return observe_chat(endpoint, instance, {**kwargs, "stream": True})


CHAT = Endpoint(PROVIDER, observe_chat, chat_result, operation="chat")
"""``chat`` of ``ClientV2`` / ``AsyncClientV2`` (``client.v2.chat`` too)."""

CHAT_STREAM = Endpoint(
    PROVIDER,
    _observe_stream,
    chat_result,
    operation="chat",
    accumulator=lambda kwargs: CohereEventAccumulator(),
    stream_types=(types.GeneratorType, types.AsyncGeneratorType),
)
"""``chat_stream``: the SDK sends the request when the first event is asked for."""

EMBED = Endpoint(
    PROVIDER,
    observe_chat,
    embed_result,
    operation="embeddings",
    messages_key="texts",
    conversational=False,
    injection_scan=False,
)
"""``embed`` (v2: ``model``, ``texts``, ``input_type``)."""
