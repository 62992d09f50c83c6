"""AutoGen tool calls and handoffs: ``tool.before``, then a ``tool`` or ``handoff`` span.

``BaseTool.run_json`` (every tool an agent runs: ``FunctionTool``, MCP tools, ``AgentTool``, and the
transfer tools of handoffs) asks ``tool.before`` with the tool's name and arguments, inside a run: a
``block`` raises ``PolicyViolationError`` and the tool never runs (``AssistantAgent`` hands the
refusal to the model as the tool's error result; the run is marked blocked); ``redact`` runs the tool
with the scrubbed arguments. The call is a ``tool`` span (input: the arguments; output: the result;
``gen_ai.tool.call.id``) — a handoff's transfer tool a ``handoff`` span (``handoff.from``,
``handoff.to``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from waxell_observe.current import current_context
from waxell_observe.instrumentation import gate_framework_tool, recording_enabled, release
from waxell_observe_autogen.agents import FRAMEWORK, current_agent, jsonable

__all__ = ["handoff_target", "run_json_wrapper"]

logger = logging.getLogger("waxell_observe")

_HANDOFF_FUNCTION = "Handoff.handoff_tool.<locals>._handoff_tool"


def handoff_target(tool: Any) -> str | None:
    """The agent a handoff's transfer tool hands off to (``None`` for any other tool)."""
    function = getattr(tool, "_func", None)
    if getattr(function, "__qualname__", "") != _HANDOFF_FUNCTION:
        return None
    for cell in getattr(function, "__closure__", None) or ():
        target = getattr(cell.cell_contents, "target", None)
        if isinstance(target, str):
            return target
    return ""


def run_json_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``BaseTool.run_json``: the gate, then the tool's span."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        ctx = current_context.get()
        if not recording_enabled(active, FRAMEWORK) or ctx is None or ctx.run is None:
            return wrapped(*args, **kwargs)

        async def recorded() -> Any:
            arguments = dict(kwargs.get("args", args[0] if args else {}) or {})
            call_id = kwargs.get("call_id", args[2] if len(args) > 2 else None)
            name = str(getattr(instance, "name", type(instance).__name__))
            target = handoff_target(instance)
            attributes: dict[str, Any] = {"framework": FRAMEWORK}
            if call_id:
                attributes["gen_ai.tool.call.id"] = str(call_id)
            if target is None:
                kind = "tool"
                attributes["tool_type"] = "function"
            else:
                kind = "handoff"
                attributes |= {"handoff.from": current_agent.get(), "handoff.to": target}
            handle: dict[str, Any] = {}
            try:
                handle = ctx.enter_span(
                    name, kind=kind, attributes=attributes, input_data=jsonable(arguments)
                )
            except Exception:
                logger.exception("waxell-observe: could not record the start of AutoGen tool %r", name)
            made = None  # the tool.before hold while the tool runs (an MCP client under it asks no more)
            try:
                allowed, made = gate_framework_tool(name, arguments, ctx=ctx)  # PolicyViolationError
                call_args = list(args)
                if isinstance(allowed, dict) and allowed is not arguments:
                    if "args" in kwargs or not call_args:
                        kwargs["args"] = allowed
                    else:
                        call_args[0] = allowed
                result = await wrapped(*call_args, **kwargs)
            except BaseException as exc:
                if handle:
                    ctx.exit_span(handle, exc=exc)
                raise
            finally:
                release(made)
            if handle:
                try:
                    ctx.exit_span(handle, output_data={"output": jsonable(result)})
                except Exception:
                    logger.exception("waxell-observe: could not record AutoGen tool %r", name)
            return result

        return recorded()

    return wrapper
