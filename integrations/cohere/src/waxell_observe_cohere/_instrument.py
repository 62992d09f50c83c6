"""What the cohere integration patches, and the switch that turns it on and off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target, async_wrapper, sync_wrapper

__all__ = ["INSTRUMENTATION", "TARGETS", "instrument", "is_instrumented", "uninstrument"]


def _factory(endpoint: str, is_async: bool) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        from waxell_observe_cohere import _wrappers  # only once the SDK is being patched

        return (async_wrapper if is_async else sync_wrapper)(getattr(_wrappers, endpoint), active)

    return make


_V2 = "cohere.v2.client"

TARGETS: tuple[Target, ...] = (
    Target(_V2, "V2Client", "chat", _factory("CHAT", False)),
    Target(_V2, "V2Client", "chat_stream", _factory("CHAT_STREAM", False)),
    Target(_V2, "V2Client", "embed", _factory("EMBED", False)),
    Target(_V2, "AsyncV2Client", "chat", _factory("CHAT", True)),
    # An async generator function: calling it returns the generator (no await), so a sync wrapper.
    Target(_V2, "AsyncV2Client", "chat_stream", _factory("CHAT_STREAM", False)),
    Target(_V2, "AsyncV2Client", "embed", _factory("EMBED", True)),
)
"""``chat``, ``chat_stream`` and ``embed`` of the v2 clients (``ClientV2`` / ``AsyncClientV2`` inherit
them, and ``Client.v2`` is one)."""

INSTRUMENTATION = Instrumentation("cohere", TARGETS)

instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
