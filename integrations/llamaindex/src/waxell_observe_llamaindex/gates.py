"""The surface gates of LlamaIndex calls, as patches (LlamaIndex's dispatcher swallows whatever its
handlers raise, so a refusal cannot come from a handler).

* ``FunctionTool.call`` / ``acall`` — the ``tool.before`` gate (tool name and arguments) before the tool
  runs: a refusal raises :class:`~waxell_observe.errors.PolicyViolationError` and the tool is not called;
  ``redact`` scrubs the arguments it is called with.
* ``BaseRetriever.retrieve`` / ``aretrieve`` — the ``retrieval.after`` gate on the nodes retrieved (query,
  texts, scores): a ``block`` raises before the nodes reach the caller.
* ``CallbackManager.on_event_start`` / ``on_event_end`` — the ``llm.before`` gate of every LLM call, whatever
  the LLM class and whether or not its provider SDK is instrumented (:mod:`~.llm_gate`).

A tool that passed its gate holds ``tool.before`` while it runs (an instrumented MCP client it calls does not
ask again); a model call holds ``llm.before`` (the provider SDK's wrapper underneath does not ask again).
"""

from __future__ import annotations

from typing import Any

from waxell_observe.instrumentation import Patcher, Target, gate_framework_tool, gate_retrieval, release
from waxell_observe_llamaindex.llm_gate import TARGET_MODULE, event_end_wrapper, event_start_wrapper

__all__ = ["PATCHER"]

Kwargs = dict[str, Any]


def _tool_name(instance: Any) -> str:
    metadata = getattr(instance, "metadata", None)
    name = getattr(metadata, "name", None)
    return name if isinstance(name, str) and name else type(instance).__name__


def _gated_arguments(
    instance: Any, args: tuple[Any, ...], kwargs: Kwargs
) -> tuple[tuple[Any, ...], Kwargs, Any]:
    """The arguments to call the tool with, and the ``tool.before`` hold to release once it returned."""
    arguments: Kwargs = {f"arg{i}": value for i, value in enumerate(args)}
    arguments.update(kwargs)
    gated, made = gate_framework_tool(_tool_name(instance), arguments)
    if gated is arguments:
        return args, kwargs, made
    positional = tuple(gated.pop(f"arg{i}") for i in range(len(args)))
    return positional, gated, made


def _tool_sync(active: Any) -> Any:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Kwargs) -> Any:
        if not active():
            return wrapped(*args, **kwargs)
        args, kwargs, made = _gated_arguments(instance, args, kwargs)
        try:
            return wrapped(*args, **kwargs)
        finally:
            release(made)

    return wrapper


def _tool_async(active: Any) -> Any:
    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Kwargs) -> Any:
        if not active():
            return await wrapped(*args, **kwargs)
        args, kwargs, made = _gated_arguments(instance, args, kwargs)
        try:
            return await wrapped(*args, **kwargs)
        finally:
            release(made)

    return wrapper


def _query(args: tuple[Any, ...], kwargs: Kwargs) -> str:
    value = args[0] if args else kwargs.get("str_or_query_bundle")
    text = getattr(value, "query_str", value)
    return text if isinstance(text, str) else ""


def _gate_nodes(instance: Any, args: tuple[Any, ...], kwargs: Kwargs, nodes: Any) -> None:
    documents: list[dict[str, Any]] = []
    scores: list[float] = []
    for item in nodes or ():
        node = getattr(item, "node", item)
        text = getattr(node, "text", None) or getattr(node, "get_content", lambda: "")()
        documents.append(
            {"id": str(getattr(node, "node_id", "") or ""), "text": text if isinstance(text, str) else ""}
        )
        score = getattr(item, "score", None)
        if isinstance(score, (int, float)) and not isinstance(score, bool):
            scores.append(float(score))
    gate_retrieval(_query(args, kwargs), documents, source=type(instance).__name__, scores=scores or None)


def _retrieve_sync(active: Any) -> Any:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Kwargs) -> Any:
        nodes = wrapped(*args, **kwargs)
        if active():
            _gate_nodes(instance, args, kwargs, nodes)
        return nodes

    return wrapper


def _retrieve_async(active: Any) -> Any:
    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Kwargs) -> Any:
        nodes = await wrapped(*args, **kwargs)
        if active():
            _gate_nodes(instance, args, kwargs, nodes)
        return nodes

    return wrapper


_TOOLS = "llama_index.core.tools.function_tool"
_RETRIEVERS = "llama_index.core.base.base_retriever"

PATCHER = Patcher(
    "llamaindex",
    (
        Target(_TOOLS, "FunctionTool", "call", _tool_sync),
        Target(_TOOLS, "FunctionTool", "acall", _tool_async),
        Target(_RETRIEVERS, "BaseRetriever", "retrieve", _retrieve_sync),
        Target(_RETRIEVERS, "BaseRetriever", "aretrieve", _retrieve_async),
        Target(TARGET_MODULE, "CallbackManager", "on_event_start", event_start_wrapper),
        Target(TARGET_MODULE, "CallbackManager", "on_event_end", event_end_wrapper),
    ),
)
"""The gate patches (applied with the handlers by :func:`~.attach.instrument`)."""
