"""The server side: a context-tier middleware on every MCP ``Server`` (MCP 2's ``Server.middleware``).

``tools/call``, ``resources/read`` and ``prompts/get`` requests become ``tool`` spans. Handled
inside a run (an in-process server called from a run) the span goes on that run; otherwise the
request gets a run of its own: agent = the server's name, workflow ``mcp-server``, metadata
``mcp.method`` and the client's ``mcp.traceparent``. Our middleware runs inside MCP's own
OpenTelemetry middleware, whose span continues the client's trace context, so with the
OpenTelemetry exporter on the server's run joins the client's trace. A tool call passes the
server's own ``tool.before`` gate before the tool runs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from waxell_observe.context import WaxellContext
from waxell_observe.current import current_context
from waxell_observe.instrumentation import recording_enabled
from waxell_observe.instrumentation.gates import gate_tool_call
from waxell_observe_mcp.content import bounded, is_error, result_text
from waxell_observe_mcp.trace_context import TRACEPARENT, received_traceparent

__all__ = ["SERVER_WORKFLOW", "WaxellServerMiddleware", "init_wrapper"]

logger = logging.getLogger("waxell_observe")

SERVER_WORKFLOW = "mcp-server"
TARGET_KEYS = {"tools/call": "name", "resources/read": "uri", "prompts/get": "name"}
"""The requests recorded, and the parameter that names what each asks for."""


class WaxellServerMiddleware:
    """Records the tool, resource and prompt requests a server handles."""

    def __init__(self, server_name: str, active: Callable[[], bool]) -> None:
        self.server_name = server_name
        self._active = active

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        key = TARGET_KEYS.get(getattr(ctx, "method", ""))
        if key is None or not recording_enabled(self._active, "mcp"):
            return await call_next(ctx)
        method: str = ctx.method
        params = ctx.params if isinstance(ctx.params, Mapping) else {}
        target = str(params.get(key) or method)
        meta = ctx.meta if isinstance(ctx.meta, Mapping) else params.get("_meta")
        traceparent = received_traceparent(meta)
        arguments = params.get("arguments") if key == "name" else {"uri": target}
        current = current_context.get()
        if current is not None and current.run is not None:
            return await self._handle(current, ctx, call_next, method, target, arguments, traceparent, False)
        metadata: dict[str, Any] = {"integration": "mcp", "mcp.method": method}
        if traceparent:
            metadata[f"mcp.{TRACEPARENT}"] = traceparent
        run = WaxellContext(
            agent_name=self.server_name or "mcp-server",
            workflow_name=SERVER_WORKFLOW,
            inputs={"method": method, "target": target},
            metadata=metadata,
        )
        async with run:
            return await self._handle(run, ctx, call_next, method, target, arguments, traceparent, True)

    async def _handle(
        self,
        run: WaxellContext,
        ctx: Any,
        call_next: Callable[[Any], Awaitable[Any]],
        method: str,
        target: str,
        arguments: Any,
        traceparent: str,
        own_run: bool,
    ) -> Any:
        config = run.run.config if run.run is not None else None
        attributes = {
            "mcp.method": method,
            "mcp.server": self.server_name,
            "tool_type": "mcp",
            "mcp.side": "server",
        }
        if traceparent:
            attributes[f"mcp.{TRACEPARENT}"] = traceparent
        handle = run.enter_span(
            target,
            kind="tool",
            attributes=attributes,
            input_data={"arguments": bounded(arguments or {}, config)} if config is not None else None,
        )
        try:
            if method == "tools/call":  # PolicyViolationError on block: the tool does not run
                gate_tool_call(target, arguments, ctx=run)
            result = await call_next(ctx)
        except BaseException as exc:
            run.exit_span(handle, exc=exc)
            raise
        try:
            text = result_text(result)
            failed = is_error(result)
            run.exit_span(
                handle,
                output_data={"result": bounded(text, config)} if config is not None else None,
                status="error" if failed else "ok",
                error=text[:2000] if failed else "",
            )
            if own_run:
                run.set_result({"result": bounded(text, config)} if config is not None else None)
        except Exception:
            logger.exception("waxell-observe: could not record an MCP %s request", method)
        return result


def init_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """A wrapt wrapper for ``Server.__init__``: the new server gets our middleware, innermost
    (inside MCP's OpenTelemetry middleware)."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        try:
            middleware = getattr(instance, "middleware", None)
            if isinstance(middleware, list) and not any(
                isinstance(m, WaxellServerMiddleware) for m in middleware
            ):
                name = getattr(instance, "name", "")
                middleware.append(WaxellServerMiddleware(name if isinstance(name, str) else "", active))
        except Exception:
            logger.exception("waxell-observe: could not add the MCP server middleware")
        return result

    return wrapper
