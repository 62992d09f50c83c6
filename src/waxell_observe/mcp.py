"""Server-side governance for MCP servers (``MCPServer``, formerly FastMCP, and the low-level ``Server`` of
the ``mcp`` package, version 2): the reference SDK's ``waxell_observe.mcp`` (§6.4).

* :class:`GovernanceMiddleware` is a context-tier middleware (``MCPServer(..., middleware=[...])`` or
  ``server.middleware.append(...)``): every ``tools/call`` the server handles passes the ``tool.before``
  policies before the tool runs and becomes a ``tool`` span — on the current run when the server runs
  inside one (an in-process server called from an agent), else on a run of the server's own. A refused
  call does not reach the tool; the client gets a tool error result (``isError``) saying why, which a
  model can read, or the ``PolicyViolationError`` when :attr:`MiddlewareConfig.refusal_as_tool_error`
  is off. Other requests pass untouched.
* :func:`governance` does the same for one tool function (sync or async), under ``@server.tool()``.
* :class:`ToolGovernanceConfig` says how one tool is governed; :class:`MiddlewareConfig` configures
  the middleware (its run identity, per-tool settings).

The ``waxell-observe-mcp`` integration (``init()``) already records and gates every MCP server created
after it; use this module for servers you govern explicitly, not both on one server (each records its
own span). Importing this module imports neither ``mcp`` nor the policy machinery.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from waxell_observe.errors import PolicyViolationError

if TYPE_CHECKING:
    from waxell_observe.context import WaxellContext

__all__ = ["GovernanceMiddleware", "MiddlewareConfig", "ToolGovernanceConfig", "governance"]

logger = logging.getLogger("waxell_observe")

SERVER_WORKFLOW = "mcp-server"
_RESULT_CHARS = 4000
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ToolGovernanceConfig:
    """How one tool is governed.

    ``gate``: ask the ``tool.before`` policies before the tool runs; ``record``: record a ``tool`` span;
    ``capture_arguments`` / ``capture_result``: keep the arguments / the result's text (up to 4000
    characters) on the span.
    """

    gate: bool = True
    record: bool = True
    capture_arguments: bool = True
    capture_result: bool = True


@dataclass(frozen=True)
class MiddlewareConfig:
    """The :class:`GovernanceMiddleware`'s settings.

    ``server_name``: the ``mcp.server`` attribute of each span, and the agent of the server's own runs
    unless ``agent_name`` is given (default ``mcp-server``); ``workflow_name``: the workflow of those
    runs; ``enforce_policy``: the run-level policies of those runs (start and completion); ``tools``:
    per-tool settings by tool name, else ``default_tool``; ``refusal_as_tool_error``: a refused call
    answers a tool error result (``True``) or raises ``PolicyViolationError`` to the server (``False``).
    """

    server_name: str = ""
    agent_name: str = ""
    workflow_name: str = SERVER_WORKFLOW
    enforce_policy: bool = True
    tools: Mapping[str, ToolGovernanceConfig] = field(default_factory=dict)
    default_tool: ToolGovernanceConfig = field(default_factory=ToolGovernanceConfig)
    refusal_as_tool_error: bool = True

    def __post_init__(self) -> None:
        for name, value in self.tools.items():
            if not isinstance(value, ToolGovernanceConfig):
                kind = type(value).__name__
                raise ValueError(
                    f"MiddlewareConfig.tools[{name!r}] must be a ToolGovernanceConfig, got {kind}"
                )

    def for_tool(self, name: str) -> ToolGovernanceConfig:
        """The settings of tool ``name``."""
        return self.tools.get(name, self.default_tool)

    @property
    def run_agent_name(self) -> str:
        return self.agent_name or self.server_name or SERVER_WORKFLOW


class GovernanceMiddleware:
    """MCP server middleware: ``tool.before`` policies and a ``tool`` span for every ``tools/call``."""

    def __init__(self, config: MiddlewareConfig | None = None) -> None:
        if config is not None and not isinstance(config, MiddlewareConfig):
            raise ValueError(f"config must be a MiddlewareConfig, got {type(config).__name__}")
        self.config = config or MiddlewareConfig()

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if getattr(ctx, "method", "") != "tools/call":
            return await call_next(ctx)
        params = ctx.params if isinstance(ctx.params, Mapping) else {}
        name = str(params.get("name") or "")
        arguments = params.get("arguments") or {}
        tool = self.config.for_tool(name)
        if not name or not (tool.gate or tool.record):
            return await call_next(ctx)
        current = _current()
        if current is not None:
            return await self._handle(current, ctx, call_next, name, arguments, tool)
        from waxell_observe.context import WaxellContext

        run = WaxellContext(
            agent_name=self.config.run_agent_name,
            workflow_name=self.config.workflow_name,
            inputs={"tool": name, "arguments": arguments if tool.capture_arguments else {}},
            metadata={"mcp.server": self.config.server_name, "mcp.method": "tools/call"},
            enforce_policy=self.config.enforce_policy,
        )
        async with run:
            result = await self._handle(run, ctx, call_next, name, arguments, tool)
            if tool.capture_result:
                run.set_result({"result": _result_text(result)})
            return result

    async def _handle(
        self,
        run: WaxellContext,
        ctx: Any,
        call_next: Callable[[Any], Awaitable[Any]],
        name: str,
        arguments: Any,
        tool: ToolGovernanceConfig,
    ) -> Any:
        span = _open_span(run, name, arguments, tool, self.config.server_name)
        try:
            if tool.gate:
                _gate(run, name, arguments)
            result = await call_next(ctx)
        except PolicyViolationError as refused:
            _close_span(run, span, tool, error=str(refused))
            if not self.config.refusal_as_tool_error:
                raise
            return refusal_result(str(refused))
        except BaseException as exc:
            _close_span(run, span, tool, exc=exc)
            raise
        _close_span(run, span, tool, result=result)
        return result


@overload
def governance(func: F, /) -> F: ...
@overload
def governance(
    func: None = None, /, *, name: str | None = None, config: ToolGovernanceConfig | None = None,
    agent_name: str = SERVER_WORKFLOW,
) -> Callable[[F], F]: ...  # fmt: skip
def governance(
    func: F | None = None,
    /,
    *,
    name: str | None = None,
    config: ToolGovernanceConfig | None = None,
    agent_name: str = SERVER_WORKFLOW,
) -> F | Callable[[F], F]:
    """Govern one MCP tool function (sync or async): ``@server.tool()`` over ``@governance`` (or
    ``@governance(name=..., config=...)``). Each call passes the ``tool.before`` policies with its
    keyword arguments and becomes a ``tool`` span named ``name`` (default: the function's name) on the
    current run, else on a run of its own (agent ``agent_name``, workflow ``mcp-server``). A refused call
    raises ``PolicyViolationError`` without running the function (the server answers it as a tool error).
    The wrapper keeps the function's signature, so the server still sees its parameters."""
    if config is not None and not isinstance(config, ToolGovernanceConfig):
        raise ValueError(f"config must be a ToolGovernanceConfig, got {type(config).__name__}")
    settings = config or ToolGovernanceConfig()

    def decorate(fn: F) -> F:
        if not callable(fn):
            raise ValueError(f"governance() wraps a function, got {type(fn).__name__}")
        tool_name = name or getattr(fn, "__name__", "") or "tool"

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                current = _current()
                if current is not None:
                    return await _run_async(current, fn, tool_name, settings, args, kwargs)
                from waxell_observe.context import WaxellContext

                async with WaxellContext(agent_name=agent_name, workflow_name=SERVER_WORKFLOW) as run:
                    return await _run_async(run, fn, tool_name, settings, args, kwargs)

            return cast("F", async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            current = _current()
            if current is not None:
                return _run_sync(current, fn, tool_name, settings, args, kwargs)
            from waxell_observe.context import WaxellContext

            with WaxellContext(agent_name=agent_name, workflow_name=SERVER_WORKFLOW) as run:
                return _run_sync(run, fn, tool_name, settings, args, kwargs)

        return cast("F", wrapper)

    return decorate(func) if func is not None else decorate


def refusal_result(reason: str) -> Any:
    """The ``tools/call`` answer of a refused call: a tool error result (``isError``) a model can read,
    ``Policy violation: <reason>``."""
    from mcp.types import CallToolResult, TextContent  # a server is running: mcp is installed

    return CallToolResult(
        content=[TextContent(type="text", text=f"Policy violation: {reason}")], is_error=True
    )


# -- shared steps -------------------------------------------------------------------------------------


def _current() -> WaxellContext | None:
    from waxell_observe.current import current_context

    context = current_context.get()
    return context if context is not None and context.run is not None else None


def _gate(run: WaxellContext, name: str, arguments: Any) -> None:
    from waxell_observe.instrumentation.gates import gate_tool_call

    gate_tool_call(name, arguments, ctx=run)  # PolicyViolationError on block: the tool does not run


def _open_span(
    run: WaxellContext, name: str, arguments: Any, tool: ToolGovernanceConfig, server: str
) -> dict[str, Any] | None:
    if not tool.record:
        return None
    attributes = {"mcp.method": "tools/call", "tool_type": "mcp", "mcp.side": "server", "mcp.governed": True}
    if server:
        attributes["mcp.server"] = server
    return run.enter_span(
        name,
        kind="tool",
        attributes=attributes,
        input_data={"arguments": arguments} if tool.capture_arguments else None,
    )


def _close_span(
    run: WaxellContext,
    span: dict[str, Any] | None,
    tool: ToolGovernanceConfig,
    *,
    result: Any = None,
    error: str = "",
    exc: BaseException | None = None,
) -> None:
    if span is None:
        return
    try:
        if exc is not None:
            run.exit_span(span, exc=exc)
        elif error:
            run.exit_span(span, status="error", error=error)
        else:
            text = _result_text(result)
            failed = _is_error(result)
            run.exit_span(
                span,
                output_data={"result": text} if tool.capture_result else None,
                status="error" if failed else "ok",
                error=text[:2000] if failed else "",
            )
    except Exception:
        logger.exception("waxell-observe: could not record an MCP tool span")


async def _run_async(
    run: WaxellContext,
    fn: Callable[..., Awaitable[Any]],
    name: str,
    tool: ToolGovernanceConfig,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    span = _open_span(run, name, kwargs, tool, "")
    try:
        if tool.gate:
            _gate(run, name, kwargs)
        result = await fn(*args, **kwargs)
    except BaseException as exc:
        _close_span(run, span, tool, exc=exc)
        raise
    _close_span(run, span, tool, result=result)
    return result


def _run_sync(
    run: WaxellContext,
    fn: Callable[..., Any],
    name: str,
    tool: ToolGovernanceConfig,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    span = _open_span(run, name, kwargs, tool, "")
    try:
        if tool.gate:
            _gate(run, name, kwargs)
        result = fn(*args, **kwargs)
    except BaseException as exc:
        _close_span(run, span, tool, exc=exc)
        raise
    _close_span(run, span, tool, result=result)
    return result


def _result_text(result: Any) -> str:
    """The text of a tool's result: the text blocks of a ``CallToolResult`` (object or wire dict),
    else the value itself as text."""
    content = result.get("content") if isinstance(result, Mapping) else getattr(result, "content", None)
    if isinstance(content, list):
        texts = [
            block.get("text") if isinstance(block, Mapping) else getattr(block, "text", None)
            for block in content
        ]
        text = "\n".join(t for t in texts if isinstance(t, str))
    else:
        text = "" if result is None else str(result)
    return text[:_RESULT_CHARS]


def _is_error(result: Any) -> bool:
    if isinstance(result, Mapping):
        return bool(result.get("isError") or result.get("is_error"))
    return bool(getattr(result, "is_error", False))
