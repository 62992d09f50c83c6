"""The surface gates of LlamaIndex calls, as patches (LlamaIndex's dispatcher swallows whatever its
handlers raise, so a refusal cannot come from a handler).

* ``FunctionTool.call`` / ``acall`` — the ``tool.before`` gate (tool name and arguments) before the tool
  runs: a refusal raises :class:`~waxell_observe.errors.PolicyViolationError` and the tool is not called;
  ``redact`` scrubs the arguments it is called with.
* ``BaseRetriever.retrieve`` / ``aretrieve`` — the ``retrieval.after`` gate on the nodes retrieved (query,
  texts, scores): a ``block`` raises before the nodes reach the caller.

``llm.before`` needs nothing here: LlamaIndex's LLM classes call the provider SDKs, whose wrappers gate.
"""

from __future__ import annotations

from typing import Any

from waxell_observe.instrumentation import Patcher, Target, gate_retrieval, gate_tool_call

__all__ = ["PATCHER"]

Kwargs = dict[str, Any]


def _tool_name(instance: Any) -> str:
    metadata = getattr(instance, "metadata", None)
    name = getattr(metadata, "name", None)
    return name if isinstance(name, str) and name else type(instance).__name__


def _gated_arguments(instance: Any, args: tuple[Any, ...], kwargs: Kwargs) -> tuple[tuple[Any, ...], Kwargs]:
    arguments: Kwargs = {f"arg{i}": value for i, value in enumerate(args)}
    arguments.update(kwargs)
    gated = gate_tool_call(_tool_name(instance), arguments)
    if gated is arguments:
        return args, kwargs
    positional = tuple(gated.pop(f"arg{i}") for i in range(len(args)))
    return positional, gated


def _tool_sync(active: Any) -> Any:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Kwargs) -> Any:
        if active():
            args, kwargs = _gated_arguments(instance, args, kwargs)
        return wrapped(*args, **kwargs)

    return wrapper


def _tool_async(active: Any) -> Any:
    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Kwargs) -> Any:
        if active():
            args, kwargs = _gated_arguments(instance, args, kwargs)
        return await wrapped(*args, **kwargs)

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
    ),
)
"""The gate patches (applied with the handlers by :func:`~.attach.instrument`)."""
