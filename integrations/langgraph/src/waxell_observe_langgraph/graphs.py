"""Graph invocations: a subgraph is a child run, and a graph run outside any run gets a run of its own.

``Pregel.invoke`` / ``ainvoke`` / ``stream`` / ``astream`` are wrapped. A graph invoked while
another graph runs in the same context (a subgraph: a node that is a compiled graph, or a node
that invokes one) runs inside a child :class:`~waxell_observe.WaxellContext` of the current run:
agent = the graph's name, workflow ``langgraph``, metadata ``langgraph.graph`` and the node it
ran in. A top-level graph inside a run records onto that run; outside any run it opens one of
its own (unless ``WAXELL_LANGGRAPH_AUTOCONTEXT`` is ``false``/``0``/``no``/``off``). What runs in the
graph (nodes as steps, model calls, tools) is recorded by the LangChain integration onto the
run current when it happens, so a subgraph's nodes land on its child run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import suppress
from contextvars import ContextVar
from typing import Any

from waxell_observe.context import WaxellContext
from waxell_observe.current import current_context
from waxell_observe.instrumentation import recording_enabled

__all__ = ["GRAPH_WORKFLOW", "autocontext", "invoke_wrapper", "stream_wrapper"]

logger = logging.getLogger("waxell_observe")

GRAPH_WORKFLOW = "langgraph"
AUTOCONTEXT_VARIABLE = "WAXELL_LANGGRAPH_AUTOCONTEXT"

_calling: ContextVar[Any] = ContextVar("waxell_observe_langgraph_calling", default=None)
"""The graph whose call is being wrapped here (its ``invoke`` calls its own ``stream``)."""
_depth: ContextVar[int] = ContextVar("waxell_observe_langgraph_depth", default=0)
"""How many graphs are running in this context."""


def autocontext() -> bool:
    """False when ``WAXELL_LANGGRAPH_AUTOCONTEXT`` turns off runs of a graph's own."""
    value = os.environ.get(AUTOCONTEXT_VARIABLE, "").strip().lower()
    return value not in ("false", "0", "no", "off")


def _graph_name(graph: Any) -> str:
    name = getattr(graph, "name", None)
    return name if isinstance(name, str) and name else "LangGraph"


def _graph_run(graph: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> WaxellContext | None:
    """The run this graph call should open (None: it records onto the current run, or nowhere)."""
    nested = _depth.get() > 0
    ctx = current_context.get()
    in_run = ctx is not None and ctx.run is not None
    if not nested and (in_run or not autocontext()):
        return None
    config = kwargs.get("config") if "config" in kwargs else (args[1] if len(args) > 1 else None)
    metadata: dict[str, Any] = {"integration": GRAPH_WORKFLOW, "langgraph.graph": _graph_name(graph)}
    node = (config or {}).get("metadata", {}).get("langgraph_node") if isinstance(config, dict) else None
    if isinstance(node, str) and node:
        metadata["langgraph.parent_node"] = node
    graph_input = kwargs.get("input", args[0] if args else None)
    inputs = graph_input if isinstance(graph_input, dict) else {"input": graph_input}
    try:
        return WaxellContext(
            agent_name=_graph_name(graph),
            workflow_name=GRAPH_WORKFLOW,
            inputs=inputs,
            metadata=metadata,
        )
    except Exception:
        logger.exception("waxell-observe: could not open a run for the LangGraph graph")
        return None


def _reset(calling: Any, depth: Any) -> None:
    """Undo the marks of a graph call (a stream finalized in another context leaves them there)."""
    with suppress(ValueError):
        _depth.reset(depth)
        _calling.reset(calling)


def _result(value: Any) -> Any:
    return value if isinstance(value, dict) else {"output": value}


def invoke_wrapper(active: Callable[[], bool], is_async: bool) -> Callable[..., Any]:
    """A wrapt wrapper for ``Pregel.invoke`` (or ``ainvoke``)."""

    def enter(
        instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, WaxellContext | None]:
        run = _graph_run(instance, args, kwargs)
        return (_calling.set(instance), _depth.set(_depth.get() + 1)), run

    def leave(tokens: Any) -> None:
        _reset(*tokens)

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if _calling.get() is instance or not recording_enabled(active, "langgraph"):
            return wrapped(*args, **kwargs)
        tokens, run = enter(instance, args, kwargs)
        try:
            if run is None:
                return wrapped(*args, **kwargs)
            with run:
                output = wrapped(*args, **kwargs)
                run.set_result(_result(output))
                return output
        finally:
            leave(tokens)

    async def async_wrapper(
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if _calling.get() is instance or not recording_enabled(active, "langgraph"):
            return await wrapped(*args, **kwargs)
        tokens, run = enter(instance, args, kwargs)
        try:
            if run is None:
                return await wrapped(*args, **kwargs)
            async with run:
                output = await wrapped(*args, **kwargs)
                run.set_result(_result(output))
                return output
        finally:
            leave(tokens)

    return async_wrapper if is_async else wrapper


def stream_wrapper(active: Callable[[], bool], is_async: bool) -> Callable[..., Any]:
    """A wrapt wrapper for ``Pregel.stream`` (or ``astream``): the run spans the whole iteration."""

    def sync_stream(
        instance: Any, iterator_of: Callable[[], Iterator[Any]], run: WaxellContext | None
    ) -> Iterator[Any]:
        calling, depth = _calling.set(instance), _depth.set(_depth.get() + 1)
        try:
            if run is None:
                yield from iterator_of()
                return
            with run:
                last = None
                try:
                    for chunk in iterator_of():
                        last = chunk
                        yield chunk
                except GeneratorExit:
                    run.set_metadata("langgraph.partial", True)  # the caller stopped reading
                    raise
                run.set_result(_result(last))
        finally:
            _reset(calling, depth)

    async def async_stream(
        instance: Any, iterator_of: Callable[[], AsyncIterator[Any]], run: WaxellContext | None
    ) -> AsyncIterator[Any]:
        calling, depth = _calling.set(instance), _depth.set(_depth.get() + 1)
        try:
            if run is None:
                async for chunk in iterator_of():
                    yield chunk
                return
            async with run:
                last = None
                async for chunk in iterator_of():
                    last = chunk
                    yield chunk
                run.set_result(_result(last))
        finally:
            _reset(calling, depth)

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if _calling.get() is instance or not recording_enabled(active, "langgraph"):
            return wrapped(*args, **kwargs)
        run = _graph_run(instance, args, kwargs)
        if is_async:
            return async_stream(instance, lambda: wrapped(*args, **kwargs), run)
        return sync_stream(instance, lambda: wrapped(*args, **kwargs), run)

    return wrapper
