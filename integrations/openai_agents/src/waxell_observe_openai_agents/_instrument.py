"""The switch of the Agents SDK integration: one tracing processor, registered once, recording
while the integration is on, and the ``tool.before`` gate around the SDK's function-tool calls
(:mod:`waxell_observe_openai_agents.tools`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

from waxell_observe.instrumentation import Patcher, Target

__all__ = ["NAME", "installed", "instrument", "is_instrumented", "uninstrument"]

logger = logging.getLogger("waxell_observe")

NAME = "openai_agents"

_lock = threading.Lock()
_on = False
_processor: Any = None


def _invoke_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    from waxell_observe_openai_agents.tools import invoke_wrapper

    return invoke_wrapper(active)


TOOL_TARGETS: tuple[Target, ...] = (
    Target("agents.run_internal.tool_execution", "", "_invoke_function_tool_with_metadata", _invoke_wrapper),
    Target("agents.tool", "", "_invoke_function_tool_with_metadata", _invoke_wrapper),
)
"""Where the SDK invokes a function tool: the runner's binding and ``agents.tool``'s own."""

_tools = Patcher(NAME, TOOL_TARGETS)


def installed() -> bool:
    """True when the Agents SDK (``agents``) can be imported."""
    try:
        return find_spec("agents") is not None
    except (ImportError, ValueError):
        return False


def _active() -> bool:
    return _on


def instrument() -> bool:
    """Register our tracing processor (once) and turn it on. False when the SDK is missing."""
    global _on, _processor
    if not installed():
        return False
    import agents

    from waxell_observe_openai_agents.processor import WaxellTracingProcessor

    with _lock:
        if _processor is None:
            _processor = WaxellTracingProcessor(_active)
            agents.add_trace_processor(_processor)
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
    """Turn the processor off (the SDK has no way to remove one). True when it was on."""
    global _on
    with _lock:
        was_on, _on = _on, False
        _tools.remove()
    return was_on


def is_instrumented() -> bool:
    """True while Agents SDK traces are recorded."""
    return _on
