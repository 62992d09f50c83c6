"""What the DSPy integration patches, and its switch: our callback among DSPy's active callbacks
(``Settings.get("callbacks")`` answers the program's callbacks plus ours, so ``dspy.configure(
callbacks=[...])`` and ``dspy.context(...)`` never drop it), the tool calls, and the ``llm.before``
gate of the LM calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target
from waxell_observe_dspy.gates import lm_gate_wrapper
from waxell_observe_dspy.tools import tool_wrapper

__all__ = [
    "INSTRUMENTATION",
    "TARGETS",
    "callback",
    "installed",
    "instrument",
    "is_instrumented",
    "uninstrument",
]

_callback: Any = None


def callback() -> Any:
    """Our ``BaseCallback`` (made once, when DSPy is patched)."""
    global _callback
    if _callback is None:
        from waxell_observe_dspy.callback import WaxellDSPyCallback

        _callback = WaxellDSPyCallback()
    return _callback


def _settings_get(active: Callable[[], bool]) -> Callable[..., Any]:
    ours = callback()

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        value = wrapped(*args, **kwargs)
        key = args[0] if args else kwargs.get("key")
        if key == "callbacks" and active() and isinstance(value, list) and ours not in value:
            return [*value, ours]
        return value

    return wrapper


TARGETS: tuple[Target, ...] = (
    Target("dspy.dsp.utils.settings", "Settings", "get", _settings_get),
    Target("dspy.adapters.types.tool", "Tool", "__call__", tool_wrapper(False)),
    Target("dspy.adapters.types.tool", "Tool", "acall", tool_wrapper(True)),
    Target("dspy.clients.base_lm", "BaseLM", "__call__", lm_gate_wrapper(False)),
    Target("dspy.clients.base_lm", "BaseLM", "acall", lm_gate_wrapper(True)),
)

INSTRUMENTATION = Instrumentation("dspy", TARGETS)

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
