"""What the ollama integration patches, and the switch that turns it on and off.

Every model call of the client goes through ``Client._request`` / ``AsyncClient._request``: the
methods of a ``Client`` and the module-level ``ollama.chat`` / ``generate`` / ``embed`` (bound to a
default client when ``ollama`` is imported, so patching ``Client.chat`` would miss them) alike.
The wrapper records the model endpoints and lets every other request (pull, list, show) through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target

__all__ = ["INSTRUMENTATION", "TARGETS", "instrument", "is_instrumented", "uninstrument"]


def _factory(is_async: bool) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        from waxell_observe_ollama import _wrappers  # only once the client is being patched

        return (_wrappers.async_request_wrapper if is_async else _wrappers.request_wrapper)(active)

    return make


_CLIENT = "ollama._client"

TARGETS: tuple[Target, ...] = (
    Target(_CLIENT, "Client", "_request", _factory(False)),
    Target(_CLIENT, "AsyncClient", "_request", _factory(True)),
)
"""``/api/chat``, ``/api/generate``, ``/api/embed`` and ``/api/embeddings`` (sync, async, streamed)."""

INSTRUMENTATION = Instrumentation("ollama", TARGETS)

instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
