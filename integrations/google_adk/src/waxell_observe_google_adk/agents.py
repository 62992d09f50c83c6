"""ADK agents as ``agent`` spans, and a run of its own for an invocation outside any run.

* ``BaseAgent.run_async`` is the one door every agent is run through: by the ``Runner`` (the root
  agent), by a workflow agent (``SequentialAgent``, ``ParallelAgent`` — each branch in a task of its
  own —, ``LoopAgent``, each iteration a span), by an agent transfer, by an ``AgentTool`` (under that
  tool's span), or as a node of a ``Workflow``. It becomes an ``agent`` span named by the agent's
  ``name``: attributes ``agent.class``, ``agent.model`` and ``agent.tools`` (an ``LlmAgent``'s),
  ``agent.sub_agents``, ``google_adk.invocation_id``, and ``agent.transferred_to`` when the agent
  handed the conversation over (``transfer_to_agent``); input: the user's message of the invocation;
  output: the text of the agent's last final response (none when it had none). Everything the agent
  does while its events stream — model calls, tools, sub-agents — nests under it. ADK 2 runs an
  agent a conversation is transferred to after the transferring agent ends (a sibling span), as it
  runs it.
* ``Workflow._run_impl`` (ADK 2's graph workflows) is a ``chain`` span named by the workflow's name
  (attributes ``agent.class``, ``google_adk.nodes``; input: the node input), the spans of its agent
  nodes under it.
* ``Runner.run_async`` (also what ``Runner.run``, ``InMemoryRunner`` and ``run_debug`` use) opens a
  run of its own when it is called outside any run: agent = the root agent's name, workflow
  ``google_adk``, the ADK session id as the run's session, the ADK user id as its end user; the last
  final response's text as its result. ``WAXELL_GOOGLE_ADK_AUTOCONTEXT=false`` (``0``, ``no``,
  ``off``) turns that off. Inside a run the runner records nothing itself.

A span opens when its event stream is first iterated and closes when the stream ends (failed: with
the exception); a stream the caller stops iterating closes it as it was.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from waxell_observe.context import WaxellContext
from waxell_observe.current import current_context
from waxell_observe.instrumentation import autocontext_enabled, recording_enabled
from waxell_observe_google_adk._reading import FRAMEWORK, content_text, jsonable, model_name, tool_names

__all__ = [
    "AUTOCONTEXT_VARIABLE",
    "WORKFLOW",
    "autocontext",
    "run_async_wrapper",
    "runner_wrapper",
    "workflow_wrapper",
]

logger = logging.getLogger("waxell_observe")

WORKFLOW = "google_adk"
"""The workflow name of a run an ADK invocation opens."""
AUTOCONTEXT_VARIABLE = "WAXELL_GOOGLE_ADK_AUTOCONTEXT"


def autocontext() -> bool:
    """False when ``WAXELL_GOOGLE_ADK_AUTOCONTEXT`` turns off runs of an invocation's own."""
    return autocontext_enabled(AUTOCONTEXT_VARIABLE)


def _attributes(agent: Any, invocation: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {"framework": FRAMEWORK, "agent.class": type(agent).__name__}
    if hasattr(agent, "model"):  # an LlmAgent
        attributes["agent.model"] = model_name(agent.model)
        attributes["agent.tools"] = tool_names(getattr(agent, "tools", None))
    sub_agents = getattr(agent, "sub_agents", None)
    attributes["agent.sub_agents"] = [str(getattr(sub, "name", "")) for sub in sub_agents or []]
    invocation_id = getattr(invocation, "invocation_id", None)
    if isinstance(invocation_id, str) and invocation_id:
        attributes["google_adk.invocation_id"] = invocation_id
    return attributes


class _Answer:
    """What an event stream said: the last final response's text (of ``author``, when given) and the
    agents the conversation was transferred to."""

    __slots__ = ("author", "text", "transfers")

    def __init__(self, author: str | None) -> None:
        self.author = author
        self.text: str | None = None
        self.transfers: list[str] = []

    def read(self, event: Any) -> None:
        try:
            if self.author is not None and getattr(event, "author", None) != self.author:
                return
            actions = getattr(event, "actions", None)
            transfer = getattr(actions, "transfer_to_agent", None)
            if isinstance(transfer, str) and transfer:
                self.transfers.append(transfer)
            is_final = getattr(event, "is_final_response", None)
            if callable(is_final) and is_final():
                text = content_text(getattr(event, "content", None))
                if text:
                    self.text = text
        except Exception:
            logger.debug("waxell-observe: could not read an ADK event", exc_info=True)


class _Span:
    """One agent's (or workflow's) run being recorded."""

    __slots__ = ("answer", "ctx", "handle")

    def __init__(
        self,
        ctx: WaxellContext,
        name: str,
        kind: str,
        attributes: dict[str, Any],
        message: Any,
        author: str | None,
    ) -> None:
        self.ctx = ctx
        self.answer = _Answer(author)
        self.handle = ctx.enter_span(
            name, kind=kind, attributes=attributes, input_data={"input": jsonable(message)}
        )

    def close(self, exc: BaseException | None = None) -> None:
        if not self.handle:
            return
        record = self.handle.get("span")
        if self.answer.transfers and isinstance(record, dict):  # known once the agent ran
            record["attributes"]["agent.transferred_to"] = list(self.answer.transfers)
        text = self.answer.text
        output = {"output": jsonable(text)} if exc is None and text is not None else None
        self.ctx.exit_span(self.handle, output_data=output, exc=exc)


def _open(describe: Callable[[], tuple[str, str, dict[str, Any], Any, str | None]]) -> _Span | None:
    ctx = current_context.get()
    if ctx is None or ctx.run is None:
        return None
    try:
        return _Span(ctx, *describe())
    except Exception:
        logger.exception("waxell-observe: could not record the start of an ADK agent run")
        return None


def _describe_agent(agent: Any, invocation: Any) -> tuple[str, str, dict[str, Any], Any, str | None]:
    author = str(getattr(agent, "name", "") or "") or None
    message = content_text(getattr(invocation, "user_content", None))
    return author or type(agent).__name__, "agent", _attributes(agent, invocation), message, author


def _describe_workflow(workflow: Any, node_input: Any) -> tuple[str, str, dict[str, Any], Any, str | None]:
    graph = getattr(workflow, "graph", None)
    nodes = [str(getattr(node, "name", "")) for node in getattr(graph, "nodes", None) or []]
    nodes = [node for node in nodes if node and node != "__START__"]
    attributes = {"framework": FRAMEWORK, "agent.class": type(workflow).__name__, "google_adk.nodes": nodes}
    message = content_text(node_input) if hasattr(node_input, "parts") else node_input
    return str(getattr(workflow, "name", "") or type(workflow).__name__), "chain", attributes, message, None


def _close(span: Any, exc: BaseException | None = None) -> None:
    if span is None:
        return
    try:
        span.close(exc)
    except Exception:
        logger.exception("waxell-observe: could not record the end of an ADK agent run")


async def _recorded(
    opener: Callable[[], Any], answer: Callable[[Any], _Answer | None], events: AsyncIterator[Any]
) -> AsyncIterator[Any]:
    """``events`` under the record ``opener`` makes when they are first asked for (None: unrecorded)."""
    span = opener()
    read = answer(span)
    try:
        async for event in events:
            if read is not None:
                read.read(event)
            yield event
    except GeneratorExit:  # the caller stopped iterating: the run ends here
        _close(span)
        raise
    except BaseException as exc:
        _close(span, exc)
        raise
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
    _close(span)


def _span_answer(span: _Span | None) -> _Answer | None:
    return span.answer if span is not None else None


def run_async_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``BaseAgent.run_async(parent_context)``: the agent's span over its events."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)
        invocation = kwargs.get("parent_context", args[0] if args else None)
        opener = lambda: _open(lambda: _describe_agent(instance, invocation))  # noqa: E731
        return _recorded(opener, _span_answer, wrapped(*args, **kwargs))

    return wrapper


def workflow_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``Workflow._run_impl(*, ctx, node_input)``: the graph's ``chain`` span over its events."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)
        opener = lambda: _open(lambda: _describe_workflow(instance, kwargs.get("node_input")))  # noqa: E731
        return _recorded(opener, _span_answer, wrapped(*args, **kwargs))

    return wrapper


class _OwnRun:
    """A run an invocation outside any run opened."""

    __slots__ = ("answer", "ctx")

    def __init__(self, runner: Any, kwargs: dict[str, Any]) -> None:
        agent = getattr(runner, "agent", None)
        name = str(getattr(agent, "name", "") or getattr(runner, "app_name", "") or "google_adk")
        session_id, user_id = kwargs.get("session_id"), kwargs.get("user_id")
        self.answer = _Answer(None)
        self.ctx = WaxellContext(
            agent_name=name,
            workflow_name=WORKFLOW,
            inputs={"input": jsonable(content_text(kwargs.get("new_message")))},
            metadata={"integration": FRAMEWORK},
            session_id=session_id if isinstance(session_id, str) else "",
            end_user_id=user_id if isinstance(user_id, str) else "",
        )
        self.ctx.__enter__()

    def close(self, exc: BaseException | None = None) -> None:
        if exc is None:
            self.ctx.set_result({"output": jsonable(self.answer.text)})
            self.ctx.__exit__(None, None, None)
        else:
            self.ctx.__exit__(type(exc), exc, exc.__traceback__)


def _open_run(runner: Any, kwargs: dict[str, Any]) -> _OwnRun | None:
    ctx = current_context.get()
    if (ctx is not None and ctx.run is not None) or not autocontext():
        return None
    try:
        return _OwnRun(runner, kwargs)
    except Exception:
        logger.exception("waxell-observe: could not open a run for an ADK invocation")
        return None


def _run_answer(run: _OwnRun | None) -> _Answer | None:
    return run.answer if run is not None else None


def runner_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``Runner.run_async(*, user_id, session_id, new_message, ...)``: outside any run, a run of its
    own over the invocation's events."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)
        return _recorded(lambda: _open_run(instance, kwargs), _run_answer, wrapped(*args, **kwargs))

    return wrapper
