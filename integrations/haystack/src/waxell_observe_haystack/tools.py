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
from waxell_observe.instrumentation import gate_framework_tool, recording_enabled, release

__all__ = ["invoke_async_wrapper", "invoke_wrapper"]


def _gated(instance: Any, kwargs: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The arguments to run the tool with (``PolicyViolationError`` when refused), and the hold of
    ``tool.before`` to release once it ran (an instrumented MCP client the tool calls asks no more)."""
    ctx = current_context.get()
    if ctx is None or ctx.run is None:
        return kwargs, None
    name = str(getattr(instance, "name", "") or type(instance).__name__)
    allowed, made = gate_framework_tool(name, kwargs, ctx=ctx)
    return (dict(allowed) if isinstance(allowed, dict) else kwargs), made


def invoke_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``Tool.invoke``: ``tool.before``, then the tool."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, "haystack"):
            return wrapped(*args, **kwargs)
        allowed, made = _gated(instance, kwargs)
        try:
            return wrapped(*args, **allowed)
        finally:
            release(made)

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
            allowed, made = _gated(instance, kwargs)
            try:
                return await wrapped(*args, **allowed)
            finally:
                release(made)

        return gated()

    return wrapper
