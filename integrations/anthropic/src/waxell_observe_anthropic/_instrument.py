"""What the Anthropic integration patches, and the switch that turns it on and off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target, async_wrapper, sync_wrapper

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]


def _factory(kind: str) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        from waxell_observe_anthropic import _wrappers  # imports the SDK: only once it is being patched

        if kind == "create":
            return sync_wrapper(_wrappers.MESSAGES, active)
        if kind == "acreate":
            return async_wrapper(_wrappers.MESSAGES, active)
        return _wrappers.stream_wrapper(active, is_async=kind == "astream")

    return make


_MESSAGES = "anthropic.resources.messages"

TARGETS: tuple[Target, ...] = (
    Target(_MESSAGES, "Messages", "create", _factory("create")),
    Target(_MESSAGES, "AsyncMessages", "create", _factory("acreate")),
    Target(_MESSAGES, "Messages", "stream", _factory("stream")),
    Target(_MESSAGES, "AsyncMessages", "stream", _factory("astream")),
)
"""``messages.create`` (sync, async, ``stream=True``) and ``messages.stream()`` (sync, async)."""

INSTRUMENTATION = Instrumentation("anthropic", TARGETS)

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
