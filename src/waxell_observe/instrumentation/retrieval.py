"""Vector store searches as ``retrieval`` spans on the current run.

A vector store integration describes one family of search methods with a :class:`SearchEndpoint`:
how to read the searches a call asks for (:class:`Search`: the query, top-k, collection) and the
hits it answered per search (:class:`Hit`: id, score, content, metadata). :func:`search_wrapper`
and :func:`async_search_wrapper` (and :func:`colourless_search_wrapper`, for one method that answers
a value or an awaitable depending on its client, as weaviate-client's do) turn that description
into wrapt wrappers that time the call and record one ``retrieval`` span per search, laid out
as :meth:`WaxellContext.record_retrieval` lays out its spans: input ``{"query"}``, output
``{"documents": [{"id", "score", ...}]}``, attributes ``source``, ``document_count``, ``top_k``,
``scores`` — plus the store's name, operation, collection and what its scores mean (a distance:
lower is closer; a similarity: higher is).

Document ids and scores are always recorded; document text and metadata only when
``capture_content`` is on. After each search the ``retrieval.after`` gate judges what it found
(a ``block`` raises :class:`~waxell_observe.errors.PolicyViolationError` to the caller instead of
the answer). A search made outside any run is not recorded. A failed search is a
``retrieval`` span with status ``error``; the SDK's exception reaches the caller unchanged, and
anything that goes wrong in our own reading of the call is logged, never raised.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from waxell_observe.config import ObserveConfig
from waxell_observe.current import current_context
from waxell_observe.errors import PolicyViolationError
from waxell_observe.instrumentation.gates import gate_retrieval
from waxell_observe.instrumentation.wrappers import recording_enabled

__all__ = [
    "SCORE_DISTANCE",
    "SCORE_SIMILARITY",
    "Hit",
    "Search",
    "SearchEndpoint",
    "async_search_wrapper",
    "call_arguments",
    "colourless_search_wrapper",
    "describe_vector",
    "record_searches",
    "search_wrapper",
]

logger = logging.getLogger("waxell_observe")

SCORE_DISTANCE = "distance"
"""Scores are distances: lower is closer (Chroma, LanceDB, pgvector's ``<->``)."""
SCORE_SIMILARITY = "similarity"
"""Scores are similarities: higher is closer (Qdrant, Pinecone)."""

ERROR_LIMIT = 2000
Args = tuple[Any, ...]
Kwargs = dict[str, Any]


@dataclass(slots=True)
class Search:
    """One search a call asks for: the query (its text, or a description of its vector), how
    many hits it asks for, the collection it searches and whether a filter narrows it."""

    query: str
    top_k: int | None = None
    collection: str = ""
    filtered: bool = False
    score_kind: str = ""
    """What this search's scores mean, when it depends on the call (else the endpoint's)."""


@dataclass(slots=True)
class Hit:
    """One document a search answered: its id, its score, and (content capture only) its text
    and metadata."""

    id: str
    score: float | None = None
    content: str | None = None
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class SearchEndpoint:
    """How the calls of one family of search methods are read.

    * ``system``: the store (``chroma``, ``qdrant``...): the span's ``source`` and ``db.system``.
    * ``operation``: the method's operation (``query``, ``search``...); the span is named
      ``{system}.{operation}``.
    * ``read_request(instance, arguments)``: the searches the call asks for, from the call's
      arguments by name (positional ones bound to their names, defaults filled in).
    * ``read_result(result, searches)``: the hits of each search, in the order of ``searches``.
    * ``score_kind``: :data:`SCORE_DISTANCE` or :data:`SCORE_SIMILARITY` (``""``: it depends on
      the collection, and a :class:`Search` says it when it can).
    """

    system: str
    operation: str
    read_request: Callable[[Any, Kwargs], list[Search]]
    read_result: Callable[[Any, list[Search]], list[list[Hit]]]
    score_kind: str = SCORE_SIMILARITY
    usage: Callable[[Any], dict[str, Any]] | None = None
    """``usage(result)``: what the call cost, as the store reports it (e.g. Pinecone's read
    units), added to the attributes of each of its spans."""


def describe_vector(vector: Any) -> str:
    """What a search by vector shows as its query: ``"[vector of 384 dimensions]"``."""
    try:
        size = len(vector)
    except TypeError:
        return "[vector]"
    return f"[vector of {size} dimensions]"


def _document(hit: Hit, config: ObserveConfig) -> dict[str, Any]:
    document: dict[str, Any] = {"id": hit.id}
    if hit.score is not None:
        document["score"] = hit.score
    if config.capture_content:
        if hit.content is not None:
            document["content"] = hit.content
        if hit.metadata:
            document["metadata"] = dict(hit.metadata)
    return document


def record_searches(
    endpoint: SearchEndpoint,
    searches: Sequence[Search],
    hits: Sequence[Sequence[Hit]] | None,
    *,
    result: Any = None,
    started_at: float,
    duration_ms: float,
    error: BaseException | None = None,
) -> None:
    """Record one ``retrieval`` span per search on the current run (nothing outside a run).

    ``hits`` holds each search's hits (``None`` when the call failed with ``error``), read from
    the call's ``result``.
    """
    ctx = current_context.get()
    run = ctx.run if ctx is not None else None
    if ctx is None or run is None:
        logger.debug("waxell-observe: %s search outside any run; not recorded", endpoint.system)
        return
    config = run.config
    usage = endpoint.usage(result) if endpoint.usage is not None and result is not None else {}
    error_text = ""
    if error is not None:
        text = str(error)
        error_text = (f"{type(error).__name__}: {text}" if text else type(error).__name__)[:ERROR_LIMIT]
    for index, search in enumerate(searches):
        found = list(hits[index]) if hits is not None and index < len(hits) else []
        attributes: dict[str, Any] = {
            "source": endpoint.system,
            "document_count": len(found),
            "db.system": endpoint.system,
            "db.operation": endpoint.operation,
        }
        score_kind = search.score_kind or endpoint.score_kind
        if score_kind:
            attributes["score_kind"] = score_kind
        if search.collection:
            attributes["db.collection"] = search.collection
        if search.top_k is not None:
            attributes["top_k"] = search.top_k
        if search.filtered:
            attributes["filtered"] = True
        scores = [hit.score for hit in found if hit.score is not None]
        if scores:
            attributes["scores"] = scores
        attributes.update(usage)
        ctx.record_span(
            "retrieval",
            f"{endpoint.system}.{endpoint.operation}",
            status="error" if error is not None else "ok",
            duration_ms=duration_ms,
            attributes=attributes,
            input={"query": search.query},
            output=None if error is not None else {"documents": [_document(hit, config) for hit in found]},
            error=error_text,
            started_at=started_at,
        )
        if error is None:
            _gate(endpoint, search, found, scores, ctx)


@functools.lru_cache(maxsize=256)
def _signature(function: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(function)


def call_arguments(wrapped: Any, args: Args, kwargs: Kwargs) -> Kwargs:
    """The arguments of a call to ``wrapped`` (a bound method) by name, defaults filled in."""
    function = getattr(wrapped, "__func__", wrapped)
    bound = _signature(function).bind(None, *args, **kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    arguments.pop(next(iter(arguments)), None)  # self
    for name, parameter in _signature(function).parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD and isinstance(arguments.get(name), dict):
            arguments.update(arguments.pop(name))
    return arguments


def _gate(endpoint: SearchEndpoint, search: Search, found: list[Hit], scores: list[float], ctx: Any) -> None:
    """``retrieval.after`` on what a search found (its texts whatever ``capture_content`` says: a
    policy judges the real documents); raises ``PolicyViolationError`` on ``block``."""
    documents = [
        {"id": hit.id, "score": hit.score, "content": hit.content or "", "metadata": dict(hit.metadata or {})}
        for hit in found
    ]
    gate_retrieval(
        search.query, documents, source=endpoint.system, scores=scores, top_k=search.top_k, ctx=ctx
    )


def _read_request(
    endpoint: SearchEndpoint, wrapped: Any, instance: Any, args: Args, kwargs: Kwargs
) -> list[Search] | None:
    try:
        return endpoint.read_request(instance, call_arguments(wrapped, args, kwargs))
    except Exception:
        logger.exception("waxell-observe: could not read a %s search; not recorded", endpoint.system)
        return None


def _finish(
    endpoint: SearchEndpoint,
    searches: list[Search],
    started_at: float,
    t0: float,
    result: Any = None,
    error: BaseException | None = None,
) -> None:
    duration_ms = round((time.perf_counter() - t0) * 1000.0, 3)
    try:
        hits = None if error is not None else endpoint.read_result(result, searches)
        record_searches(
            endpoint,
            searches,
            hits,
            result=result,
            started_at=started_at,
            duration_ms=duration_ms,
            error=error,
        )
    except PolicyViolationError:
        raise  # a retrieval.after policy refused what was found: the caller gets the refusal
    except Exception:
        logger.exception("waxell-observe: could not record a %s search", endpoint.system)


def _wanted(endpoint: SearchEndpoint, active: Callable[[], bool]) -> bool:
    if not recording_enabled(active, endpoint.system):
        return False
    ctx = current_context.get()
    return ctx is not None and ctx.run is not None


def search_wrapper(endpoint: SearchEndpoint, active: Callable[[], bool]) -> Callable[..., Any]:
    """A wrapt wrapper recording a synchronous search method's calls."""

    def wrapper(wrapped: Any, instance: Any, args: Args, kwargs: Kwargs) -> Any:
        searches = (
            _read_request(endpoint, wrapped, instance, args, kwargs) if _wanted(endpoint, active) else None
        )
        if not searches:
            return wrapped(*args, **kwargs)
        started_at, t0 = time.time(), time.perf_counter()
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _finish(endpoint, searches, started_at, t0, error=exc)
            raise
        _finish(endpoint, searches, started_at, t0, result)
        return result

    return wrapper


def async_search_wrapper(endpoint: SearchEndpoint, active: Callable[[], bool]) -> Callable[..., Any]:
    """A wrapt wrapper recording an asynchronous search method's calls."""

    async def wrapper(wrapped: Any, instance: Any, args: Args, kwargs: Kwargs) -> Any:
        searches = (
            _read_request(endpoint, wrapped, instance, args, kwargs) if _wanted(endpoint, active) else None
        )
        if not searches:
            return await wrapped(*args, **kwargs)
        started_at, t0 = time.time(), time.perf_counter()
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _finish(endpoint, searches, started_at, t0, error=exc)
            raise
        _finish(endpoint, searches, started_at, t0, result)
        return result

    return wrapper


def colourless_search_wrapper(endpoint: SearchEndpoint, active: Callable[[], bool]) -> Callable[..., Any]:
    """A wrapt wrapper for a search method that is synchronous or asynchronous by the client it
    belongs to (one method answering a value, or an awaitable the caller awaits): the search is
    recorded when the value is there — at once, or when the awaitable completes."""

    def wrapper(wrapped: Any, instance: Any, args: Args, kwargs: Kwargs) -> Any:
        searches = (
            _read_request(endpoint, wrapped, instance, args, kwargs) if _wanted(endpoint, active) else None
        )
        if not searches:
            return wrapped(*args, **kwargs)
        started_at, t0 = time.time(), time.perf_counter()
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _finish(endpoint, searches, started_at, t0, error=exc)
            raise
        if inspect.isawaitable(result):
            return _awaited(endpoint, searches, started_at, t0, result)
        _finish(endpoint, searches, started_at, t0, result)
        return result

    return wrapper


async def _awaited(
    endpoint: SearchEndpoint, searches: list[Search], started_at: float, t0: float, pending: Awaitable[Any]
) -> Any:
    try:
        result = await pending
    except BaseException as exc:
        _finish(endpoint, searches, started_at, t0, error=exc)
        raise
    _finish(endpoint, searches, started_at, t0, result)
    return result
