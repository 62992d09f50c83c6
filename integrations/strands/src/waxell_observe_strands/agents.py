"""Agent invocations of Strands Agents as ``agent`` spans.

``Agent.stream_async`` is the one loop behind every way an agent is invoked (``agent("...")``,
``invoke_async``, ``stream_async``; ``agent(...)`` runs it in a worker thread with the caller's
context): it becomes an ``agent`` span named by the agent's ``name`` (attributes ``agent.class``,
``agent.tools``, ``agent.model``, ``strands.agent.id``; input: the prompt; output: the final
answer's text). An agent a tool invokes (agents as tools) nests under that tool's span. Outside
any run the invocation opens a run of its own (agent = the agent's name, workflow ``strands``),
unless ``WAXELL_STRANDS_AUTOCONTEXT`` is ``false``/``0``/``no``/``off``. The span opens when the
stream is first iterated and closes when it ends; a stream the caller abandons closes it as it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from waxell_observe.instrumentation import (
    AgentSpan,
    autocontext_enabled,
    close_agent_span,
    open_agent_span,
    recording_enabled,
)
from waxell_observe.serialize import preview

__all__ = ["AUTOCONTEXT_VARIABLE", "FRAMEWORK", "WORKFLOW", "autocontext", "jsonable", "stream_async_wrapper"]

FRAMEWORK = "strands"
WORKFLOW = "strands"
AUTOCONTEXT_VARIABLE = "WAXELL_STRANDS_AUTOCONTEXT"
_PREVIEW = 4000


def autocontext() -> bool:
    """False when ``WAXELL_STRANDS_AUTOCONTEXT`` turns off runs of an agent's own."""
    return autocontext_enabled(AUTOCONTEXT_VARIABLE)


def jsonable(value: Any) -> Any:
    """``value`` as JSON for a span's input or output."""
    if value is None or isinstance(value, (int, float, bool)):
        return value
    if isinstance(value, str):
        return preview(value, _PREVIEW)
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value[:100]]
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in list(value.items())[:100]}
    return preview(str(value), _PREVIEW)


def _name(agent: Any) -> str:
    name = getattr(agent, "name", None)
    return name if isinstance(name, str) and name.strip() else type(agent).__name__


def _attributes(agent: Any) -> dict[str, Any]:
    model = getattr(agent, "model", None)
    config = getattr(model, "config", None)
    model_id = config.get("model_id") if isinstance(config, dict) else None
    tools = getattr(agent, "tool_names", None)
    return {
        "framework": FRAMEWORK,
        "agent.class": type(agent).__name__,
        "agent.tools": sorted(str(tool) for tool in tools) if isinstance(tools, list) else [],
        "agent.model": str(model_id or (type(model).__name__ if model is not None else "")),
        "strands.agent.id": str(getattr(agent, "agent_id", "") or ""),
    }


def _output(result: Any) -> dict[str, Any]:
    return {"output": jsonable(str(result).strip() if result is not None else None)}


def _start(agent: Any, prompt: Any) -> AgentSpan:
    return AgentSpan(
        _name(agent),
        framework=FRAMEWORK,
        workflow=WORKFLOW,
        attributes=_attributes(agent),
        input_data={"prompt": jsonable(prompt)},
        may_open_run=autocontext,
    )


def _open(agent: Any, prompt: Any) -> AgentSpan | None:
    return open_agent_span(lambda: _start(agent, prompt), what="a Strands agent invocation")


def _close(span: AgentSpan | None, result: Any = None, exc: BaseException | None = None) -> None:
    close_agent_span(span, result, exc, output=_output, what="a Strands agent invocation")


async def _recorded(agent: Any, prompt: Any, events: AsyncIterator[Any]) -> AsyncIterator[Any]:
    span = _open(agent, prompt)
    result: Any = None
    try:
        async for event in events:
            if isinstance(event, dict) and "result" in event:
                result = event["result"]
            yield event
    except GeneratorExit:  # the caller stopped iterating: the invocation ends here
        _close(span, result)
        raise
    except BaseException as exc:
        _close(span, exc=exc)
        raise
    _close(span, result)


def stream_async_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``Agent.stream_async``: the agent span (and, outside any run, the run) over the stream."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)
        prompt = kwargs.get("prompt", args[0] if args else None)
        return _recorded(instance, prompt, wrapped(*args, **kwargs))

    return wrapper
