"""Haystack tool calls pass the ``tool.before`` gate before they run.

``Tool.invoke`` / ``Tool.invoke_async`` (every Haystack tool: ``Tool``, ``@tool`` functions,
``ComponentTool``, MCP tools) ask ``tool.before`` with the tool's name and arguments, inside a run:
a ``block`` raises ``PolicyViolationError`` and the tool never runs (the agent run stops with it,
and the run is marked blocked); a ``redact`` runs the tool with the scrubbed arguments. The tool
call's span is recorded from Haystack's own ``haystack.agent.step.tool`` span
(:mod:`waxell_observe_haystack.spans`), so the refusal fails that span.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from waxell_observe.current import current_context
from waxell_observe.instrumentation import gate_tool_call, recording_enabled

__all__ = ["invoke_async_wrapper", "invoke_wrapper"]


def _gated(instance: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments to run the tool with (``PolicyViolationError`` when refused)."""
    ctx = current_context.get()
    if ctx is None or ctx.run is None:
        return kwargs
    name = str(getattr(instance, "name", "") or type(instance).__name__)
    allowed = gate_tool_call(name, kwargs, ctx=ctx)
    return dict(allowed) if isinstance(allowed, dict) else kwargs


def invoke_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``Tool.invoke``: ``tool.before``, then the tool."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, "haystack"):
            return wrapped(*args, **kwargs)
        return wrapped(*args, **_gated(instance, kwargs))

    return wrapper


def invoke_async_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``Tool.invoke_async``: the same for a tool with an ``async_function`` (a sync tool run from async
    code goes through ``invoke`` in a worker thread, gated there)."""

    def wrapper(
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Coroutine[Any, Any, Any]:
        if not recording_enabled(active, "haystack") or getattr(instance, "async_function", None) is None:
            return wrapped(*args, **kwargs)  # type: ignore[no-any-return]

        async def gated() -> Any:
            return await wrapped(*args, **_gated(instance, kwargs))

        return gated()

    return wrapper
