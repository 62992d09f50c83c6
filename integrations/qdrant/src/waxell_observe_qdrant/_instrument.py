"""What the Qdrant integration patches (``query_points`` / ``query_batch_points`` /
``query_points_groups``, sync and async) and how it reads them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target, get
from waxell_observe.instrumentation.retrieval import (
    SCORE_SIMILARITY,
    Hit,
    Search,
    SearchEndpoint,
    async_search_wrapper,
    describe_vector,
    search_wrapper,
)

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]

TEXT_KEYS = ("text", "document", "page_content", "content")
"""Payload keys whose string value is taken as a point's text (content capture only)."""


def describe_query(query: Any) -> str:
    """A Qdrant query as text: a document's text, a point id, a vector's size, or the query type."""
    if query is None:
        return "[no query]"
    if isinstance(query, str):
        return f"[point {query}]"
    if isinstance(query, int) and not isinstance(query, bool):
        return f"[point {query}]"
    text = getattr(query, "text", None)
    if isinstance(text, str):
        return text
    nearest = getattr(query, "nearest", None)
    if nearest is not None:
        return describe_query(nearest)
    if isinstance(query, (list, tuple)) or type(query).__module__ == "numpy":
        return describe_vector(query)
    if type(query).__name__ == "UUID":
        return f"[point {query}]"
    return f"[{type(query).__name__}]"


def _search(collection: Any, query: Any, limit: Any, query_filter: Any) -> Search:
    top_k = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
    name = collection if isinstance(collection, str) else ""
    return Search(describe_query(query), top_k, name, query_filter is not None)


def read_query(instance: Any, arguments: dict[str, Any]) -> list[Search]:
    """``query_points`` / ``query_points_groups``: one search."""
    return [
        _search(
            arguments.get("collection_name"),
            arguments.get("query"),
            arguments.get("limit"),
            arguments.get("query_filter"),
        )
    ]


def read_batch(instance: Any, arguments: dict[str, Any]) -> list[Search]:
    """``query_batch_points``: one search per ``QueryRequest``."""
    collection = arguments.get("collection_name")
    return [
        _search(collection, get(request, "query"), get(request, "limit"), get(request, "filter"))
        for request in arguments.get("requests") or ()
    ]


def _hit(point: Any) -> Hit:
    payload = getattr(point, "payload", None)
    content = None
    if isinstance(payload, Mapping):
        content = next((payload[k] for k in TEXT_KEYS if isinstance(payload.get(k), str)), None)
    score = getattr(point, "score", None)
    return Hit(
        str(getattr(point, "id", "")),
        float(score) if isinstance(score, (int, float)) else None,
        content,
        payload if isinstance(payload, Mapping) else None,
    )


def read_points(result: Any, searches: list[Search]) -> list[list[Hit]]:
    """A ``QueryResponse``: its scored points."""
    return [[_hit(point) for point in getattr(result, "points", None) or ()]]


def read_batch_points(result: Any, searches: list[Search]) -> list[list[Hit]]:
    """A list of ``QueryResponse``, one per request."""
    return [[_hit(point) for point in getattr(answer, "points", None) or ()] for answer in result or ()]


def read_groups(result: Any, searches: list[Search]) -> list[list[Hit]]:
    """A ``GroupsResult``: the points of every group, in order."""
    return [[_hit(point) for group in getattr(result, "groups", None) or () for point in group.hits]]


QUERY = SearchEndpoint("qdrant", "query_points", read_query, read_points, score_kind=SCORE_SIMILARITY)
BATCH = SearchEndpoint("qdrant", "query_batch_points", read_batch, read_batch_points)
GROUPS = SearchEndpoint("qdrant", "query_points_groups", read_query, read_groups)


def _factory(endpoint: SearchEndpoint, is_async: bool) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        return (async_search_wrapper if is_async else search_wrapper)(endpoint, active)

    return make


_MODULE = "qdrant_client.qdrant_client"
_ASYNC_MODULE = "qdrant_client.async_qdrant_client"

TARGETS: tuple[Target, ...] = tuple(
    target
    for method, endpoint in (
        ("query_points", QUERY),
        ("query_batch_points", BATCH),
        ("query_points_groups", GROUPS),
    )
    for target in (
        Target(_MODULE, "QdrantClient", method, _factory(endpoint, False)),
        Target(_ASYNC_MODULE, "AsyncQdrantClient", method, _factory(endpoint, True)),
    )
)

INSTRUMENTATION = Instrumentation("qdrant", TARGETS, sdk="qdrant_client")

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
