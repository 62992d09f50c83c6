"""What the Weaviate integration patches (a collection's ``query.*`` and ``generate.*`` searches:
``near_vector``, ``near_text``, ``near_object``, ``near_image``, ``near_media``, ``hybrid``, ``bm25``
and ``fetch_objects``) and how it reads them.

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

ReadResult = Callable[[Any, list[Search]], list[list[Hit]]]

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


def read_near_image(instance: Any, arguments: dict[str, Any]) -> list[Search]:
    """``near_image``: an image, never recorded itself."""
    return [_near_search("[image]", instance, arguments)]


def read_near_media(instance: Any, arguments: dict[str, Any]) -> list[Search]:
    """``near_media``: the kind of media searched by (audio, video, ...)."""
    media_type = arguments.get("media_type")
    kind = getattr(media_type, "value", media_type)
    return [_near_search(f"[{kind} media]", instance, arguments)]


_READERS: dict[str, tuple[Callable[[Any, dict[str, Any]], list[Search]], ReadResult, str]] = {
    "near_vector": (read_near_vector, read_near_objects, SCORE_DISTANCE),
    "near_text": (read_near_text, read_near_objects, SCORE_DISTANCE),
    "near_object": (read_near_object, read_near_objects, SCORE_DISTANCE),
    "near_image": (read_near_image, read_near_objects, SCORE_DISTANCE),
    "near_media": (read_near_media, read_near_objects, SCORE_DISTANCE),
    "hybrid": (read_keyword, read_scored_objects, SCORE_SIMILARITY),
    "bm25": (read_keyword, read_scored_objects, SCORE_SIMILARITY),
    "fetch_objects": (read_fetch, read_fetched_objects, ""),
}
"""Each captured method: how its searches and objects are read, what its scores mean."""

_EXECUTORS = {
    "near_vector": "NearVector",
    "near_text": "NearText",
    "near_object": "NearObject",
    "near_image": "NearImage",
    "near_media": "NearMedia",
    "hybrid": "Hybrid",
    "bm25": "BM25",
    "fetch_objects": "FetchObjects",
}
"""Method -> the stem of its executor classes (``_<stem>QueryExecutor``, ``_<stem>GenerateExecutor``)."""


def endpoint(method: str, generate: bool) -> SearchEndpoint:
    """The endpoint of ``collection.query.<method>`` (``generate``: ``collection.generate.<method>``,
    recorded as operation ``generate.<method>``)."""
    read_request, read_result, score_kind = _READERS[method]
    operation = f"generate.{method}" if generate else method
    return SearchEndpoint("weaviate", operation, read_request, read_result, score_kind=score_kind)


def _factory(endpoint: SearchEndpoint) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        return colourless_search_wrapper(endpoint, active)

    return make


_QUERIES = "weaviate.collections.queries"

TARGETS: tuple[Target, ...] = tuple(
    Target(
        f"{_QUERIES}.{method}.{'generate' if generate else 'query'}.executor",
        f"_{stem}{'Generate' if generate else 'Query'}Executor",
        method,
        _factory(endpoint(method, generate)),
    )
    for method, stem in _EXECUTORS.items()
    for generate in (False, True)
)

INSTRUMENTATION = Instrumentation("weaviate", TARGETS, sdk="weaviate")

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
