"""DSPy tools: ``Tool.__call__`` and ``Tool.acall`` pass the ``tool.before`` gate (a ``block``
raises ``PolicyViolationError`` and the tool does not run; ``ReAct`` hands the refusal to the model
as the tool's error) and become ``tool`` spans (input: the arguments; output: the result; a raised
exception fails the span and is re-raised unchanged)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from waxell_observe.current import current_context
from waxell_observe.instrumentation import gate_framework_tool, recording_enabled, release

__all__ = ["tool_wrapper"]

logger = logging.getLogger("waxell_observe")


def _open(instance: Any, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any], Any]:
    """``(run, span handle, tool.before hold)`` of a tool call about to run, after its gate (which may
    raise); the hold (an instrumented MCP client the tool calls asks no more) ends when the tool did."""
    from waxell_observe_dspy.callback import FRAMEWORK, jsonable

    ctx = current_context.get()
    if ctx is None or ctx.run is None:
        return None, {}, None
    name = str(getattr(instance, "name", "") or type(instance).__name__)
    handle: dict[str, Any] = {}
    try:
        handle = ctx.enter_span(
            name,
            kind="tool",
            attributes={"framework": FRAMEWORK, "tool_type": "function"},
            input_data=jsonable(kwargs),
        )
    except Exception:
        logger.exception("waxell-observe: could not record the start of DSPy tool %r", name)
    try:
        _, made = gate_framework_tool(name, dict(kwargs), ctx=ctx)
    except BaseException as exc:
        if handle:
            ctx.exit_span(handle, exc=exc)
        raise
    return ctx, handle, made


def _close(ctx: Any, handle: dict[str, Any], result: Any = None, exc: BaseException | None = None) -> None:
    from waxell_observe_dspy.callback import jsonable

    if ctx is None or not handle:
        return
    try:
        ctx.exit_span(handle, output_data=None if exc else {"output": jsonable(result)}, exc=exc)
    except Exception:
        logger.exception("waxell-observe: could not record a DSPy tool")


def tool_wrapper(is_async: bool) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    """The wrapper factory of ``Tool.acall`` (``is_async``) or ``Tool.__call__``."""

    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if not recording_enabled(active, "dspy"):
                return wrapped(*args, **kwargs)
            ctx, handle, made = _open(instance, kwargs)
            try:
                result = wrapped(*args, **kwargs)
            except BaseException as exc:
                _close(ctx, handle, exc=exc)
                raise
            finally:
                release(made)
            _close(ctx, handle, result)
            return result

        async def async_wrapper(
            wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any:
            if not recording_enabled(active, "dspy"):
                return await wrapped(*args, **kwargs)
            ctx, handle, made = _open(instance, kwargs)
            try:
                result = await wrapped(*args, **kwargs)
            except BaseException as exc:
                _close(ctx, handle, exc=exc)
                raise
            finally:
                release(made)
            _close(ctx, handle, result)
            return result

        return async_wrapper if is_async else wrapper

    return make
