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

from waxell_observe.instrumentation import AgentSpan, AgentSpans, AgentStart, jsonable, recording_enabled

__all__ = ["AUTOCONTEXT_VARIABLE", "FRAMEWORK", "WORKFLOW", "autocontext", "jsonable", "stream_async_wrapper"]

FRAMEWORK = "strands"
WORKFLOW = "strands"
AUTOCONTEXT_VARIABLE = "WAXELL_STRANDS_AUTOCONTEXT"


def autocontext() -> bool:
    """False when ``WAXELL_STRANDS_AUTOCONTEXT`` turns off runs of an agent's own."""
    return SPANS.autocontext()


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


SPANS = AgentSpans(
    FRAMEWORK,
    workflow=WORKFLOW,
    autocontext_variable=AUTOCONTEXT_VARIABLE,
    output=_output,
    what="a Strands agent invocation",
)
"""How Strands agent invocations are recorded."""


def _open(agent: Any, prompt: Any) -> AgentSpan | None:
    return SPANS.open(lambda: AgentStart(_name(agent), _attributes(agent), {"prompt": jsonable(prompt)}))


async def _recorded(agent: Any, prompt: Any, events: AsyncIterator[Any]) -> AsyncIterator[Any]:
    span = _open(agent, prompt)
    result: Any = None
    try:
        async for event in events:
            if isinstance(event, dict) and "result" in event:
                result = event["result"]
            yield event
    except GeneratorExit:  # the caller stopped iterating: the invocation ends here
        SPANS.close(span, result)
        raise
    except BaseException as exc:
        SPANS.close(span, exc=exc)
        raise
    SPANS.close(span, result)


def stream_async_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``Agent.stream_async``: the agent span (and, outside any run, the run) over the stream."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)
        prompt = kwargs.get("prompt", args[0] if args else None)
        return _recorded(instance, prompt, wrapped(*args, **kwargs))

    return wrapper
