"""Crews, tasks and agents of CrewAI as nested container spans.

* ``Crew.kickoff`` / ``akickoff`` → an ``agent`` span named by the crew's ``name`` (attributes
  ``crewai.kind`` = ``crew``, ``crewai.process``, ``crewai.agents``, ``crewai.tasks``; input: the
  kickoff's inputs; output: the crew's final ``raw`` answer). Outside any run it opens a run of its
  own (agent = the crew's name, workflow ``crewai``), unless ``WAXELL_CREWAI_AUTOCONTEXT`` is
  ``false``/``0``/``no``/``off``. ``kickoff_async`` runs ``kickoff`` in a thread with the caller's
  context, and a streaming crew (``stream=True``) runs it again with ``stream`` off in a thread of
  its own, also with the caller's context: that inner kickoff is the one recorded.
* ``Task._execute_core`` / ``_aexecute_core`` (every way a task runs: in a crew, sequential or
  hierarchical, ``async_execution`` tasks in their thread, or ``task.execute_sync()`` by hand) → a
  ``chain`` span named by the task's ``name``, else its description (attributes ``crewai.kind`` =
  ``task``, ``crewai.task.agent``, ``crewai.task.expected_output``; input: the description and the
  context of earlier tasks; output: the task's ``raw`` output).
* ``Agent.execute_task`` / ``aexecute_task`` (an agent working on a task) and ``Agent.kickoff`` /
  ``akickoff`` (an agent used on its own) → an ``agent`` span named by the agent's ``role``
  (attributes ``agent.class``, ``agent.tools``, ``agent.model``, ``crewai.agent.goal``); a standalone
  kickoff outside any run opens a run of its own, like a crew's. CrewAI retries a failed
  ``execute_task`` by calling it again from inside itself: the retries are part of the one span.

An object already recorded in the current context (a retry, a kickoff that calls another kickoff of
the same object) is not recorded again.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Coroutine
from typing import Any

from waxell_observe.instrumentation import AgentSpan, AgentSpans, AgentStart, recording_enabled
from waxell_observe.instrumentation import jsonable as span_jsonable
from waxell_observe.serialize import preview

__all__ = [
    "AUTOCONTEXT_VARIABLE",
    "FRAMEWORK",
    "WORKFLOW",
    "aagent_kickoff_wrapper",
    "aagent_wrapper",
    "acrew_wrapper",
    "agent_kickoff_wrapper",
    "agent_wrapper",
    "atask_wrapper",
    "autocontext",
    "crew_wrapper",
    "jsonable",
    "task_wrapper",
]

FRAMEWORK = "crewai"
WORKFLOW = "crewai"
AUTOCONTEXT_VARIABLE = "WAXELL_CREWAI_AUTOCONTEXT"
_NAME = 120

_recording: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "waxell_crewai_recording", default=frozenset()
)
"""``id()`` of the crews, tasks and agents whose span is open in this context."""


def autocontext() -> bool:
    """False when ``WAXELL_CREWAI_AUTOCONTEXT`` turns off runs of a crew's (or agent's) own."""
    return SPANS.autocontext()


def _raw(value: Any) -> str | None:
    raw = getattr(value, "raw", None)
    return raw if isinstance(raw, str) else None


def jsonable(value: Any) -> Any:
    """``value`` as JSON for a span's input or output (CrewAI's outputs by their ``raw`` text)."""
    return span_jsonable(value, _raw)


def _text(value: Any, limit: int = _NAME) -> str:
    return preview(value, limit) if isinstance(value, str) and value.strip() else ""


def _tool_names(tools: Any) -> list[str]:
    return [str(getattr(tool, "name", None) or type(tool).__name__) for tool in tools or ()]


def _model_name(agent: Any) -> str:
    llm = getattr(agent, "llm", None)
    if llm is None:
        return ""
    model = getattr(llm, "model", None)
    return str(model) if model else (llm if isinstance(llm, str) else type(llm).__name__)


def _crew(crew: Any) -> tuple[str, dict[str, Any]]:
    process = getattr(crew, "process", None)
    return _text(getattr(crew, "name", None)) or "crew", {
        "framework": FRAMEWORK,
        "crewai.kind": "crew",
        "crewai.process": str(getattr(process, "value", process) or ""),
        "crewai.agents": [str(getattr(agent, "role", "")) for agent in getattr(crew, "agents", None) or ()],
        "crewai.tasks": [_task_name(task) for task in getattr(crew, "tasks", None) or ()],
    }


def _task_name(task: Any) -> str:
    return _text(getattr(task, "name", None)) or _text(getattr(task, "description", None)) or "task"


def _task(task: Any, agent: Any) -> tuple[str, dict[str, Any]]:
    agent = agent or getattr(task, "agent", None)
    return _task_name(task), {
        "framework": FRAMEWORK,
        "crewai.kind": "task",
        "crewai.task.agent": str(getattr(agent, "role", "") or ""),
        "crewai.task.expected_output": preview(getattr(task, "expected_output", "") or "", 500),
    }


def _agent(agent: Any, tools: Any = None) -> tuple[str, dict[str, Any]]:
    return _text(getattr(agent, "role", None)) or type(agent).__name__, {
        "framework": FRAMEWORK,
        "crewai.kind": "agent",
        "agent.class": type(agent).__name__,
        "agent.tools": _tool_names(tools if tools is not None else getattr(agent, "tools", None)),
        "agent.model": _model_name(agent),
        "crewai.agent.goal": preview(getattr(agent, "goal", "") or "", 500),
    }


Describe = Callable[[Any, tuple[Any, ...], dict[str, Any]], tuple[str, str, dict[str, Any], dict[str, Any]]]
"""``(instance, args, kwargs) -> (name, kind, attributes, inputs)`` of the span a call opens."""


class _Span:
    """One crew, task or agent being recorded: its span, and the mark that its subject is being
    recorded in this context (set when the span opened)."""

    __slots__ = ("span", "token")

    def __init__(self, subject: Any, span: AgentSpan) -> None:
        self.span = span
        self.token: contextvars.Token[frozenset[int]] | None = None
        if span.ctx is not None:
            self.token = _recording.set(_recording.get() | {id(subject)})

    def release(self) -> None:
        """Forget that the subject is being recorded in this context (where the span was opened)."""
        token, self.token = self.token, None
        if token is not None:
            # ValueError: not the context it was set in (that context ended with it)
            with contextlib.suppress(ValueError):
                _recording.reset(token)


def _output(result: Any) -> dict[str, Any]:
    return {"output": jsonable(result)}


SPANS = AgentSpans(
    FRAMEWORK,
    workflow=WORKFLOW,
    autocontext_variable=AUTOCONTEXT_VARIABLE,
    output=_output,
    what="a CrewAI span",
)
"""How CrewAI's crews, tasks and agents are recorded."""


def _open(
    instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], describe: Describe, runs: bool
) -> _Span | None:
    def start() -> AgentStart:
        name, kind, attributes, inputs = describe(instance, args, kwargs)
        return AgentStart(name, attributes, inputs, kind=kind)

    span = SPANS.open(start, may_open_run=runs, what=f"a CrewAI {type(instance).__name__}")
    return None if span is None else _Span(instance, span)


def _close(span: _Span | None, result: Any = None, exc: BaseException | None = None) -> None:
    if span is None:
        return
    span.release()
    SPANS.close(span.span, result, exc)


def _skip(active: Callable[[], bool], instance: Any) -> bool:
    return id(instance) in _recording.get() or not recording_enabled(active, FRAMEWORK)


def _sync(describe: Describe, *, runs: bool, passes: Callable[[Any], bool] | None = None) -> Any:
    def factory(active: Callable[[], bool]) -> Callable[..., Any]:
        def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if _skip(active, instance) or (passes is not None and passes(instance)):
                return wrapped(*args, **kwargs)
            span = _open(instance, args, kwargs, describe, runs)
            try:
                result = wrapped(*args, **kwargs)
            except BaseException as exc:
                _close(span, exc=exc)
                raise
            if isinstance(result, Coroutine):  # Agent.kickoff inside a Flow hands back a coroutine
                if span is not None:
                    span.release()
                return _awaited(span, result)
            _close(span, result)
            return result

        return wrapper

    return factory


async def _awaited(span: _Span | None, pending: Coroutine[Any, Any, Any]) -> Any:
    try:
        result = await pending
    except BaseException as exc:
        _close(span, exc=exc)
        raise
    _close(span, result)
    return result


def _async(describe: Describe, *, runs: bool) -> Any:
    def factory(active: Callable[[], bool]) -> Callable[..., Any]:
        def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if _skip(active, instance):
                return wrapped(*args, **kwargs)

            async def run() -> Any:  # the span opens when the coroutine starts, in its task
                span = _open(instance, args, kwargs, describe, runs)
                try:
                    result = await wrapped(*args, **kwargs)
                except BaseException as exc:
                    _close(span, exc=exc)
                    raise
                _close(span, result)
                return result

            return run()

        return wrapper

    return factory


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    return kwargs.get(name, args[index] if len(args) > index else None)


def _describe_crew(crew: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    name, attributes = _crew(crew)
    return name, "agent", attributes, {"inputs": jsonable(_arg(args, kwargs, 0, "inputs") or {})}


def _describe_task(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    name, attributes = _task(task, _arg(args, kwargs, 0, "agent"))
    inputs = {"description": jsonable(getattr(task, "description", None))}
    context = _arg(args, kwargs, 1, "context")
    if context:
        inputs["context"] = jsonable(context)
    return name, "chain", attributes, inputs


def _describe_agent_task(agent: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    name, attributes = _agent(agent, _arg(args, kwargs, 2, "tools"))
    task = _arg(args, kwargs, 0, "task")
    return name, "agent", attributes, {"task": jsonable(getattr(task, "description", task))}


def _describe_agent_kickoff(agent: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    name, attributes = _agent(agent)
    return name, "agent", attributes, {"messages": jsonable(_arg(args, kwargs, 0, "messages"))}


def _streaming(crew: Any) -> bool:
    return getattr(crew, "stream", False) is True


crew_wrapper = _sync(_describe_crew, runs=True, passes=_streaming)
"""``Crew.kickoff``: the crew's span (and, outside any run, the run)."""
acrew_wrapper = _async(_describe_crew, runs=True)
"""``Crew.akickoff``: the same, in the kickoff's task."""
task_wrapper = _sync(_describe_task, runs=False)
"""``Task._execute_core``: the task's span."""
atask_wrapper = _async(_describe_task, runs=False)
"""``Task._aexecute_core``: the task's span, in its task."""
agent_wrapper = _sync(_describe_agent_task, runs=False)
"""``Agent.execute_task``: the agent's span under its task's."""
aagent_wrapper = _async(_describe_agent_task, runs=False)
"""``Agent.aexecute_task``: the same, in its task."""
agent_kickoff_wrapper = _sync(_describe_agent_kickoff, runs=True)
"""``Agent.kickoff``: a standalone agent's span (and, outside any run, the run)."""
aagent_kickoff_wrapper = _async(_describe_agent_kickoff, runs=True)
"""``Agent.akickoff``: the same, in its task."""
