"""What the pgvector integration patches (psycopg 3's ``Cursor.execute`` and
``AsyncCursor.execute``) and how it turns a similarity search into a retrieval span.

Every statement a psycopg cursor executes inside a run is looked at; one whose ``ORDER BY`` ranks
by a pgvector distance operator (see :mod:`waxell_observe_pgvector._sql`) is a search. Once it
ran, the rows it answered are read from the cursor (at most :data:`MAX_HITS`) and the cursor is
scrolled back to its first row, so the program fetches exactly what it would have. ``Connection
.execute`` and SQLAlchemy's psycopg dialect go through ``Cursor.execute`` and are captured with it.
"""

from __future__ import annotations

import datetime
import decimal
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from waxell_observe.current import current_context
from waxell_observe.errors import PolicyViolationError
from waxell_observe.instrumentation import Instrumentation, Target
from waxell_observe.instrumentation.retrieval import (
    SCORE_DISTANCE,
    Hit,
    Search,
    SearchEndpoint,
    record_searches,
)
from waxell_observe.instrumentation.wrappers import recording_enabled
from waxell_observe_pgvector._sql import OPERATORS, SimilarityQuery, read_similarity_query

__all__ = [
    "INSTRUMENTATION",
    "MAX_HITS",
    "TARGETS",
    "installed",
    "instrument",
    "is_instrumented",
    "uninstrument",
]

logger = logging.getLogger("waxell_observe")

SYSTEM = "pgvector"
MAX_HITS = 100
"""The most rows of one search read into its span."""
TEXT_COLUMNS = ("content", "text", "document", "page_content", "chunk", "body")
"""Column names whose string value is taken as a row's text (content capture only)."""

Args = tuple[Any, ...]
Kwargs = dict[str, Any]
Rows = tuple[list[str], list[Any]]


def _no_request(instance: Any, arguments: Kwargs) -> list[Search]:
    raise NotImplementedError("pgvector searches are read from their SQL by the execute wrapper")


def _no_result(result: Any, searches: list[Search]) -> list[list[Hit]]:
    raise NotImplementedError("pgvector hits are read from the cursor by the execute wrapper")


ENDPOINTS = {
    operation: SearchEndpoint(SYSTEM, operation, _no_request, _no_result, score_kind=SCORE_DISTANCE)
    for operation in OPERATORS.values()
}
"""One endpoint per distance operator: the span is named ``pgvector.<operation>``."""


def _statement(cursor: Any, query: Any) -> str | None:
    if isinstance(query, str):
        return query
    if isinstance(query, (bytes, bytearray)):
        return bytes(query).decode("utf-8", "replace")
    as_string = getattr(query, "as_string", None)  # psycopg.sql.Composable
    if callable(as_string):
        text = as_string(cursor)
        return text if isinstance(text, str) else None
    return None


def _read_search(cursor: Any, args: Args, kwargs: Kwargs) -> tuple[SimilarityQuery, Search] | None:
    """The similarity search an ``execute(query, params)`` call makes, if it makes one."""
    query = args[0] if args else kwargs.get("query")
    params = args[1] if len(args) > 1 else kwargs.get("params")
    try:
        sql = _statement(cursor, query)
        similarity = read_similarity_query(sql, params) if sql is not None else None
    except Exception:
        logger.exception("waxell-observe: could not read a statement for a pgvector search; not recorded")
        return None
    if similarity is None:
        return None
    search = Search(
        similarity.query,
        similarity.top_k,
        similarity.table,
        similarity.filtered,
        similarity.score_kind,
    )
    return similarity, search


def _column_index(names: list[str], similarity: SimilarityQuery) -> tuple[int | None, int | None]:
    """(the id column, the score column) of a search's rows."""
    score = names.index(similarity.score_column) if similarity.score_column in names else None
    candidates = [i for i, name in enumerate(names) if i != score]
    ident = next((i for i in candidates if names[i].lower() == "id"), None)
    if ident is None:
        ident = next((i for i in candidates if names[i].lower().endswith("id")), None)
    if ident is None and candidates:
        ident = candidates[0]
    return ident, score


def _value(row: Any, index: int, name: str) -> Any:
    if isinstance(row, Mapping):
        return row.get(name)
    if isinstance(row, Sequence) and not isinstance(row, (str, bytes)):
        return row[index] if index < len(row) else None
    return getattr(row, name, None)


def _is_vector(value: Any) -> bool:
    module = type(value).__module__
    if module.startswith(("numpy", "pgvector")):
        return True
    return (
        isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(item, float) for item in value)
    )


def _plain(value: Any) -> Any:
    """A column value as JSON can hold it."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (datetime.date, datetime.time, uuid.UUID)):
        return str(value)
    return repr(value)


def _hit(row: Any, names: list[str], ident: int | None, score: int | None) -> Hit:
    value = _value(row, score, names[score]) if score is not None else None
    content = None
    metadata: dict[str, Any] = {}
    for index, name in enumerate(names):
        if index in (ident, score):
            continue
        column = _value(row, index, name)
        if content is None and name.lower() in TEXT_COLUMNS and isinstance(column, str):
            content = column
        elif not _is_vector(column):
            metadata[name] = _plain(column)
    return Hit(
        str(_value(row, ident, names[ident])) if ident is not None else "",
        float(value)
        if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)
        else None,
        content,
        metadata,
    )


def _hits(rows: Rows | None, similarity: SimilarityQuery) -> list[Hit]:
    if rows is None:
        return []
    names, found = rows
    ident, score = _column_index(names, similarity)
    return [_hit(row, names, ident, score) for row in found]


def _names(cursor: Any) -> list[str] | None:
    description = getattr(cursor, "description", None)
    if not description:
        return None
    return [str(column.name) for column in description]


def _peek(cursor: Any) -> Rows | None:
    """The first rows a cursor answered, leaving it at its first row."""
    try:
        names = _names(cursor)
        if names is None:
            return None
        rows = cursor.fetchmany(MAX_HITS)
        cursor.scroll(0, mode="absolute")
        return names, list(rows)
    except Exception:
        logger.exception("waxell-observe: could not read the rows of a pgvector search")
        return None


async def _apeek(cursor: Any) -> Rows | None:
    """:func:`_peek` for an async cursor."""
    try:
        names = _names(cursor)
        if names is None:
            return None
        rows = await cursor.fetchmany(MAX_HITS)
        await cursor.scroll(0, mode="absolute")
        return names, list(rows)
    except Exception:
        logger.exception("waxell-observe: could not read the rows of a pgvector search")
        return None


def _record(
    similarity: SimilarityQuery,
    search: Search,
    rows: Rows | None,
    started_at: float,
    t0: float,
    error: BaseException | None = None,
) -> None:
    duration_ms = round((time.perf_counter() - t0) * 1000.0, 3)
    try:
        record_searches(
            ENDPOINTS[similarity.operation],
            [search],
            None if error is not None else [_hits(rows, similarity)],
            started_at=started_at,
            duration_ms=duration_ms,
            error=error,
        )
    except PolicyViolationError:
        raise  # a retrieval.after policy refused what was found: the caller gets the refusal
    except Exception:
        logger.exception("waxell-observe: could not record a pgvector search")


def _wanted(active: Callable[[], bool]) -> bool:
    if not recording_enabled(active, SYSTEM):
        return False
    ctx = current_context.get()
    return ctx is not None and ctx.run is not None


def execute_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """A wrapt wrapper for ``Cursor.execute``."""

    def wrapper(wrapped: Any, instance: Any, args: Args, kwargs: Kwargs) -> Any:
        found = _read_search(instance, args, kwargs) if _wanted(active) else None
        if found is None:
            return wrapped(*args, **kwargs)
        similarity, search = found
        started_at, t0 = time.time(), time.perf_counter()
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _record(similarity, search, None, started_at, t0, exc)
            raise
        _record(similarity, search, _peek(instance), started_at, t0)
        return result

    return wrapper


def async_execute_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """A wrapt wrapper for ``AsyncCursor.execute``."""

    async def wrapper(wrapped: Any, instance: Any, args: Args, kwargs: Kwargs) -> Any:
        found = _read_search(instance, args, kwargs) if _wanted(active) else None
        if found is None:
            return await wrapped(*args, **kwargs)
        similarity, search = found
        started_at, t0 = time.time(), time.perf_counter()
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _record(similarity, search, None, started_at, t0, exc)
            raise
        _record(similarity, search, await _apeek(instance), started_at, t0)
        return result

    return wrapper


TARGETS: tuple[Target, ...] = (
    Target("psycopg.cursor", "Cursor", "execute", execute_wrapper),
    Target("psycopg.cursor_async", "AsyncCursor", "execute", async_execute_wrapper),
)

INSTRUMENTATION = Instrumentation("pgvector", TARGETS, sdk="psycopg")

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
