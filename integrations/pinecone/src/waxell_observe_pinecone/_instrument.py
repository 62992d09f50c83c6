"""What the Pinecone integration patches (``Index.query`` and ``AsyncIndex.query``) and how it
reads them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target, get, positive_int
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

TEXT_KEYS = ("text", "document", "page_content", "content", "chunk_text")
"""Metadata keys whose string value is taken as a match's text (content capture only)."""


def read_query(instance: Any, arguments: dict[str, Any]) -> list[Search]:
    """One search: by vector, by sparse vector or by the id of a stored record; the namespace is
    the collection."""
    record_id = arguments.get("id")
    if isinstance(record_id, str) and record_id:
        query = f"[record {record_id}]"
    elif arguments.get("vector") is not None:
        query = describe_vector(arguments.get("vector"))
    else:
        query = "[sparse vector]"
    top_k = arguments.get("top_k")
    namespace = arguments.get("namespace")
    return [
        Search(
            query,
            top_k if isinstance(top_k, int) and not isinstance(top_k, bool) else None,
            namespace if isinstance(namespace, str) else "",
            bool(arguments.get("filter")),
        )
    ]


def _hit(match: Any) -> Hit:
    metadata = get(match, "metadata")
    metadata = dict(metadata) if isinstance(metadata, Mapping) else None
    content = (
        next((metadata[k] for k in TEXT_KEYS if isinstance(metadata.get(k), str)), None) if metadata else None
    )
    score = get(match, "score")
    return Hit(
        str(get(match, "id")), float(score) if isinstance(score, (int, float)) else None, content, metadata
    )


def read_matches(result: Any, searches: list[Search]) -> list[list[Hit]]:
    """A ``QueryResponse``: its matches."""
    return [[_hit(match) for match in get(result, "matches") or ()]]


def read_units(result: Any) -> dict[str, Any]:
    """The read units the query cost, when Pinecone reports them."""
    units = positive_int(get(result, "usage", "read_units"))
    return {"read_units": units} if units else {}


QUERY = SearchEndpoint(
    "pinecone", "query", read_query, read_matches, score_kind=SCORE_SIMILARITY, usage=read_units
)


def _factory(is_async: bool) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        return (async_search_wrapper if is_async else search_wrapper)(QUERY, active)

    return make


TARGETS: tuple[Target, ...] = (
    Target("pinecone.index", "Index", "query", _factory(False)),
    Target("pinecone.async_client.async_index", "AsyncIndex", "query", _factory(True)),
)

INSTRUMENTATION = Instrumentation("pinecone", TARGETS, sdk="pinecone")

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
