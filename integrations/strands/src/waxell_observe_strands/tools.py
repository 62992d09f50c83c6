"""Tool calls of Strands Agents: the ``tool.before`` gate, then a ``tool`` span.

Strands runs every tool the model asks for (``@tool`` functions, ``PythonAgentTool``, MCP tools,
agents as tools) through ``strands.tools.executors._executor._run_tool``, after its hooks and
middleware chose the tool; that function is wrapped:

* the ``tool.before`` gate is asked first (the tool's name and the model's input); a refused tool
  never runs: the call ends with the error result Strands gives a failed tool (``Error: Tool
  '<name>' is blocked``, the ``PolicyViolationError`` as its exception), which Strands hands to the
  model, and the run is marked blocked;
* a ``tool`` span named by the tool's name (attributes ``framework``, ``tool_type`` = ``function``,
  ``strands.tool_use_id``; input: the model's input; output: the result's text). A tool that failed
  (an error result, or an exception) fails its span (``error.type``, ``error.message`` from the
  exception when Strands kept one).

Outside any run nothing is recorded or gated.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from waxell_observe.context import WaxellContext
from waxell_observe.current import current_context
from waxell_observe.errors import PolicyViolationError
from waxell_observe.instrumentation import gate_tool_call, recording_enabled
from waxell_observe_strands.agents import FRAMEWORK, jsonable

__all__ = ["run_tool_wrapper"]

logger = logging.getLogger("waxell_observe")


def _text(result: Any) -> Any:
    """A tool result's content as text (its text blocks joined), else as JSON."""
    content = result.get("content") if isinstance(result, dict) else None
    if isinstance(content, list):
        texts = [
            block["text"]
            for block in content
            if isinstance(block, dict) and isinstance(block.get("text"), str)
        ]
        if len(texts) == len(content):
            return "\n".join(texts)
        return jsonable(content)
    return jsonable(result)


class _ToolCall:
    """One tool call being recorded."""

    __slots__ = ("ctx", "handle", "name")

    def __init__(self, ctx: WaxellContext, name: str, tool_use: dict[str, Any]) -> None:
        self.ctx = ctx
        self.name = name
        self.handle: dict[str, Any] = {}
        try:
            self.handle = ctx.enter_span(
                name,
                kind="tool",
                attributes={
                    "framework": FRAMEWORK,
                    "tool_type": "function",
                    "strands.tool_use_id": str(tool_use.get("toolUseId") or ""),
                },
                input_data=jsonable(tool_use.get("input")),
            )
        except Exception:
            logger.exception("waxell-observe: could not record the start of Strands tool %r", name)

    def close(self, result_event: Any = None, exc: BaseException | None = None) -> None:
        if not self.handle:
            return
        try:
            result = getattr(result_event, "get", lambda _key: None)("tool_result")
            failed = isinstance(result, dict) and result.get("status") == "error"
            error = exc or (getattr(result_event, "exception", None) if failed else None)
            output = None if exc else {"output": _text(result)}
            if failed and error is None:
                self.ctx.exit_span(self.handle, output_data=output, status="error", error=str(_text(result)))
            else:
                self.ctx.exit_span(self.handle, output_data=output, exc=error)
        except Exception:
            logger.exception("waxell-observe: could not record Strands tool %r", self.name)


def _refused(tool_use: dict[str, Any], refusal: PolicyViolationError) -> Any:
    from strands.types.events import ToolResultEvent

    return ToolResultEvent(
        {
            "toolUseId": str(tool_use.get("toolUseId")),
            "status": "error",
            "content": [{"text": f"Error: {refusal}"}],
        },
        exception=refusal,
    )


async def _recorded(
    active: Callable[[], bool], context: Any, events: Callable[[], AsyncIterator[Any]]
) -> AsyncIterator[Any]:
    """The tool's events, gated and recorded (decided when Strands starts iterating them)."""
    tool_use = getattr(context, "tool_use", None)
    run = current_context.get()
    if (
        not isinstance(tool_use, dict)
        or getattr(context, "tool", None) is None  # an unknown tool: Strands answers it, nothing runs
        or run is None
        or run.run is None
        or not recording_enabled(active, FRAMEWORK)
    ):
        async for event in events():
            yield event
        return
    call = _ToolCall(run, str(tool_use.get("name") or "tool"), tool_use)
    try:
        gate_tool_call(call.name, tool_use.get("input"), ctx=run)
    except PolicyViolationError as refusal:
        refused = _refused(tool_use, refusal)
        call.close(refused, refusal)
        yield refused
        return
    last: Any = None
    try:
        async for event in events():
            if isinstance(event, dict) and "tool_result" in event and hasattr(event, "exception"):
                last = event
            yield event
    except GeneratorExit:  # Strands stopped iterating (after the result): the call ended
        call.close(last)
        raise
    except BaseException as exc:
        call.close(exc=exc)
        raise
    call.close(last)


def run_tool_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``_run_tool(ctx, extra_kwargs, tool_context)``: the gate, then the tool span over its events."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        context = kwargs.get("ctx", args[0] if args else None)
        return _recorded(active, context, lambda: wrapped(*args, **kwargs))

    return wrapper
