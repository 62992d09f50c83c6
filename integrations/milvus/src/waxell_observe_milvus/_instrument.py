"""What the Milvus integration patches (``MilvusClient.search`` and ``AsyncMilvusClient.search``)
and how it reads them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target
from waxell_observe.instrumentation.retrieval import (
    SCORE_DISTANCE,
    SCORE_SIMILARITY,
    Hit,
    Search,
    SearchEndpoint,
    async_search_wrapper,
    describe_vector,
    search_wrapper,
)

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]

TEXT_FIELDS = ("text", "document", "page_content", "content")
"""Output fields whose string value is taken as an entity's text (content capture only)."""

METRIC_SCORES = {
    "L2": SCORE_DISTANCE,
    "HAMMING": SCORE_DISTANCE,
    "JACCARD": SCORE_DISTANCE,
    "IP": SCORE_SIMILARITY,
    "COSINE": SCORE_SIMILARITY,
    "BM25": SCORE_SIMILARITY,
}
"""What Milvus's ``distance`` means under each metric (when the call names its metric)."""


def _query(item: Any) -> str:
    return item if isinstance(item, str) else describe_vector(item)


def read_search(instance: Any, arguments: dict[str, Any]) -> list[Search]:
    """One search per query in ``data`` (vectors, or texts for a full-text search)."""
    data = arguments.get("data") or []
    limit = arguments.get("limit")
    params = arguments.get("search_params")
    metric = params.get("metric_type") if isinstance(params, Mapping) else None
    collection = arguments.get("collection_name")
    return [
        Search(
            _query(item),
            limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
            collection if isinstance(collection, str) else "",
            bool(arguments.get("filter")),
            METRIC_SCORES.get(str(metric).upper(), "") if metric else "",
        )
        for item in data
    ]


def _hit(found: Any) -> Hit:
    get: Callable[[str], Any] = (
        found.get if isinstance(found, Mapping) else lambda key: getattr(found, key, None)
    )
    entity = get("entity")
    entity = dict(entity) if isinstance(entity, Mapping) else {}
    content = next((entity[k] for k in TEXT_FIELDS if isinstance(entity.get(k), str)), None)
    distance = get("distance")
    return Hit(
        str(get("id")),
        float(distance) if isinstance(distance, (int, float)) else None,
        content,
        {k: v for k, v in entity.items() if k not in TEXT_FIELDS} or None,
    )


def read_hits(result: Any, searches: list[Search]) -> list[list[Hit]]:
    """A ``SearchResult``: per query, its hits (``id``, ``distance``, ``entity``)."""
    return [[_hit(found) for found in hits] for hits in result]


SEARCH = SearchEndpoint("milvus", "search", read_search, read_hits, score_kind="")


def _factory(is_async: bool) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        return (async_search_wrapper if is_async else search_wrapper)(SEARCH, active)

    return make


TARGETS: tuple[Target, ...] = (
    Target("pymilvus.milvus_client.milvus_client", "MilvusClient", "search", _factory(False)),
    Target("pymilvus.milvus_client.async_milvus_client", "AsyncMilvusClient", "search", _factory(True)),
)

INSTRUMENTATION = Instrumentation("milvus", TARGETS, sdk="pymilvus")

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
