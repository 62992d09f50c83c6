"""What the OpenAI integration patches, and the switch that turns it on and off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe_openai._patching import Patcher, Target

__all__ = ["PATCHER", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]


def _factory(operation: str, is_async: bool) -> Callable[[], Callable[..., Any]]:
    def make() -> Callable[..., Any]:
        from waxell_observe_openai import _wrappers

        op = getattr(_wrappers, operation)
        build = _wrappers.async_wrapper if is_async else _wrappers.sync_wrapper
        return build(op, lambda: PATCHER.active)

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

PATCHER = Patcher("openai", TARGETS)


def installed() -> bool:
    """True when the ``openai`` package can be imported (checked without importing it)."""
    from importlib.util import find_spec

    try:
        return find_spec("openai") is not None
    except (ImportError, ValueError):
        return False


def instrument() -> bool:
    """Instrument the OpenAI SDK (now, or when it is imported). False if already instrumented
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
