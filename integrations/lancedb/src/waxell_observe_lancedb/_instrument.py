"""What the LanceDB integration patches (a vector search's ``to_arrow``, which ``to_list`` and
``to_pandas`` call) and how it reads the search and its rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target
from waxell_observe.instrumentation.retrieval import (
    SCORE_DISTANCE,
    Hit,
    Search,
    SearchEndpoint,
    describe_vector,
    search_wrapper,
)

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]

ID_COLUMNS = ("id", "_rowid")
"""Columns taken as a row's id, in order of preference (else its position in the answer)."""
TEXT_COLUMNS = ("text", "document", "page_content", "content")
"""Columns whose string value is taken as a row's text (content capture only)."""
INTERNAL_COLUMNS = frozenset({"_distance", "_score", "_relevance_score", "_rowid"})


def read_search(instance: Any, arguments: dict[str, Any]) -> list[Search]:
    """The builder's state: its query (text when it was given as text, else the vector's size),
    ``limit``, ``where`` and table."""
    text = getattr(instance, "_str_query", None)
    query = text if isinstance(text, str) and text else describe_vector(getattr(instance, "_query", None))
    limit = getattr(instance, "_limit", None)
    table = getattr(getattr(instance, "_table", None), "name", "")
    return [
        Search(
            query,
            limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
            table if isinstance(table, str) else "",
            bool(getattr(instance, "_where", None)),
        )
    ]


def _row_hit(position: int, row: dict[str, Any], vector_column: str) -> Hit:
    doc_id = next((row[c] for c in ID_COLUMNS if row.get(c) is not None), position)
    distance = row.get("_distance")
    content = next((row[c] for c in TEXT_COLUMNS if isinstance(row.get(c), str)), None)
    metadata = {
        key: value
        for key, value in row.items()
        if key not in INTERNAL_COLUMNS and key != vector_column and key not in TEXT_COLUMNS
    }
    return Hit(
        str(doc_id),
        float(distance) if isinstance(distance, (int, float)) else None,
        content,
        metadata or None,
    )


def read_rows(result: Any, searches: list[Search]) -> list[list[Hit]]:
    """A ``pyarrow.Table`` of rows with their ``_distance``."""
    rows = result.to_pylist()
    return [[_row_hit(i, row, "vector") for i, row in enumerate(rows)]]


SEARCH = SearchEndpoint("lancedb", "search", read_search, read_rows, score_kind=SCORE_DISTANCE)


def _factory(active: Callable[[], bool]) -> Callable[..., Any]:
    return search_wrapper(SEARCH, active)


TARGETS: tuple[Target, ...] = (Target("lancedb.query", "LanceVectorQueryBuilder", "to_arrow", _factory),)

INSTRUMENTATION = Instrumentation("lancedb", TARGETS, sdk="lancedb")

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
