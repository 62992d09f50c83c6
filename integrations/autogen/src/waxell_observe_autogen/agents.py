"""Agent and team runs of AutoGen AgentChat.

* ``BaseChatAgent.run`` / ``run_stream`` (``AssistantAgent``, ``CodeExecutorAgent``, yours) and
  ``BaseGroupChat.run`` / ``run_stream`` (``RoundRobinGroupChat``, ``SelectorGroupChat``, ``Swarm``,
  ``MagenticOneGroupChat``) → an ``agent`` span named by the agent's / team's name (input: the task;
  output: the last message's content; ``autogen.stop_reason``). Outside any run it opens a run of its
  own (agent = the name, workflow ``autogen``), unless ``WAXELL_AUTOGEN_AUTOCONTEXT`` is
  ``false``/``0``/``no``/``off``. ``team.run`` goes through ``team.run_stream``: one span.
* An agent a team runs (AutoGen's ``invoke_agent`` span in the team's agent container) → an ``agent``
  span named by the agent, under the team's.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar, Token
from typing import Any

from waxell_observe.current import current_context
from waxell_observe.instrumentation import AgentSpan, AgentSpans, AgentStart, recording_enabled
from waxell_observe.instrumentation import jsonable as span_jsonable

__all__ = [
    "AUTOCONTEXT_VARIABLE",
    "FRAMEWORK",
    "WORKFLOW",
    "autocontext",
    "current_agent",
    "invoke_span_wrapper",
    "jsonable",
    "run_stream_wrapper",
    "run_wrapper",
]

FRAMEWORK = "autogen"
WORKFLOW = "autogen"
AUTOCONTEXT_VARIABLE = "WAXELL_AUTOGEN_AUTOCONTEXT"

current_agent: ContextVar[str] = ContextVar("waxell_autogen_agent", default="")
"""The name of the innermost AutoGen agent being recorded (a handoff's ``handoff.from``)."""
_running: ContextVar[frozenset[int]] = ContextVar("waxell_autogen_running", default=frozenset())


def autocontext() -> bool:
    """False when ``WAXELL_AUTOGEN_AUTOCONTEXT`` turns off runs of an agent's own."""
    return SPANS.autocontext()


def _content(value: Any) -> Any:
    return getattr(value, "content", None)


def jsonable(value: Any) -> Any:
    """A JSON-able preview of an AutoGen value (messages by their ``content``)."""
    return span_jsonable(value, _content)


def _names(items: Any) -> list[str]:
    if isinstance(items, dict):
        return sorted(str(key) for key in items)
    return [str(getattr(item, "name", item)) for item in items or []]


def _attributes(instance: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {"framework": FRAMEWORK, "agent.class": type(instance).__name__}
    participants = getattr(instance, "_participants", None)
    if participants is not None:
        attributes["autogen.team.participants"] = _names(participants)
        return attributes
    tools = getattr(instance, "_tools", None)
    if tools is not None:
        attributes["agent.tools"] = _names(tools)
    handoffs = getattr(instance, "_handoffs", None)
    if handoffs is not None:
        attributes["agent.handoffs"] = sorted(str(getattr(h, "target", h)) for h in dict(handoffs).values())
    client = getattr(instance, "_model_client", None)
    model = getattr(client, "_create_args", {}).get("model") if client is not None else None
    if model:
        attributes["agent.model"] = str(model)
    return attributes


class _AgentRun:
    """One agent or team run being recorded: its agent span and the ``current_agent`` it set."""

    __slots__ = ("name_token", "span")

    def __init__(self, name_token: Token[str], span: AgentSpan | None) -> None:
        self.name_token = name_token
        self.span = span


def _output(result: Any) -> dict[str, Any] | None:
    messages = getattr(result, "messages", None)
    return {"output": jsonable(messages[-1])} if messages else None


def _stop_reason(result: Any) -> dict[str, Any]:
    stop_reason = getattr(result, "stop_reason", None)
    return {"autogen.stop_reason": str(stop_reason)} if stop_reason else {}


SPANS = AgentSpans(
    FRAMEWORK,
    workflow=WORKFLOW,
    autocontext_variable=AUTOCONTEXT_VARIABLE,
    output=_output,
    attributes=_stop_reason,
    what="an AutoGen agent run",
)
"""How AutoGen agent and team runs are recorded."""


def _open(name: str, attributes: dict[str, Any], task: Any) -> _AgentRun:
    def describe() -> AgentStart:
        inputs = {"task": jsonable(task)}
        return AgentStart(name, attributes, None if task is None else inputs, run_inputs=inputs)

    name_token = current_agent.set(name)
    return _AgentRun(name_token, SPANS.open(describe, what=f"AutoGen agent {name!r}"))


def _close(run: _AgentRun | None, result: Any = None, exc: BaseException | None = None) -> None:
    if run is None:
        return
    with contextlib.suppress(ValueError):
        current_agent.reset(run.name_token)
    SPANS.close(run.span, result, exc)


def _wanted(active: Callable[[], bool], instance: Any) -> bool:
    return recording_enabled(active, FRAMEWORK) and id(instance) not in _running.get()


def run_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``run`` of an agent or a team: its span around the awaited run."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not _wanted(active, instance):
            return wrapped(*args, **kwargs)

        async def recorded() -> Any:
            running = _running.set(_running.get() | {id(instance)})
            span = _open(
                str(getattr(instance, "name", type(instance).__name__)),
                _attributes(instance),
                kwargs.get("task"),
            )
            try:
                result = await wrapped(*args, **kwargs)
            except BaseException as exc:
                _close(span, exc=exc)
                raise
            finally:
                _running.reset(running)
            _close(span, result)
            return result

        return recorded()

    return wrapper


def run_stream_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``run_stream`` of an agent or a team: its span over the stream (the last item: the ``TaskResult``)."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not _wanted(active, instance):
            return wrapped(*args, **kwargs)

        async def recorded() -> AsyncIterator[Any]:
            running = _running.set(_running.get() | {id(instance)})
            span = _open(
                str(getattr(instance, "name", type(instance).__name__)),
                _attributes(instance),
                kwargs.get("task"),
            )
            last: Any = None
            try:
                async for item in wrapped(*args, **kwargs):
                    last = item
                    yield item
            except BaseException as exc:
                _close(span, exc=exc)
                raise
            finally:
                with contextlib.suppress(ValueError):
                    _running.reset(running)
            _close(span, last if type(last).__name__ == "TaskResult" else None)

        return recorded()

    return wrapper


def invoke_span_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """AutoGen's ``trace_invoke_agent_span`` in a team's agent container: our agent span around it."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)
        return _invoked(wrapped(*args, **kwargs), args, kwargs)

    return wrapper


@contextlib.contextmanager
def _invoked(inner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Any]:
    name = str(kwargs.get("agent_name", args[0] if args else "agent"))
    attributes: dict[str, Any] = {"framework": FRAMEWORK}
    if kwargs.get("agent_id"):
        attributes["autogen.agent.id"] = str(kwargs["agent_id"])
    if kwargs.get("agent_description"):
        attributes["autogen.agent.description"] = str(kwargs["agent_description"])
    with inner as otel_span:
        span = _open(name, attributes, None) if current_context.get() is not None else None
        try:
            yield otel_span
        except BaseException as exc:
            _close(span, exc=exc)
            raise
        _close(span)
