"""ADK tool calls: a ``tool`` span each, and the ``tool.before`` gate right before the tool runs.

ADK runs every function call a model asks for (``FunctionTool``, ``AgentTool``, MCP tools, built-in
tools, ``transfer_to_agent``) through ``_execute_single_prepared_call`` (``flows/llm_flows/tools/
_caller.py``, and its live counterpart's import of it): the plugins' and the agent's before-tool
callbacks, the tool confirmation gate, then the tool itself (its ``tool_runner``), then the
after-tool callbacks, and the function response event. That function is wrapped:

* a ``tool`` span over the whole call, named by the tool's name (attributes ``framework``,
  ``tool_type`` = ``agent`` for an ``AgentTool``, else ``function``, ``google_adk.tool.class``,
  ``google_adk.function_call_id``; input: the model's arguments; output: the function response ADK
  hands the model). A tool that raises fails its span (the exception goes on unchanged);
* the ``tool.before`` gate is asked in the tool's runner, after ADK's own callbacks chose to run it
  (:func:`~waxell_observe.instrumentation.gate_framework_tool`: asked once, however many
  integrations see the call). A refused tool never runs: ADK hands the model the error response
  ``{"error": "Tool '<name>' blocked by governance policy"}`` (the shape of its own tool errors) and
  goes on, the span fails with ``PolicyViolationError`` and the run is marked blocked. A ``redact``
  runs the tool with the scrubbed arguments.

A name the model made up (ADK answers it, nothing runs) is not recorded. Outside any run nothing is
recorded or gated.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable
from typing import Any

from waxell_observe.context import WaxellContext
from waxell_observe.current import current_context
from waxell_observe.errors import PolicyViolationError
from waxell_observe.instrumentation import gate_framework_tool, recording_enabled, release
from waxell_observe_google_adk._reading import FRAMEWORK, jsonable

__all__ = ["execute_wrapper", "refusal_response"]

logger = logging.getLogger("waxell_observe")

_recording: contextvars.ContextVar[int] = contextvars.ContextVar("waxell_google_adk_tool", default=0)
"""``id()`` of the prepared call whose span is open in this context (the live caller's binding of the
function may be our wrapper already: it is recorded once)."""


def refusal_response(refusal: PolicyViolationError) -> dict[str, str]:
    """The function response a refused tool answers the model with."""
    return {"error": str(refusal)}


def _response(event: Any, call_id: Any) -> Any:
    """The function response the call's event hands the model (the one with the call's id)."""
    responses = getattr(event, "get_function_responses", None)
    found = responses() if callable(responses) else []
    for response in found:
        if call_id is None or getattr(response, "id", None) == call_id:
            return getattr(response, "response", None)
    return None


class _ToolCall:
    """One tool call being recorded."""

    __slots__ = ("call_id", "ctx", "handle", "name", "refusal")

    def __init__(self, ctx: WaxellContext, prepared: Any) -> None:
        self.ctx = ctx
        tool = getattr(prepared, "tool", None)
        call = getattr(prepared, "function_call", None)
        self.name = str(getattr(tool, "name", "") or getattr(call, "name", "") or "tool")
        self.call_id = getattr(call, "id", None)
        self.refusal: PolicyViolationError | None = None
        self.handle: dict[str, Any] = {}
        kind = type(tool).__name__
        try:
            self.handle = ctx.enter_span(
                self.name,
                kind="tool",
                attributes={
                    "framework": FRAMEWORK,
                    "tool_type": "agent" if kind == "AgentTool" else "function",
                    "google_adk.tool.class": kind,
                    "google_adk.function_call_id": str(self.call_id or ""),
                },
                input_data=jsonable(getattr(prepared, "function_args", None)),
            )
        except Exception:
            logger.exception("waxell-observe: could not record the start of ADK tool %r", self.name)

    def close(self, event: Any = None, exc: BaseException | None = None) -> None:
        if not self.handle:
            return
        try:
            error = exc or self.refusal
            output = None if exc else {"output": jsonable(_response(event, self.call_id))}
            self.ctx.exit_span(self.handle, output_data=output, exc=error)
        except Exception:
            logger.exception("waxell-observe: could not record ADK tool %r", self.name)


def _gated(call: _ToolCall, prepared: Any, runner: Callable[[], Any]) -> Callable[[], Any]:
    """The tool's runner behind the ``tool.before`` gate."""

    async def run() -> Any:
        arguments = getattr(prepared, "function_args", None)
        try:
            allowed, made = gate_framework_tool(call.name, arguments, ctx=call.ctx)
        except PolicyViolationError as refusal:
            call.refusal = refusal
            return refusal_response(refusal)
        if allowed is not arguments and isinstance(allowed, dict) and isinstance(arguments, dict):
            arguments.clear()  # the dict the runner hands the tool (ADK's own copy of the model's)
            arguments.update(allowed)
        try:
            return await runner()
        finally:
            release(made)

    return run


async def _recorded(
    ctx: WaxellContext, prepared: Any, wrapped: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    call = _ToolCall(ctx, prepared)
    token = _recording.set(id(prepared))
    try:
        event = await wrapped(
            *args, **{**kwargs, "tool_runner": _gated(call, prepared, kwargs["tool_runner"])}
        )
    except BaseException as exc:
        call.close(exc=exc)
        raise
    finally:
        with contextlib.suppress(ValueError):
            _recording.reset(token)
    call.close(event)
    return event


def execute_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``_execute_single_prepared_call(invocation_context, prepared_call, agent, *, tool_runner)``:
    the tool's span over the call, the gate in its runner."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        prepared = kwargs.get("prepared_call", args[1] if len(args) > 1 else None)
        ctx = current_context.get()
        if (
            prepared is None
            or "tool_runner" not in kwargs
            or getattr(prepared, "tool_lookup_error", None) is not None
            or _recording.get() == id(prepared)
            or ctx is None
            or ctx.run is None
            or not recording_enabled(active, FRAMEWORK)
        ):
            return wrapped(*args, **kwargs)
        return _recorded(ctx, prepared, wrapped, args, kwargs)

    return wrapper
