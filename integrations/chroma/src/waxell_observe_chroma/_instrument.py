"""What the Chroma integration patches (``Collection.query``, sync and async) and how it reads it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target
from waxell_observe.instrumentation.retrieval import (
    SCORE_DISTANCE,
    Hit,
    Search,
    SearchEndpoint,
    async_search_wrapper,
    describe_vector,
    search_wrapper,
)

__all__ = [
    "INSTRUMENTATION",
    "QUERY",
    "TARGETS",
    "installed",
    "instrument",
    "is_instrumented",
    "uninstrument",
]


def _listed(value: Any) -> list[Any]:
    """Chroma accepts one query or a list of them."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _is_single_vector(value: Any) -> bool:
    try:
        first = value[0]
    except (TypeError, IndexError, KeyError):
        return False
    return (
        isinstance(first, (int, float))
        or type(first).__module__ == "numpy"
        and getattr(first, "ndim", 1) == 0
    )


def read_query(instance: Any, arguments: dict[str, Any]) -> list[Search]:
    """One search per query text (or per query vector when no text is given)."""
    texts = _listed(arguments.get("query_texts"))
    if texts:
        queries = [str(text) for text in texts]
    else:
        vectors = arguments.get("query_embeddings")
        if vectors is None:
            vectors = arguments.get("query_uris") or arguments.get("query_images")
            queries = [str(v) if isinstance(v, str) else "[image]" for v in _listed(vectors)]
        elif _is_single_vector(vectors):
            queries = [describe_vector(vectors)]
        else:
            queries = [describe_vector(vector) for vector in vectors]
    n_results = arguments.get("n_results")
    top_k = n_results if isinstance(n_results, int) and not isinstance(n_results, bool) else None
    filtered = bool(arguments.get("where") or arguments.get("where_document") or arguments.get("ids"))
    collection = getattr(instance, "name", "")
    return [
        Search(query, top_k, collection if isinstance(collection, str) else "", filtered) for query in queries
    ]


def _row(result: Any, key: str, index: int) -> list[Any] | None:
    rows = result.get(key) if isinstance(result, dict) else None
    if not rows or index >= len(rows) or rows[index] is None:
        return None
    return list(rows[index])


def read_hits(result: Any, searches: list[Search]) -> list[list[Hit]]:
    """A ``QueryResult``: per query, ids with distances, documents and metadatas (when included)."""
    answers: list[list[Hit]] = []
    for index in range(len(searches)):
        ids = _row(result, "ids", index) or []
        distances = _row(result, "distances", index)
        documents = _row(result, "documents", index)
        metadatas = _row(result, "metadatas", index)
        answers.append(
            [
                Hit(
                    str(doc_id),
                    float(distances[i]) if distances is not None and distances[i] is not None else None,
                    documents[i] if documents is not None and isinstance(documents[i], str) else None,
                    metadatas[i] if metadatas is not None and isinstance(metadatas[i], dict) else None,
                )
                for i, doc_id in enumerate(ids)
            ]
        )
    return answers


QUERY = SearchEndpoint("chroma", "query", read_query, read_hits, score_kind=SCORE_DISTANCE)


def _factory(is_async: bool) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        return (async_search_wrapper if is_async else search_wrapper)(QUERY, active)

    return make


TARGETS: tuple[Target, ...] = (
    Target("chromadb.api.models.Collection", "Collection", "query", _factory(False)),
    Target("chromadb.api.models.AsyncCollection", "AsyncCollection", "query", _factory(True)),
)

INSTRUMENTATION = Instrumentation("chroma", TARGETS, sdk="chromadb")

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
