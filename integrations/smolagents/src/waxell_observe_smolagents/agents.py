"""Agent runs and tool calls of smolagents.

* ``MultiStepAgent.run`` → an ``agent`` container span (name = the agent's name, else its class;
  attributes: class, tools, managed agents, model id; input: the task; output: the final answer).
  A managed agent, called by its manager, runs inside the manager's span, so it nests there. An
  agent run outside any run opens a run of its own (agent = the agent's name, workflow
  ``smolagents``), unless ``WAXELL_SMOLAGENTS_AUTOCONTEXT`` is ``false``/``0``/``no``/``off``.
  ``run(stream=True)`` returns a generator: the span covers its iteration.
* ``Tool.__call__`` → the ``tool.before`` gate (a ``block`` raises ``PolicyViolationError`` and the
  tool does not run; smolagents hands the refusal to the model as the tool's error), then a ``tool``
  span (input: the arguments; output: the result; a raised exception marks it failed and is
  re-raised unchanged).
* ``local_python_executor.timeout`` → ``CodeAgent``'s code runs in the agent's context, though in a
  worker thread, so the tools it calls are recorded (and gated) on the run.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

from waxell_observe.current import current_context
from waxell_observe.instrumentation import (
    AgentSpan,
    AgentSpans,
    AgentStart,
    gate_framework_tool,
    recording_enabled,
    release,
)
from waxell_observe.serialize import preview

__all__ = [
    "AUTOCONTEXT_VARIABLE",
    "FRAMEWORK",
    "WORKFLOW",
    "autocontext",
    "executor_timeout_wrapper",
    "run_wrapper",
    "tool_wrapper",
]

logger = logging.getLogger("waxell_observe")

FRAMEWORK = "smolagents"
WORKFLOW = "smolagents"
AUTOCONTEXT_VARIABLE = "WAXELL_SMOLAGENTS_AUTOCONTEXT"
_PREVIEW = 4000


def autocontext() -> bool:
    """False when ``WAXELL_SMOLAGENTS_AUTOCONTEXT`` turns off runs of an agent's own."""
    return SPANS.autocontext()


def _agent_name(agent: Any) -> str:
    name = getattr(agent, "name", None)
    return name if isinstance(name, str) and name else type(agent).__name__


def _agent_attributes(agent: Any) -> dict[str, Any]:
    model = getattr(agent, "model", None)
    return {
        "framework": FRAMEWORK,
        "agent.class": type(agent).__name__,
        "agent.tools": sorted(str(name) for name in (getattr(agent, "tools", None) or {})),
        "agent.managed_agents": sorted(str(name) for name in (getattr(agent, "managed_agents", None) or {})),
        "agent.model": str((getattr(model, "model_id", "") or type(model).__name__) if model else ""),
    }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return preview(str(value), _PREVIEW)


def _output(result: Any) -> dict[str, Any]:
    return {"output": _jsonable(result)}


SPANS = AgentSpans(
    FRAMEWORK,
    workflow=WORKFLOW,
    autocontext_variable=AUTOCONTEXT_VARIABLE,
    output=_output,
    what="a smolagents run",
)
"""How smolagents agent runs are recorded."""


def _open(agent: Any, task: Any) -> AgentSpan | None:
    return SPANS.open(
        lambda: AgentStart(_agent_name(agent), _agent_attributes(agent), {"task": _jsonable(task)})
    )


def _final(result: Any) -> Any:
    """The answer of ``run()`` (a ``RunResult``'s output when it returned the full result)."""
    return getattr(result, "output", result) if type(result).__name__ == "RunResult" else result


def _streamed(span: AgentSpan | None, steps: Iterator[Any]) -> Iterator[Any]:
    last: Any = None
    try:
        for step in steps:
            last = step
            yield step
    except BaseException as exc:
        SPANS.close(span, exc=exc)
        raise
    SPANS.close(span, getattr(last, "output", None))


def run_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``MultiStepAgent.run``: the agent span (and, outside any run, the run)."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)
        task = kwargs.get("task", args[0] if args else None)
        stream = bool(kwargs.get("stream", args[1] if len(args) > 1 else False))
        span = _open(instance, task)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            SPANS.close(span, exc=exc)
            raise
        if stream:
            return _streamed(span, result)
        SPANS.close(span, _final(result))
        return result

    return wrapper


def tool_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``Tool.__call__``: the ``tool.before`` gate, then the tool span."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)
        ctx = current_context.get()
        if ctx is None or ctx.run is None:
            return wrapped(*args, **kwargs)
        name = str(getattr(instance, "name", "") or type(instance).__name__)
        arguments = {key: value for key, value in kwargs.items() if key != "sanitize_inputs_outputs"}
        if args:
            arguments = (
                dict(args[0]) if len(args) == 1 and isinstance(args[0], dict) else {"args": list(args)}
            ) | arguments
        handle: dict[str, Any] = {}
        try:
            handle = ctx.enter_span(
                name,
                kind="tool",
                attributes={"framework": FRAMEWORK, "tool_type": "function"},
                input_data=_jsonable(arguments),
            )
        except Exception:
            logger.exception("waxell-observe: could not record the start of smolagents tool %r", name)
        made = None  # the tool.before hold while the tool runs (an MCP client under it asks no more)
        try:
            _, made = gate_framework_tool(name, arguments, ctx=ctx)  # PolicyViolationError: never runs
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            if handle:
                ctx.exit_span(handle, exc=exc)
            raise
        finally:
            release(made)
        if handle:
            try:
                ctx.exit_span(handle, output_data={"output": _jsonable(result)})
            except Exception:
                logger.exception("waxell-observe: could not record smolagents tool %r", name)
        return result

    return wrapper


def executor_timeout_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``local_python_executor.timeout``: ``CodeAgent`` runs its code in a worker thread (to bound its
    time), which Python starts without the agent's context; the code (and the tools it calls) runs
    in a copy of the context of the agent's thread instead, so its tool calls land on the run."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        decorator = wrapped(*args, **kwargs)
        if not active():
            return decorator

        def in_context(func: Callable[..., Any]) -> Any:
            context = contextvars.copy_context()

            @functools.wraps(func)
            def run(*call_args: Any, **call_kwargs: Any) -> Any:
                return context.run(func, *call_args, **call_kwargs)

            return decorator(run)

        return in_context

    return wrapper
