"""How the together SDK's endpoints are read: its chat completions speak the OpenAI format.

Imported only when the SDK's resource modules are (from a post-import hook).
"""

from __future__ import annotations

from together._streaming import AsyncStream, Stream

from waxell_observe.instrumentation.chat_completions import (
    ChatChunkAccumulator,
    chat_endpoint,
    embeddings_endpoint,
)

__all__ = ["CHAT", "EMBEDDINGS", "PROVIDER"]

PROVIDER = "together"

CHAT = chat_endpoint(
    PROVIDER, (Stream, AsyncStream), accumulator=lambda kwargs: ChatChunkAccumulator(include_usage=True)
)
"""``chat.completions.create`` (Together sends a stream's usage on its last chunk, unasked)."""

EMBEDDINGS = embeddings_endpoint(PROVIDER)
"""``embeddings.create``."""
