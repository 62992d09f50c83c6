"""What the Anthropic integration patches, and the switch that turns it on and off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe_anthropic._patching import Patcher, Target

__all__ = ["PATCHER", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]


def _factory(kind: str) -> Callable[[], Callable[..., Any]]:
    def make() -> Callable[..., Any]:
        from waxell_observe_anthropic import _wrappers

        active = lambda: PATCHER.active  # noqa: E731
        if kind == "create":
            return _wrappers.create_wrapper(active)
        if kind == "acreate":
            return _wrappers.acreate_wrapper(active)
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

PATCHER = Patcher("anthropic", TARGETS)


def installed() -> bool:
    """True when the ``anthropic`` package can be imported (checked without importing it)."""
    from importlib.util import find_spec

    try:
        return find_spec("anthropic") is not None
    except (ImportError, ValueError):
        return False


def instrument() -> bool:
    """Instrument the Anthropic SDK (now, or when it is imported). False if already instrumented
    or the SDK is not installed."""
    if not installed():
        return False
    return PATCHER.apply()


def uninstrument() -> bool:
    """Restore the SDK's original methods. False if it was not instrumented."""
    return PATCHER.remove()


def is_instrumented() -> bool:
    """True while the instrumentation is on."""
    return PATCHER.active
