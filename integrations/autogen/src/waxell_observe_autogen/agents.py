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
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from typing import Any

from waxell_observe.context import WaxellContext
from waxell_observe.current import current_context
from waxell_observe.instrumentation import recording_enabled
from waxell_observe.serialize import preview

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

logger = logging.getLogger("waxell_observe")

FRAMEWORK = "autogen"
WORKFLOW = "autogen"
AUTOCONTEXT_VARIABLE = "WAXELL_AUTOGEN_AUTOCONTEXT"
_PREVIEW = 4000

current_agent: ContextVar[str] = ContextVar("waxell_autogen_agent", default="")
"""The name of the innermost AutoGen agent being recorded (a handoff's ``handoff.from``)."""
_running: ContextVar[frozenset[int]] = ContextVar("waxell_autogen_running", default=frozenset())


def autocontext() -> bool:
    """False when ``WAXELL_AUTOGEN_AUTOCONTEXT`` turns off runs of an agent's own."""
    return os.environ.get(AUTOCONTEXT_VARIABLE, "").strip().lower() not in ("false", "0", "no", "off")


def jsonable(value: Any) -> Any:
    """A JSON-able preview of an AutoGen value (messages by their ``content``)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return preview(value, _PREVIEW)
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value[:100]]
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in list(value.items())[:100]}
    content = getattr(value, "content", None)
    if content is not None:
        return jsonable(content)
    return preview(str(value), _PREVIEW)


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


class _AgentSpan:
    """One agent or team run being recorded: its own run (when it opened one) and its span."""

    __slots__ = ("ctx", "handle", "name_token", "own")

    def __init__(self, name: str, attributes: dict[str, Any], task: Any) -> None:
        self.own: WaxellContext | None = None
        self.ctx: WaxellContext | None = None
        self.handle: dict[str, Any] = {}
        self.name_token = current_agent.set(name)
        ctx = current_context.get()
        if ctx is None or ctx.run is None:
            if not autocontext():
                return
            self.own = WaxellContext(
                agent_name=name,
                workflow_name=WORKFLOW,
                inputs={"task": jsonable(task)},
                metadata={"integration": FRAMEWORK},
            )
            ctx = self.own.__enter__()
        self.ctx = ctx
        self.handle = ctx.enter_span(
            name,
            kind="agent",
            attributes=attributes,
            input_data=None if task is None else {"task": jsonable(task)},
        )

    def close(self, result: Any = None, exc: BaseException | None = None) -> None:
        with contextlib.suppress(ValueError):
            current_agent.reset(self.name_token)
        output: dict[str, Any] | None = None
        messages = getattr(result, "messages", None)
        if messages:
            output = {"output": jsonable(messages[-1])}
        stop_reason = getattr(result, "stop_reason", None)
        if self.ctx is not None and self.handle:
            span = self.handle.get("span")
            if stop_reason and isinstance(span, dict):
                span["attributes"]["autogen.stop_reason"] = str(stop_reason)
            self.ctx.exit_span(self.handle, output_data=None if exc else output, exc=exc)
        if self.own is not None:
            if exc is None:
                self.own.set_result(output or {})
                self.own.__exit__(None, None, None)
            else:
                self.own.__exit__(type(exc), exc, exc.__traceback__)


def _open(name: str, attributes: dict[str, Any], task: Any) -> _AgentSpan | None:
    try:
        return _AgentSpan(name, attributes, task)
    except Exception:
        logger.exception("waxell-observe: could not record the start of AutoGen agent %r", name)
        return None


def _close(span: _AgentSpan | None, result: Any = None, exc: BaseException | None = None) -> None:
    if span is None:
        return
    try:
        span.close(result, exc)
    except Exception:
        logger.exception("waxell-observe: could not record the end of an AutoGen agent run")


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
