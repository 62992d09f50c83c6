"""The switch of the Pydantic AI integration: Pydantic AI's own OpenTelemetry instrumentation,
pointed at a provider whose only processor is the in-process bridge, and the ``tool.before`` gate
around the tool calls (:mod:`waxell_observe_pydantic_ai.tools`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

from waxell_observe.instrumentation import Patcher, Target

__all__ = ["NAME", "installed", "instrument", "is_instrumented", "uninstrument"]

logger = logging.getLogger("waxell_observe")

NAME = "pydantic_ai"

_lock = threading.Lock()
_on = False
_settings: Any = None
"""Our ``InstrumentationSettings`` (made once; its provider lives as long as the process)."""


def _raw_execute_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    from waxell_observe_pydantic_ai.tools import raw_execute_wrapper

    return raw_execute_wrapper(active)


TOOL_TARGETS: tuple[Target, ...] = (
    Target("pydantic_ai.tool_manager", "ToolManager", "_raw_execute", _raw_execute_wrapper),
)
"""Where Pydantic AI runs a tool whose arguments are validated."""

_tools = Patcher(NAME, TOOL_TARGETS)


def installed() -> bool:
    """True when Pydantic AI (``pydantic_ai``) can be imported."""
    try:
        return find_spec("pydantic_ai") is not None
    except (ImportError, ValueError):
        return False


def _active() -> bool:
    return _on


def instrument() -> bool:
    """Instrument every agent that has no instrumentation of its own (``Agent.instrument_all``)
    with a tracer provider that feeds the bridge. When the program already instrumented Pydantic
    AI itself (``Agent.instrument_all(...)``, Logfire), its settings stay: its spans reach the run
    through the ``otel_bridge`` integration on the global provider instead. False when Pydantic AI
    is missing."""
    global _on, _settings
    if not installed():
        return False
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from waxell_observe_otel_bridge import private_tracer_provider

    with _lock:
        if _settings is None:
            _settings = InstrumentationSettings(tracer_provider=private_tracer_provider(_active))
        current = Agent._instrument_default
        if current is False or current is _settings:
            Agent.instrument_all(_settings)
        _on = True
        _tools.apply()
        for target in _tools.missing():
            logger.warning(
                "waxell-observe: %s has no %s in this version: its tools are NOT gated at tool.before",
                NAME,
                target,
            )
    return True


def uninstrument() -> bool:
    """Take our instrumentation off (the program's own stays). True when it was on."""
    global _on
    with _lock:
        was_on, _on = _on, False
        _tools.remove()
        if was_on:
            from pydantic_ai import Agent

            if Agent._instrument_default is _settings:
                Agent.instrument_all(False)
    return was_on


def is_instrumented() -> bool:
    """True while Pydantic AI agents are recorded through our instrumentation."""
    return _on
