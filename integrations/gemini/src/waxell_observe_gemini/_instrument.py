"""What the gemini integration patches, and the switch that turns it on and off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target

__all__ = ["INSTRUMENTATION", "TARGETS", "instrument", "is_instrumented", "uninstrument"]


def _factory(endpoint: str, is_async: bool) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        from waxell_observe_gemini import _wrappers  # imports nothing of the SDK, but only when patching

        wrap = _wrappers.async_wrapper if is_async else _wrappers.sync_wrapper
        return wrap(getattr(_wrappers, endpoint), active)

    return make


_MODELS = "google.genai.models"

TARGETS: tuple[Target, ...] = (
    Target(_MODELS, "Models", "_generate_content", _factory("GENERATE", False)),
    Target(_MODELS, "Models", "_generate_content_stream", _factory("GENERATE_STREAM", False)),
    Target(_MODELS, "Models", "embed_content", _factory("EMBED", False)),
    Target(_MODELS, "AsyncModels", "_generate_content", _factory("GENERATE", True)),
    Target(_MODELS, "AsyncModels", "_generate_content_stream", _factory("GENERATE_STREAM", True)),
    Target(_MODELS, "AsyncModels", "embed_content", _factory("EMBED", True)),
)
"""Every ``generateContent`` / ``streamGenerateContent`` request (``client.models`` and ``client.aio.models``
``generate_content``, ``generate_content_stream``, chats, each round of automatic function calling) and
``embed_content``; a client made with ``vertexai=True`` is recorded as provider ``vertex_ai``."""

INSTRUMENTATION = Instrumentation("gemini", TARGETS, sdk="google.genai")

instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
