"""What the groq integration patches, and the switch that turns it on and off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target, async_wrapper, sync_wrapper

__all__ = ["INSTRUMENTATION", "TARGETS", "instrument", "is_instrumented", "uninstrument"]


def _factory(endpoint: str, is_async: bool) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        from waxell_observe_groq import _wrappers  # imports the SDK: only once it is being patched

        return (async_wrapper if is_async else sync_wrapper)(getattr(_wrappers, endpoint), active)

    return make


_CHAT = "groq.resources.chat.completions"
_EMBEDDINGS = "groq.resources.embeddings"

TARGETS: tuple[Target, ...] = (
    Target(_CHAT, "Completions", "create", _factory("CHAT", False)),
    Target(_CHAT, "AsyncCompletions", "create", _factory("CHAT", True)),
    Target(_EMBEDDINGS, "Embeddings", "create", _factory("EMBEDDINGS", False)),
    Target(_EMBEDDINGS, "AsyncEmbeddings", "create", _factory("EMBEDDINGS", True)),
)
"""``chat.completions.create`` (sync, async, ``stream=True``) and ``embeddings.create``."""

INSTRUMENTATION = Instrumentation("groq", TARGETS)

instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
