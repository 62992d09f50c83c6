"""Tool calls of CrewAI: the ``tool.before`` gate, then a ``tool`` span.

CrewAI runs a tool by one of two doors, depending on whether the model calls functions natively:
``BaseTool.run`` / ``arun`` (``Tool.run`` / ``arun`` for ``@tool`` functions) for native function
calls, ``CrewStructuredTool.invoke`` / ``ainvoke`` for the text (ReAct) protocol. Both are wrapped:

* the ``tool.before`` gate is asked first; a ``block`` raises ``PolicyViolationError`` and the tool
  does not run. CrewAI catches the error like any tool error and hands its message to the model
  (``Error executing tool: ...``); the run is marked blocked. A ``redact`` runs the tool with the
  scrubbed arguments;
* a ``tool`` span named by the tool's name (attributes ``framework``, ``tool_type`` = ``function``;
  input: the arguments; output: the result; an exception marks it failed and is re-raised unchanged).

A tool called while the same tool's span is open (a structured tool's legacy ``_run`` calling
``invoke``) is not recorded twice. Outside any run nothing is recorded or gated.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable
from typing import Any

from waxell_observe.context import WaxellContext
from waxell_observe.current import current_context
from waxell_observe.instrumentation import gate_tool_call, recording_enabled
from waxell_observe_crewai.spans import FRAMEWORK, jsonable

__all__ = ["ainvoke_wrapper", "arun_wrapper", "invoke_wrapper", "run_wrapper"]

logger = logging.getLogger("waxell_observe")

_open_tool: contextvars.ContextVar[str] = contextvars.ContextVar("waxell_crewai_tool", default="")
"""The name of the tool whose span is open in this context."""

Arguments = Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]
"""How a door's ``(args, kwargs)`` read as the tool's arguments."""
Rebuild = Callable[[tuple[Any, ...], dict[str, Any], dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any]]]
"""How a door's ``(args, kwargs)`` are rebuilt around (redacted) arguments."""


def _run_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    return dict(kwargs) if not args else {"args": list(args), **kwargs}


def _run_rebuild(
    args: tuple[Any, ...], kwargs: dict[str, Any], arguments: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return (args, kwargs) if args else ((), arguments)


def _invoke_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    value = kwargs.get("input", args[0] if args else None)
    return dict(value) if isinstance(value, dict) else {"input": value}


def _invoke_rebuild(
    args: tuple[Any, ...], kwargs: dict[str, Any], arguments: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    value = kwargs.get("input", args[0] if args else None)
    if not isinstance(value, dict):
        return args, kwargs
    if "input" in kwargs:
        return args, {**kwargs, "input": arguments}
    return (arguments, *args[1:]), kwargs


class _ToolCall:
    """One tool call: gated, then recorded as a span."""

    __slots__ = ("ctx", "handle", "name", "token")

    def __init__(self, ctx: WaxellContext, name: str, arguments: dict[str, Any]) -> None:
        self.ctx = ctx
        self.name = name
        self.handle: dict[str, Any] = {}
        try:
            self.handle = ctx.enter_span(
                name,
                kind="tool",
                attributes={"framework": FRAMEWORK, "tool_type": "function"},
                input_data=jsonable(arguments),
            )
        except Exception:
            logger.exception("waxell-observe: could not record the start of CrewAI tool %r", name)
        self.token = _open_tool.set(name)

    def close(self, result: Any = None, exc: BaseException | None = None) -> None:
        with contextlib.suppress(ValueError):
            _open_tool.reset(self.token)
        if not self.handle:
            return
        try:
            self.ctx.exit_span(
                self.handle, output_data=None if exc else {"output": jsonable(result)}, exc=exc
            )
        except Exception:
            logger.exception("waxell-observe: could not record CrewAI tool %r", self.name)


def _start(
    active: Callable[[], bool], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], read: Arguments
) -> tuple[_ToolCall | None, dict[str, Any]]:
    """The call's record, and its arguments (None: not recorded — outside a run, or nested)."""
    name = str(getattr(instance, "name", "") or type(instance).__name__)
    if _open_tool.get() == name or not recording_enabled(active, FRAMEWORK):
        return None, {}
    ctx = current_context.get()
    if ctx is None or ctx.run is None:
        return None, {}
    arguments = read(args, kwargs)
    return _ToolCall(ctx, name, arguments), arguments


def _gate(call: _ToolCall, arguments: dict[str, Any]) -> dict[str, Any]:
    """``tool.before`` (PolicyViolationError on block: the tool never runs); the arguments to run with."""
    allowed = gate_tool_call(call.name, arguments, ctx=call.ctx)
    return allowed if isinstance(allowed, dict) else arguments


def _sync(read: Arguments, rebuild: Rebuild) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def factory(active: Callable[[], bool]) -> Callable[..., Any]:
        def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            call, arguments = _start(active, instance, args, kwargs, read)
            if call is None:
                return wrapped(*args, **kwargs)
            try:
                allowed = _gate(call, arguments)
                if allowed is not arguments:
                    args, kwargs = rebuild(args, kwargs, allowed)
                result = wrapped(*args, **kwargs)
            except BaseException as exc:
                call.close(exc=exc)
                raise
            call.close(result)
            return result

        return wrapper

    return factory


def _async(read: Arguments, rebuild: Rebuild) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def factory(active: Callable[[], bool]) -> Callable[..., Any]:
        def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            async def run() -> Any:  # recorded when the coroutine runs, in its task
                call, arguments = _start(active, instance, args, kwargs, read)
                if call is None:
                    return await wrapped(*args, **kwargs)
                call_args, call_kwargs = args, kwargs
                try:
                    allowed = _gate(call, arguments)
                    if allowed is not arguments:
                        call_args, call_kwargs = rebuild(args, kwargs, allowed)
                    result = await wrapped(*call_args, **call_kwargs)
                except BaseException as exc:
                    call.close(exc=exc)
                    raise
                call.close(result)
                return result

            return run()

        return wrapper

    return factory


run_wrapper = _sync(_run_arguments, _run_rebuild)
"""``BaseTool.run`` / ``Tool.run``: the gate, then the tool span."""
arun_wrapper = _async(_run_arguments, _run_rebuild)
"""``BaseTool.arun`` / ``Tool.arun``: the same, awaited."""
invoke_wrapper = _sync(_invoke_arguments, _invoke_rebuild)
"""``CrewStructuredTool.invoke``: the same for the text (ReAct) protocol."""
ainvoke_wrapper = _async(_invoke_arguments, _invoke_rebuild)
"""``CrewStructuredTool.ainvoke``: the same, awaited."""
