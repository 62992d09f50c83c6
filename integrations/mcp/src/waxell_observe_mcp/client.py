"""The client side: ``ClientSession.call_tool`` / ``read_resource`` / ``get_prompt`` as tool spans.

Each call made inside a run becomes a ``tool`` span named by the tool, resource URI or prompt
(attributes ``mcp.method``, ``mcp.server``, ``tool_type`` ``mcp``), with the call's arguments as
input and the text the server answered as output (cut to ``preview_chars`` unless
``capture_content``). A tool result the server marks ``isError`` and an exception are error spans
(the exception reaches the caller unchanged). Before a tool call leaves, the ``mcp.before`` gate
(server and tool) and the ``tool.before`` gate (tool and arguments) may refuse it
(``PolicyViolationError``). The request carries the span's ``traceparent`` in
``_meta`` (see :mod:`waxell_observe_mcp.trace_context`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from waxell_observe.current import current_context
from waxell_observe.instrumentation import recording_enabled
from waxell_observe.instrumentation.gates import gate_framework_tool, gate_mcp_call, release
from waxell_observe.instrumentation.retrieval import call_arguments
from waxell_observe_mcp.content import bounded, is_error, result_text
from waxell_observe_mcp.trace_context import TRACEPARENT, activate, deactivate, traceparent_for_span

__all__ = ["GET_PROMPT", "Operation", "READ_RESOURCE", "TOOL_CALL", "client_wrapper"]

logger = logging.getLogger("waxell_observe")

Kwargs = dict[str, Any]
TOOL_TYPE = "mcp"


@dataclass(frozen=True)
class Operation:
    """One MCP request a client method sends: its method, and how to read its target and input."""

    method: str
    target: Callable[[Kwargs], str]
    input: Callable[[Kwargs], dict[str, Any]]


TOOL_CALL = Operation(
    "tools/call", lambda a: str(a.get("name") or ""), lambda a: {"arguments": a.get("arguments") or {}}
)
READ_RESOURCE = Operation(
    "resources/read", lambda a: str(a.get("uri") or ""), lambda a: {"uri": str(a.get("uri"))}
)
GET_PROMPT = Operation(
    "prompts/get", lambda a: str(a.get("name") or ""), lambda a: {"arguments": a.get("arguments") or {}}
)


def server_name(session: Any) -> str:
    """The name the server gave in its ``initialize`` answer ("" before it)."""
    try:
        info = session.server_info
    except Exception:  # noqa: BLE001 - not initialized yet, or an SDK without the property
        return ""
    name = getattr(info, "name", None)
    return name if isinstance(name, str) else ""


def _with_traceparent(kwargs: Kwargs, arguments: Kwargs, traceparent: str) -> Kwargs:
    if not traceparent or "meta" not in arguments:
        return kwargs
    meta = arguments.get("meta")
    merged = dict(meta) if isinstance(meta, dict) else {}
    merged[TRACEPARENT] = traceparent
    return {**kwargs, "meta": merged}


def client_wrapper(operation: Operation, active: Callable[[], bool]) -> Callable[..., Any]:
    """A wrapt wrapper for the async client method that sends ``operation``."""

    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Kwargs) -> Any:
        ctx = current_context.get()
        if ctx is None or ctx.run is None or not recording_enabled(active, "mcp"):
            return await wrapped(*args, **kwargs)
        run = ctx.run
        try:
            arguments = call_arguments(wrapped, args, kwargs)
            target = operation.target(arguments) or operation.method
            server = server_name(instance)
        except Exception:
            logger.exception("waxell-observe: could not read an MCP %s call", operation.method)
            return await wrapped(*args, **kwargs)
        made = None  # the tool.before hold while the request is out (the server in process asks no more)
        if operation is TOOL_CALL:  # PolicyViolationError on block: the request never leaves
            tool_args = arguments.get("arguments")
            gate_mcp_call(server, target, tool_args)
            _, made = gate_framework_tool(target, tool_args, ctx=ctx, inner=True)
        try:
            return await _send(operation, ctx, run, wrapped, args, kwargs, arguments, target, server)
        finally:
            release(made)

    return wrapper


async def _send(
    operation: Operation,
    ctx: Any,
    run: Any,
    wrapped: Any,
    args: tuple[Any, ...],
    kwargs: Kwargs,
    arguments: Kwargs,
    target: str,
    server: str,
) -> Any:
    """The request, recorded as a tool span (after its gates)."""
    try:
        config = run.config
        attributes = {"mcp.method": operation.method, "mcp.server": server, "tool_type": TOOL_TYPE}
        handle = ctx.enter_span(
            target,
            kind="tool",
            attributes=attributes,
            input_data=bounded(operation.input(arguments), config),
        )
        traceparent = traceparent_for_span(run, handle["span"]["id"]) if handle else ""
        kwargs = _with_traceparent(kwargs, arguments, traceparent)
    except Exception:
        logger.exception("waxell-observe: could not record an MCP %s call", operation.method)
        return await wrapped(*args, **kwargs)
    if operation is TOOL_CALL:
        run.tool_call_count += 1
        run.tool_names.append(target)
    token = activate(traceparent)
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        deactivate(token)
        ctx.exit_span(handle, exc=exc)
        raise
    deactivate(token)
    try:
        text = result_text(result)
        failed = is_error(result)
        ctx.exit_span(
            handle,
            output_data={"result": bounded(text, config)},
            status="error" if failed else "ok",
            error=text[:2000] if failed else "",
        )
    except Exception:
        logger.exception("waxell-observe: could not record an MCP %s result", operation.method)
    return result
