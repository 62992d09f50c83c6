"""Agent and team runs and tool calls of Agno.

* ``Agent.run`` / ``arun`` and ``Team.run`` / ``arun`` → an ``agent`` container span named by the
  agent's / team's ``name`` (else its class; attributes ``agent.class``, ``agent.tools``,
  ``agent.model``, a team's ``agno.team.members``; input: the run's input; output: the run's
  ``content``). A member agent a team runs nests in the team's span. Outside any run it opens a run of
  its own (agent = the name, workflow ``agno``), unless ``WAXELL_AGNO_AUTOCONTEXT`` is
  ``false``/``0``/``no``/``off``. A streamed run (an iterator of events) is one span over its iteration.
* ``FunctionCall.execute`` / ``aexecute`` (every tool call an agent makes) → the ``tool.before`` gate,
  then a ``tool`` span (input: the arguments; output: the result; failed when Agno reports the call
  failed). A refused tool never runs: the call answers Agno's ``failure`` result with the refusal, which
  Agno hands to the model, and the run is marked blocked.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from waxell_observe.current import current_context
from waxell_observe.errors import PolicyViolationError
from waxell_observe.instrumentation import (
    AgentSpan,
    AgentSpans,
    AgentStart,
    gate_framework_tool,
    jsonable,
    recording_enabled,
    release,
)

__all__ = [
    "AUTOCONTEXT_VARIABLE",
    "FRAMEWORK",
    "WORKFLOW",
    "aexecute_wrapper",
    "arun_wrapper",
    "autocontext",
    "execute_wrapper",
    "run_wrapper",
]

logger = logging.getLogger("waxell_observe")

FRAMEWORK = "agno"
WORKFLOW = "agno"
AUTOCONTEXT_VARIABLE = "WAXELL_AGNO_AUTOCONTEXT"


def autocontext() -> bool:
    """False when ``WAXELL_AGNO_AUTOCONTEXT`` turns off runs of an agent's own."""
    return SPANS.autocontext()


def _content(value: Any) -> Any:
    return getattr(value, "content", None)


def _jsonable(value: Any) -> Any:
    return jsonable(value, _content)


def _name(instance: Any) -> str:
    name = getattr(instance, "name", None)
    return name if isinstance(name, str) and name else type(instance).__name__


def _attributes(instance: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {"framework": FRAMEWORK, "agent.class": type(instance).__name__}
    members = getattr(instance, "members", None)
    if isinstance(members, list):
        attributes["agno.team.members"] = [_name(member) for member in members]
    tools = getattr(instance, "tools", None)
    if isinstance(tools, list):
        attributes["agent.tools"] = [
            str(getattr(t, "name", None) or getattr(t, "__name__", t)) for t in tools
        ]
    model = getattr(instance, "model", None)
    if model is not None:
        attributes["agent.model"] = str(getattr(model, "id", "") or type(model).__name__)
    return attributes


def _output(result: Any) -> dict[str, Any] | None:
    return None if result is None else {"output": _jsonable(getattr(result, "content", result))}


SPANS = AgentSpans(
    FRAMEWORK,
    workflow=WORKFLOW,
    autocontext_variable=AUTOCONTEXT_VARIABLE,
    output=_output,
    what="an Agno run",
)
"""How Agno agent and team runs are recorded."""


def _open(instance: Any, task: Any) -> AgentSpan | None:
    return SPANS.open(lambda: AgentStart(_name(instance), _attributes(instance), {"input": _jsonable(task)}))


def _is_output(item: Any) -> bool:
    return type(item).__name__ in ("RunOutput", "TeamRunOutput")


def _streamed(span: AgentSpan | None, events: Iterator[Any]) -> Iterator[Any]:
    last: Any = None
    try:
        for event in events:
            last = event if _is_output(event) else last
            yield event
    except BaseException as exc:
        SPANS.close(span, exc=exc)
        raise
    SPANS.close(span, last)


async def _astreamed(instance: Any, task: Any, events: AsyncIterator[Any]) -> AsyncIterator[Any]:
    span = _open(instance, task)
    last: Any = None
    try:
        async for event in events:
            last = event if _is_output(event) else last
            yield event
    except BaseException as exc:
        SPANS.close(span, exc=exc)
        raise
    SPANS.close(span, last)


def _task(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return kwargs.get("input", args[0] if args else None)


def run_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``Agent.run`` / ``Team.run``: the agent span (and, outside any run, the run)."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)
        span = _open(instance, _task(args, kwargs))
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            SPANS.close(span, exc=exc)
            raise
        if inspect.isgenerator(result) or (hasattr(result, "__next__") and not _is_output(result)):
            return _streamed(span, result)
        SPANS.close(span, result)
        return result

    return wrapper


def arun_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``Agent.arun`` / ``Team.arun``: the same around the awaited run or its event stream, opened when
    the run starts in its task (not when ``arun()`` is called), so nothing stays set in the caller."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)
        result = wrapped(*args, **kwargs)
        task = _task(args, kwargs)
        if hasattr(result, "__aiter__"):
            return _astreamed(instance, task, result)
        if not inspect.isawaitable(result):
            return result

        async def awaited() -> Any:
            span = _open(instance, task)
            try:
                output = await result
            except BaseException as exc:
                SPANS.close(span, exc=exc)
                raise
            SPANS.close(span, output)
            return output

        return awaited()

    return wrapper


def _tool_start(instance: Any) -> tuple[Any, str, dict[str, Any], dict[str, Any]] | None:
    ctx = current_context.get()
    if ctx is None or ctx.run is None:
        return None
    function = getattr(instance, "function", None)
    name = str(getattr(function, "name", "") or "tool")
    arguments = dict(getattr(instance, "arguments", None) or {})
    handle: dict[str, Any] = {}
    try:
        handle = ctx.enter_span(
            name,
            kind="tool",
            attributes={"framework": FRAMEWORK, "tool_type": "function"},
            input_data=_jsonable(arguments),
        )
    except Exception:
        logger.exception("waxell-observe: could not record the start of Agno tool %r", name)
    return ctx, name, arguments, handle


def _refused(instance: Any, exc: PolicyViolationError) -> Any:
    """Agno's failure result carrying the refusal (what the model is told)."""
    from agno.tools.function import FunctionExecutionResult

    instance.error = str(exc)
    return FunctionExecutionResult(status="failure", error=str(exc))


def _tool_end(ctx: Any, name: str, handle: dict[str, Any], outcome: Any) -> None:
    if not handle:
        return
    try:
        if getattr(outcome, "status", "success") == "failure":
            ctx.exit_span(
                handle, status="error", error=str(getattr(outcome, "error", "") or "tool call failed")
            )
        else:
            ctx.exit_span(handle, output_data={"output": _jsonable(getattr(outcome, "result", outcome))})
    except Exception:
        logger.exception("waxell-observe: could not record Agno tool %r", name)


def execute_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``FunctionCall.execute``: ``tool.before``, then the tool span."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        started = _tool_start(instance) if recording_enabled(active, FRAMEWORK) else None
        if started is None:
            return wrapped(*args, **kwargs)
        ctx, name, arguments, handle = started
        try:
            _, made = gate_framework_tool(name, arguments, ctx=ctx)
        except PolicyViolationError as exc:
            if handle:
                ctx.exit_span(handle, exc=exc)
            return _refused(instance, exc)
        try:  # made: the tool.before hold (an instrumented MCP client the tool calls asks no more)
            outcome = wrapped(*args, **kwargs)
        except BaseException as exc:
            if handle:
                ctx.exit_span(handle, exc=exc)
            raise
        finally:
            release(made)
        _tool_end(ctx, name, handle, outcome)
        return outcome

    return wrapper


def aexecute_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``FunctionCall.aexecute``: the same, awaited."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        started = _tool_start(instance) if recording_enabled(active, FRAMEWORK) else None
        if started is None:
            return wrapped(*args, **kwargs)
        ctx, name, arguments, handle = started

        async def recorded() -> Any:
            try:
                _, made = gate_framework_tool(name, arguments, ctx=ctx)
            except PolicyViolationError as exc:
                if handle:
                    ctx.exit_span(handle, exc=exc)
                return _refused(instance, exc)
            try:
                outcome = await wrapped(*args, **kwargs)
            except BaseException as exc:
                if handle:
                    ctx.exit_span(handle, exc=exc)
                raise
            finally:
                release(made)
            _tool_end(ctx, name, handle, outcome)
            return outcome

        return recorded()

    return wrapper
