"""What the litellm integration patches, and the switch that turns it on and off.

LiteLLM's public calls are module-level functions (``litellm.completion(...)``): the targets replace
those attributes of the ``litellm`` module, so every call made through the module (the user's,
a ``litellm.Router``'s) is recorded once, whichever provider LiteLLM routes it to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target

__all__ = ["INSTRUMENTATION", "TARGETS", "instrument", "is_instrumented", "uninstrument"]


def _factory(endpoint: str, is_async: bool) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        from waxell_observe_litellm import _wrappers  # imports litellm: only once it is being patched

        make_wrapper = _wrappers.async_call_wrapper if is_async else _wrappers.call_wrapper
        return make_wrapper(getattr(_wrappers, endpoint), active)

    return make


TARGETS: tuple[Target, ...] = (
    Target("litellm", "", "completion", _factory("CHAT", False)),
    Target("litellm", "", "acompletion", _factory("ASYNC_CHAT", True)),
    Target("litellm", "", "embedding", _factory("EMBEDDINGS", False)),
    Target("litellm", "", "aembedding", _factory("EMBEDDINGS", True)),
)
"""``litellm.completion`` / ``acompletion`` (``stream=True`` too) and ``embedding`` / ``aembedding``."""

INSTRUMENTATION = Instrumentation("litellm", TARGETS)

instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
