"""How the groq SDK's endpoints are read: its chat completions speak the OpenAI format.

Imported only when the SDK's resource modules are (from a post-import hook).
"""

from __future__ import annotations

from typing import Any

from groq._streaming import AsyncStream, Stream

from waxell_observe.instrumentation import get
from waxell_observe.instrumentation.chat_completions import (
    ChatChunkAccumulator,
    chat_endpoint,
    embeddings_endpoint,
)

__all__ = ["CHAT", "EMBEDDINGS", "PROVIDER"]

PROVIDER = "groq"


class GroqChunkAccumulator(ChatChunkAccumulator):
    """Groq sends a stream's usage in the last chunk's ``x_groq.usage`` (it has no ``stream_options``)."""

    def __init__(self) -> None:
        super().__init__(include_usage=True)

    def add(self, chunk: Any) -> bool:
        usage = get(chunk, "x_groq", "usage")
        if usage is not None:
            self.usage = usage
        return super().add(chunk)


CHAT = chat_endpoint(PROVIDER, (Stream, AsyncStream), accumulator=lambda kwargs: GroqChunkAccumulator())
"""``chat.completions.create``."""

EMBEDDINGS = embeddings_endpoint(PROVIDER)
"""``embeddings.create``."""
