"""Reading a pgvector similarity search out of a SQL statement and its parameters.

A statement is a similarity search when its ``ORDER BY`` ranks rows by one of pgvector's distance
operators (``<->`` L2, ``<=>`` cosine, ``<#>`` negative inner product, ``<+>`` L1, ``<~>`` Hamming,
``<%>`` Jaccard). From it we read: which operator, the query vector (the operand that is a
parameter or a literal), ``LIMIT`` as top-k (a literal or a parameter), the table searched, whether
a ``WHERE`` narrows it, and which selected column carries the distance (its alias) and what it
means. The reading is textual, made for the statements people and ORMs write for this; anything it
cannot place is left out rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from waxell_observe.instrumentation.retrieval import SCORE_DISTANCE, SCORE_SIMILARITY

__all__ = ["OPERATORS", "SimilarityQuery", "describe_query_vector", "read_similarity_query"]

OPERATORS: dict[str, str] = {
    "<->": "l2_distance",
    "<=>": "cosine_distance",
    "<#>": "max_inner_product",
    "<+>": "l1_distance",
    "<~>": "hamming_distance",
    "<%>": "jaccard_distance",
}
"""pgvector's distance operators -> the operation recorded (the names pgvector-python's
SQLAlchemy comparators use)."""

EXPRESSION_LIMIT = 200
"""How much of a SQL expression a query marker keeps."""

_OPERATOR = re.compile("|".join(re.escape(op) for op in OPERATORS))
_PLACEHOLDER = re.compile(r"%%|%\((?P<name>\w+)\)[sbt]|%[sbt]")
_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)
_ORDER_END = re.compile(r"\b(limit|offset|fetch|for)\b|;", re.IGNORECASE)
_LIMIT = re.compile(
    r"\blimit\s+(?:(?P<number>\d+)|(?P<param>%\(\w+\)[sbt]|%[sbt]))"
    r"|\bfetch\s+(?:first|next)\s+(?P<fetch>\d+)\s+rows?\s+only",
    re.IGNORECASE,
)
_FROM = re.compile(r'\bfrom\s+(?P<table>(?:"[^"]+"|\w+)(?:\.(?:"[^"]+"|\w+))?)', re.IGNORECASE)
_WHERE = re.compile(r"\bwhere\b", re.IGNORECASE)
_SELECT = re.compile(r"^\s*(?:\(\s*)?select\b", re.IGNORECASE)
_EXPLICIT_ALIAS = re.compile(r'\bas\s+(?P<alias>"[^"]+"|\w+)\s*$', re.IGNORECASE)
_IMPLICIT_ALIAS = re.compile(
    r'(?:\)|\'|%[sbt]|%\(\w+\)[sbt])\s+(?P<alias>"[^"]+"|[a-z_]\w*)\s*$', re.IGNORECASE
)
_NEGATED = re.compile(r"\*\s*-\s*1(?:\.0*)?\s*$")
_SIMILARITY_FORM = re.compile(r"^\(*\s*(?:1(?:\.0*)?\s*-|-)", re.IGNORECASE)
_CAST = re.compile(r"^\s*::\s*\w+(?:\(\d+\))?")


@dataclass(frozen=True, slots=True)
class SimilarityQuery:
    """What a similarity search statement asks for."""

    operation: str
    query: str
    top_k: int | None
    table: str
    filtered: bool
    score_column: str | None
    """The name the distance comes back under (``?column?`` when unnamed), if it is selected."""
    score_kind: str


def _params_at(sql: str, params: Any) -> dict[int, Any]:
    """Each placeholder's offset in ``sql`` -> the parameter it stands for."""
    values: dict[int, Any] = {}
    position = 0
    for match in _PLACEHOLDER.finditer(sql):
        if match.group(0) == "%%":
            continue
        name = match.group("name")
        if name is not None:
            if isinstance(params, Mapping) and name in params:
                values[match.start()] = params[name]
        elif isinstance(params, Sequence) and not isinstance(params, (str, bytes)):
            if position < len(params):
                values[match.start()] = params[position]
            position += 1
    return values


def _size(value: Any) -> int | None:
    """The number of dimensions of a vector parameter, when it is one."""
    dimensions = getattr(value, "dimensions", None)  # pgvector's SparseVector
    if callable(dimensions):
        size = dimensions()
        return size if isinstance(size, int) else None
    to_list = getattr(value, "to_list", None)  # pgvector's Vector / HalfVector
    if callable(to_list):
        value = to_list()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            inner = text[1:-1].strip()
            return len(inner.split(",")) if inner else 0
        return None
    if isinstance(value, (bytes, bytearray)):
        return None
    try:
        return len(value)
    except TypeError:
        return None


def describe_query_vector(value: Any) -> str:
    """A query vector parameter as the span's query: ``[vector of 3 dimensions]``; a bit string
    (Hamming, Jaccard) as ``[bit vector of N bits]``."""
    if isinstance(value, str) and value and set(value) <= {"0", "1"}:
        return f"[bit vector of {len(value)} bits]"
    size = _size(value)
    return f"[vector of {size} dimensions]" if size is not None else "[vector]"


def _operand_after(sql: str, start: int, params: dict[int, Any]) -> str | None:
    """The query vector right of an operator: a parameter, a literal, or a SQL expression."""
    rest = sql[start:]
    stripped = rest.lstrip(" \t\r\n(")
    offset = start + len(rest) - len(stripped)
    if offset in params:
        return describe_query_vector(params[offset])
    if stripped.startswith("'"):
        end = stripped.find("'", 1)
        if end > 0:
            return describe_query_vector(stripped[1:end])
    return None


def _operand_before(sql: str, end: int, params: dict[int, Any]) -> str | None:
    """The query vector left of an operator, when the statement puts it first."""
    head = sql[:end].rstrip(" \t\r\n)")
    for offset in params:
        placeholder = _PLACEHOLDER.match(sql, offset)
        if placeholder is not None and placeholder.end() == len(head):
            return describe_query_vector(params[offset])
    if head.endswith("'"):
        start = head.rfind("'", 0, len(head) - 1)
        if start >= 0:
            return describe_query_vector(head[start + 1 : -1])
    return None


def _query_of(sql: str, match: re.Match[str], params: dict[int, Any], clause_end: int) -> str:
    found = _operand_after(sql, match.end(), params) or _operand_before(sql, match.start(), params)
    if found is not None:
        return found
    expression = " ".join(sql[match.end() : clause_end].split()).strip(", ")
    return f"[{expression[:EXPRESSION_LIMIT]}]" if expression else "[vector]"


def _top_level_items(text: str, offset: int = 0) -> list[tuple[int, str]]:
    """``text`` split at the commas outside parentheses and quotes: (where each item starts, counted
    from ``offset``, the item)."""
    spans: list[tuple[int, int]] = []
    depth, quote, start = 0, "", 0
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            spans.append((start, index))
            start = index + 1
    spans.append((start, len(text)))
    items = []
    for begin, end in spans:
        item = text[begin:end]
        stripped = item.lstrip()
        items.append((offset + begin + len(item) - len(stripped), stripped.rstrip()))
    return items


def _ranked_item(order_term: str, items: list[tuple[int, str]]) -> tuple[int, str] | None:
    """The select item an ``ORDER BY`` term names by position (``ORDER BY 2``) or alias."""
    term = order_term.strip().split()[0] if order_term.strip() else ""
    if term.isdigit():
        index = int(term) - 1
        return items[index] if 0 <= index < len(items) else None
    name = term.strip('"')
    return next((item for item in items if _alias(item[1]) == name), None)


def _alias(item: str) -> str | None:
    """The name a select item is given: ``... AS name``, or ``(...) name`` / ``%s name``."""
    explicit = _EXPLICIT_ALIAS.search(item)
    if explicit is not None:
        return explicit.group("alias").strip('"')
    implicit = _IMPLICIT_ALIAS.search(item)
    return implicit.group("alias").strip('"') if implicit is not None else None


def _score_column(select_list: str, operator: str) -> tuple[str | None, str]:
    """The name of the selected column computed with ``operator`` and what its values mean: a
    distance, or a similarity when the item is ``1 - (...)`` or ``-(...)`` / ``(...) * -1``."""
    for _, item in _top_level_items(select_list):
        if operator not in item:
            continue
        similarity = _SIMILARITY_FORM.match(item) or _NEGATED.search(_EXPLICIT_ALIAS.sub("", item))
        return _alias(item) or "?column?", SCORE_SIMILARITY if similarity else SCORE_DISTANCE
    return None, SCORE_DISTANCE


def _top_k(sql: str, params: dict[int, Any]) -> int | None:
    match = _LIMIT.search(sql)
    if match is None:
        return None
    number = match.group("number") or match.group("fetch")
    if number is not None:
        return int(number)
    value = params.get(match.start("param"))
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_similarity_query(sql: str, params: Any) -> SimilarityQuery | None:
    """The similarity search ``sql`` asks for, or ``None`` when it is not one."""
    select = _SELECT.match(sql)
    if select is None or not _OPERATOR.search(sql):
        return None
    order = None
    for candidate in _ORDER_BY.finditer(sql):
        order = candidate  # the outermost statement's ORDER BY is the last one
    if order is None:
        return None
    end_match = _ORDER_END.search(sql, order.end())
    clause_end = end_match.start() if end_match is not None else len(sql)
    head = sql[: order.start()]
    table = _FROM.search(head)
    select_list = head[select.end() : table.start()] if table else ""
    operator = _OPERATOR.search(sql, order.end(), clause_end)
    if operator is None:  # ORDER BY distance / ORDER BY 2: the select item it names
        first_term = _top_level_items(sql[order.end() : clause_end])[0][1]
        ranked = _ranked_item(first_term, _top_level_items(select_list, select.end()))
        if ranked is not None:
            operator = _OPERATOR.search(sql, ranked[0], ranked[0] + len(ranked[1]))
            clause_end = ranked[0] + len(ranked[1])
    if operator is None:
        return None
    placed = _params_at(sql, params)
    score_column, score_kind = _score_column(select_list, operator.group(0))
    return SimilarityQuery(
        operation=OPERATORS[operator.group(0)],
        query=_query_of(sql, operator, placed, clause_end),
        top_k=_top_k(sql[order.end() :], {k - order.end(): v for k, v in placed.items()}),
        table=table.group("table").replace('"', "") if table else "",
        filtered=table is not None and _WHERE.search(head, table.end()) is not None,
        score_column=score_column,
        score_kind=score_kind,
    )
