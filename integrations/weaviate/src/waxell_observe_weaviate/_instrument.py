"""What the Weaviate integration patches (a collection's ``query.near_vector``, ``near_text``,
``near_object``, ``hybrid``, ``bm25`` and ``fetch_objects``) and how it reads them.

weaviate-client v4 defines each query method once, on an executor class that the sync and the
async collection share: the method answers a value through a sync connection and an awaitable
through an async one. So each method is patched once, on its executor, with a wrapper that
records the search when the value is there, whichever it is.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target
from waxell_observe.instrumentation.retrieval import (
    SCORE_DISTANCE,
    SCORE_SIMILARITY,
    Hit,
    Search,
    SearchEndpoint,
    colourless_search_wrapper,
    describe_vector,
)

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]

TEXT_KEYS = ("text", "content", "document", "page_content", "body", "chunk")
"""Property names whose string value is taken as an object's text (content capture only)."""

FETCH_MARKER = "[fetch objects]"
"""The query of a ``fetch_objects`` call, which has none."""


def _asked(return_metadata: Any, field: str) -> bool:
    """True when a query's ``return_metadata`` (a ``MetadataQuery`` or a list of names) asks for
    ``field``."""
    if return_metadata is None:
        return False
    if isinstance(return_metadata, (list, tuple, set)):
        return field in return_metadata
    return getattr(return_metadata, field, False) is True


def _top_k(limit: Any) -> int | None:
    return limit if isinstance(limit, int) and not isinstance(limit, bool) else None


def _collection(instance: Any) -> str:
    name = getattr(instance, "_name", "")
    return name if isinstance(name, str) else ""


def describe_near_vector(vector: Any) -> str:
    """A ``near_vector`` query as text: the vector's size, or the named vectors it searches."""
    if isinstance(vector, Mapping):
        parts = ", ".join(f"{name}: {describe_vector(value).strip('[]')}" for name, value in vector.items())
        return f"[named vectors {parts}]"
    return describe_vector(vector)


def _describe_text(query: Any) -> str:
    if isinstance(query, str):
        return query
    if isinstance(query, (list, tuple)) and all(isinstance(part, str) for part in query):
        return " | ".join(query)
    return f"[{type(query).__name__}]"


def _near_search(query: str, instance: Any, arguments: dict[str, Any]) -> Search:
    """A ``near_*`` search: its scores are distances, or certainties when only those are asked."""
    metadata = arguments.get("return_metadata")
    kind = SCORE_DISTANCE
    if _asked(metadata, "certainty") and not _asked(metadata, "distance"):
        kind = SCORE_SIMILARITY
    return Search(
        query,
        _top_k(arguments.get("limit")),
        _collection(instance),
        arguments.get("filters") is not None,
        kind,
    )


def read_near_vector(instance: Any, arguments: dict[str, Any]) -> list[Search]:
    """``near_vector``: the vector's size as the query."""
    return [_near_search(describe_near_vector(arguments.get("near_vector")), instance, arguments)]


def read_near_text(instance: Any, arguments: dict[str, Any]) -> list[Search]:
    """``near_text``: the concepts searched for."""
    return [_near_search(_describe_text(arguments.get("query")), instance, arguments)]


def read_near_object(instance: Any, arguments: dict[str, Any]) -> list[Search]:
    """``near_object``: the object whose neighbours are searched."""
    return [_near_search(f"[object {arguments.get('near_object')}]", instance, arguments)]


def read_keyword(instance: Any, arguments: dict[str, Any]) -> list[Search]:
    """``bm25`` / ``hybrid``: the query text (a hybrid search without one: its vector's size)."""
    query = arguments.get("query")
    if query is None:
        vector = arguments.get("vector")
        text = describe_near_vector(vector) if vector is not None else "[no query]"
    else:
        text = _describe_text(query)
    return [
        Search(
            text, _top_k(arguments.get("limit")), _collection(instance), arguments.get("filters") is not None
        )
    ]


def read_fetch(instance: Any, arguments: dict[str, Any]) -> list[Search]:
    """``fetch_objects``: no query, a page of objects (``limit``), maybe filtered."""
    return [
        Search(
            FETCH_MARKER,
            _top_k(arguments.get("limit")),
            _collection(instance),
            arguments.get("filters") is not None,
        )
    ]


def _plain(value: Any) -> Any:
    """A property value as JSON can hold it (dates, uuids and the like as text)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (datetime.date, uuid.UUID)):
        return str(value)
    return repr(value)


def _hit(obj: Any, score_field: str) -> Hit:
    properties = getattr(obj, "properties", None)
    content = None
    metadata: dict[str, Any] | None = None
    if isinstance(properties, Mapping):
        content = next((properties[k] for k in TEXT_KEYS if isinstance(properties.get(k), str)), None)
        metadata = {str(key): _plain(value) for key, value in properties.items()}
    score = getattr(getattr(obj, "metadata", None), score_field, None) if score_field else None
    return Hit(
        str(getattr(obj, "uuid", "")),
        float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None,
        content,
        metadata,
    )


def _objects(result: Any) -> list[Any]:
    return list(getattr(result, "objects", None) or ())


def read_near_objects(result: Any, searches: list[Search]) -> list[list[Hit]]:
    """A near search's objects, scored by distance (or certainty, when only that was asked)."""
    field = "certainty" if searches and searches[0].score_kind == SCORE_SIMILARITY else "distance"
    return [[_hit(obj, field) for obj in _objects(result)]]


def read_scored_objects(result: Any, searches: list[Search]) -> list[list[Hit]]:
    """A ``bm25`` / ``hybrid`` search's objects, scored by their ``score``."""
    return [[_hit(obj, "score") for obj in _objects(result)]]


def read_fetched_objects(result: Any, searches: list[Search]) -> list[list[Hit]]:
    """The objects ``fetch_objects`` answered (no scores)."""
    return [[_hit(obj, "") for obj in _objects(result)]]


NEAR_VECTOR = SearchEndpoint(
    "weaviate", "near_vector", read_near_vector, read_near_objects, score_kind=SCORE_DISTANCE
)
NEAR_TEXT = SearchEndpoint(
    "weaviate", "near_text", read_near_text, read_near_objects, score_kind=SCORE_DISTANCE
)
NEAR_OBJECT = SearchEndpoint(
    "weaviate", "near_object", read_near_object, read_near_objects, score_kind=SCORE_DISTANCE
)
HYBRID = SearchEndpoint("weaviate", "hybrid", read_keyword, read_scored_objects, score_kind=SCORE_SIMILARITY)
BM25 = SearchEndpoint("weaviate", "bm25", read_keyword, read_scored_objects, score_kind=SCORE_SIMILARITY)
FETCH_OBJECTS = SearchEndpoint("weaviate", "fetch_objects", read_fetch, read_fetched_objects, score_kind="")


def _factory(endpoint: SearchEndpoint) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        return colourless_search_wrapper(endpoint, active)

    return make


_QUERIES = "weaviate.collections.queries"

TARGETS: tuple[Target, ...] = tuple(
    Target(f"{_QUERIES}.{package}.query.executor", executor, endpoint.operation, _factory(endpoint))
    for package, executor, endpoint in (
        ("near_vector", "_NearVectorQueryExecutor", NEAR_VECTOR),
        ("near_text", "_NearTextQueryExecutor", NEAR_TEXT),
        ("near_object", "_NearObjectQueryExecutor", NEAR_OBJECT),
        ("hybrid", "_HybridQueryExecutor", HYBRID),
        ("bm25", "_BM25QueryExecutor", BM25),
        ("fetch_objects", "_FetchObjectsQueryExecutor", FETCH_OBJECTS),
    )
)

INSTRUMENTATION = Instrumentation("weaviate", TARGETS, sdk="weaviate")

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
