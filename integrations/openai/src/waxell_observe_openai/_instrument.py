"""What the OpenAI integration patches, and the switch that turns it on and off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target, async_wrapper, sync_wrapper

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]


def _factory(endpoint: str, is_async: bool) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        from waxell_observe_openai import _wrappers  # imports the SDK: only once it is being patched

        return (async_wrapper if is_async else sync_wrapper)(getattr(_wrappers, endpoint), active)

    return make


_CHAT = "openai.resources.chat.completions"
_RESPONSES = "openai.resources.responses"
_EMBEDDINGS = "openai.resources.embeddings"

TARGETS: tuple[Target, ...] = (
    Target(_CHAT, "Completions", "create", _factory("CHAT", False)),
    Target(_CHAT, "AsyncCompletions", "create", _factory("CHAT", True)),
    Target(_CHAT, "Completions", "parse", _factory("CHAT", False)),
    Target(_CHAT, "AsyncCompletions", "parse", _factory("CHAT", True)),
    Target(_RESPONSES, "Responses", "create", _factory("RESPONSES", False)),
    Target(_RESPONSES, "AsyncResponses", "create", _factory("RESPONSES", True)),
    Target(_RESPONSES, "Responses", "parse", _factory("RESPONSES", False)),
    Target(_RESPONSES, "AsyncResponses", "parse", _factory("RESPONSES", True)),
    Target(_EMBEDDINGS, "Embeddings", "create", _factory("EMBEDDINGS", False)),
    Target(_EMBEDDINGS, "AsyncEmbeddings", "create", _factory("EMBEDDINGS", True)),
)
"""``chat.completions.create/parse`` (the ``.stream()`` helpers call ``create``),
``responses.create/parse`` (``responses.stream()`` calls ``create``) and ``embeddings.create``,
sync and async."""

INSTRUMENTATION = Instrumentation("openai", TARGETS)

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
