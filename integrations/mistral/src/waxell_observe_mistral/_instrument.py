"""What the mistral integration patches, and the switch that turns it on and off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target, async_wrapper, sync_wrapper

__all__ = ["INSTRUMENTATION", "TARGETS", "instrument", "is_instrumented", "uninstrument"]


def _factory(endpoint: str, is_async: bool) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        from waxell_observe_mistral import _wrappers  # imports the SDK: only once it is being patched

        return (async_wrapper if is_async else sync_wrapper)(getattr(_wrappers, endpoint), active)

    return make


def _targets(package: str) -> tuple[Target, ...]:
    """The methods of one SDK layout (``mistralai.client`` from 2.x, ``mistralai`` in 1.x)."""
    resources = (
        ("chat", "Chat", "CHAT", "CHAT_STREAM"),
        ("agents", "Agents", "CHAT", "CHAT_STREAM"),
        ("fim", "Fim", "FIM", "FIM_STREAM"),
    )
    targets: list[Target] = []
    for module, cls, complete, stream in resources:
        targets += [
            Target(f"{package}.{module}", cls, "complete", _factory(complete, False)),
            Target(f"{package}.{module}", cls, "complete_async", _factory(complete, True)),
            Target(f"{package}.{module}", cls, "stream", _factory(stream, False)),
            Target(f"{package}.{module}", cls, "stream_async", _factory(stream, True)),
        ]
    targets += [
        Target(f"{package}.embeddings", "Embeddings", "create", _factory("EMBEDDINGS", False)),
        Target(f"{package}.embeddings", "Embeddings", "create_async", _factory("EMBEDDINGS", True)),
    ]
    return tuple(targets)


TARGETS: tuple[Target, ...] = _targets("mistralai.client") + _targets("mistralai")
"""``chat``, ``agents`` and ``fim`` ``complete`` / ``complete_async`` / ``stream`` / ``stream_async``, and
``embeddings.create`` / ``create_async``; for both SDK layouts (a module that the installed version
does not have is simply never imported)."""

INSTRUMENTATION = Instrumentation("mistral", TARGETS, sdk="mistralai")

instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
