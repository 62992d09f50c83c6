"""Rows queued for insertion in one transaction and sent with one statement per table (``store.bulk``):
what every ingest path stores through, cutting strings at their column width and serialising JSON once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import JSON, Connection, Table, func, select
from sqlalchemy import String as _String

from waxell_observe.store import bulk
from waxell_observe.store.schema import audit_events, llm_calls, runs, scores, spans, steps
from waxell_observe_server.raw_sql import translated_errors

__all__ = [
    "AUDIT_COLUMNS",
    "LLM_COLUMNS",
    "REPLACED_RUNS",
    "RUN_COLUMNS",
    "SCORE_COLUMNS",
    "SPAN_COLUMNS",
    "SPEC_OF",
    "STAGING_TABLES",
    "STEP_COLUMNS",
    "Positions",
    "StagedRows",
    "json_encoder",
]


_NO_DEFAULT = object()

_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _c_encoder() -> Callable[[Any, int], Any] | None:
    """The C JSON encoder of ``_compact``, made once (``json.dumps`` makes one per call); no
    circular check: the values are parsed JSON cleaned by ``sanitize.clean_json``."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    try:
        encoder: Callable[[Any, int], Any] = make(
            None, repr, json.encoder.encode_basestring, None, ":", ",", False, False, True
        )
        probe = "".join(encoder({"a": [1, 2.5, None, "é"]}, 0))
    except TypeError:  # another signature in this Python version
        return None
    return encoder if probe == _compact({"a": [1, 2.5, None, "é"]}) else None


_encode_json = _c_encoder()


def _json_text(value: Any) -> Any:
    if value is None:
        return None
    if value.__class__ is dict and not value:
        return "{}"
    if _encode_json is not None and value.__class__ in (dict, list):
        return "".join(_encode_json(value, 0))
    return _compact(value)


_EMPTY_JSONB = bulk.JSONB_BINARY_VERSION + "{}"
_msgspec_json = msgspec.json.Encoder().encode


def _jsonb_binary(value: Any) -> Any:
    """A JSON value as ``jsonb``'s binary form, for a binary ``COPY`` (``store.bulk``). The JSON
    text is msgspec's, several times faster to write than the json module's; it differs only in
    how exponents are written (``1e16`` for ``1e+16``), which ``jsonb`` does not keep."""
    if value is None:
        return None
    if value.__class__ is dict and not value:
        return _EMPTY_JSONB
    return bulk.JSONB_BINARY_VERSION + _msgspec_json(value).decode()


def json_encoder(dialect: str) -> Callable[[Any], Any]:
    """A function turning a (cleaned) JSON value into a parameter for a JSON column: compact
    text on SQLite, ``store.bulk``'s adapter on PostgreSQL."""
    return bulk.json_encoder(dialect) if dialect == "postgresql" else _json_text


@dataclass(frozen=True)
class _TableSpec:
    name: str
    table: Table
    columns: tuple[str, ...]
    conflict: str
    key: tuple[str, ...]
    # (index, limit) of string columns with a width, indexes of JSON columns
    limits: tuple[tuple[int, int], ...]
    json: tuple[int, ...]
    # the column defaults of the schema (raw inserts do not apply them): value or a factory
    default_of: dict[str, Any]
    values_of: Callable[[Mapping[str, Any], Callable[[Any], Any]], tuple[Any, ...]]
    """A row's values in column order, strings cut at their width and JSON values passed
    through the given encoder (``KeyError`` when one is missing)."""

    def default(self, name: str) -> Any:
        """The value a row without column ``name`` gets."""
        default = self.default_of[name]
        if default is _NO_DEFAULT:
            raise ValueError(
                f"a {self.table.name} row needs a value for {name!r} (the column has no default)"
            )
        return default() if callable(default) else default


def _default(column: Any) -> Any:
    default = column.default
    if default is None:
        return None if column.nullable and not column.primary_key else _NO_DEFAULT
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return lambda: default.arg(None)
    return _NO_DEFAULT


def _spec(
    table: Table, columns: Sequence[str], conflict: str = "ignore", key: tuple[str, ...] = (), name: str = ""
) -> _TableSpec:
    limits = []
    json_columns = []
    for index, column in enumerate(columns):
        column_type = table.c[column].type
        if isinstance(column_type, _String) and column_type.length:
            limits.append((index, int(column_type.length)))
        elif isinstance(column_type, JSON):
            json_columns.append(index)
    defaults = {column: _default(table.c[column]) for column in columns}
    values_of = _values_of(tuple(columns), dict(limits), frozenset(json_columns))
    return _TableSpec(
        name or table.name, table, tuple(columns), conflict, key, tuple(limits), tuple(json_columns),
        defaults, values_of,
    )  # fmt: skip


def _values_of(
    columns: tuple[str, ...], limits: dict[int, int], json_columns: frozenset[int]
) -> Callable[[Mapping[str, Any], Callable[[Any], Any]], tuple[Any, ...]]:
    """A function of ``(row, encode)`` giving the tuple :meth:`StagedRows.add` queues: the row's
    values in ``columns`` order, a string longer than its column's width (``limits``, by index)
    cut, a JSON value (``json_columns``) encoded. Written out column by column as source (as
    ``collections.namedtuple`` writes its methods): a loop over the columns and their limits
    costs half as much again per row, and every record of every batch goes through here."""
    lines = ["def values_of(row, encode):"]
    for index, name in enumerate(columns):
        lines.append(f"    v{index} = row[{name!r}]")
        if index in limits:
            limit = limits[index]
            lines.append(
                f"    if v{index}.__class__ is str and len(v{index}) > {limit}: v{index} = v{index}[:{limit}]"
            )
        if index in json_columns:
            lines.append(f"    v{index} = encode(v{index})")
    lines.append("    return (" + ", ".join(f"v{index}" for index in range(len(columns))) + ",)")
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)  # the source is made here, from the schema's column names
    function: Callable[[Mapping[str, Any], Callable[[Any], Any]], tuple[Any, ...]] = namespace["values_of"]
    return function


RUN_COLUMNS = tuple(c.name for c in runs.columns)
"""Every column of ``runs``: a start row gives the first twenty, the schema's defaults fill the
others (no error, zero totals, ``source`` sdk)."""
LLM_COLUMNS = (
    "id", "run_id", "position", "model", "provider", "tokens_in", "tokens_out", "cost", "task",
    "prompt_preview", "response_preview", "prompt_hash", "duration_ms", "status", "error_type",
    "error_message", "started_at", "parent_span_id", "attributes",
)  # fmt: skip
STEP_COLUMNS = ("id", "run_id", "position", "name", "seq", "output", "started_at")
SPAN_COLUMNS = (
    "id", "run_id", "position", "kind", "name", "status", "duration_ms", "started_at", "parent_span_id",
    "attributes", "input", "output", "error",
)  # fmt: skip
SCORE_COLUMNS = (
    "id",
    "run_id",
    "name",
    "data_type",
    "numeric_value",
    "string_value",
    "comment",
    "created_at",
)
AUDIT_COLUMNS = (
    "ts", "run_id", "agent_name", "workflow_name", "event", "policy_name", "category", "action", "reason",
    "phase", "metadata",
)  # fmt: skip

REPLACED_RUNS = "runs (replaced)"
"""What :meth:`StagedRows.add` queues complete ``runs`` rows under to overwrite the stored ones."""

# flush order: runs before their records, spans before the audit rows of policy spans
_SPECS: tuple[_TableSpec, ...] = (
    # a run made from spans meanwhile (the OTLP receiver, in another transaction) is taken over
    _spec(runs, RUN_COLUMNS, conflict="supersede", key=("run_id",)),
    _spec(runs, RUN_COLUMNS, conflict="update", key=("run_id",), name=REPLACED_RUNS),
    _spec(llm_calls, LLM_COLUMNS),
    _spec(steps, STEP_COLUMNS),
    _spec(spans, SPAN_COLUMNS),
    _spec(scores, SCORE_COLUMNS),
    _spec(audit_events, AUDIT_COLUMNS, conflict="none"),
)
SPEC_OF = {spec.name: spec for spec in _SPECS}
"""Each queue of :class:`StagedRows` by name (a table's name, or :data:`REPLACED_RUNS`)."""
_TRIGGERED = frozenset({"runs", "llm_calls"})
STAGING_TABLES = (runs, llm_calls, steps, spans, scores)
"""The tables :class:`StagedRows` writes through ``store.bulk``'s staging tables when asked to."""


class StagedRows:
    """Rows queued for insertion in one transaction, sent with one statement per table.

    Inserts skip rows whose key exists (``ON CONFLICT DO NOTHING``), exactly as
    ``store.writer.insert_ignore`` does; strings are cut at their column width and JSON values
    serialised here. A staging function that must read a table first (next free positions,
    which policy spans are new) calls :meth:`flush` before it queues rows of that table
    itself, so it reads everything queued before it and nothing of its own: the same reads
    as when each request is stored in turn.

    By default a table's rows go in with one ``executemany``. With ``staging=True`` (the
    caller made ``store.bulk``'s staging tables for :data:`STAGING_TABLES` exist on this
    connection, on PostgreSQL the binary ones) they go through them, one ``INSERT ... SELECT`` per
    table: on PostgreSQL for every table (filled by a binary ``COPY``), on SQLite for the tables
    with rollup triggers (whose programs are then set up once per statement instead of once per
    row).
    """

    def __init__(self, conn: Connection, *, staging: bool = False) -> None:
        self.conn = conn
        self.encode: Callable[[Any], Any] = json_encoder(conn.dialect.name)
        self._pending: dict[str, list[tuple[Any, ...]]] = {spec.name: [] for spec in _SPECS}
        self._postgres = postgres = conn.dialect.name == "postgresql"
        self._staged_tables = frozenset(
            t.name for t in STAGING_TABLES if staging and (postgres or t.name in _TRIGGERED)
        )
        self._filled: set[str] = set()
        """Staging tables this transaction filled (PostgreSQL keeps their rows until commit)."""

    def add(self, table: Table | str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Queue ``rows`` (dicts holding the table's columns; the schema's default fills a
        missing one) for ``table`` (or :data:`REPLACED_RUNS`)."""
        spec = SPEC_OF[table if isinstance(table, str) else table.name]
        # through a staging table a JSON value travels as its text (binary COPY on PostgreSQL:
        # as jsonb's binary form)
        encode = self.encode
        if spec.table.name in self._staged_tables:
            encode = _jsonb_binary if self._postgres else _json_text
        values_of = spec.values_of
        append = self._pending[spec.name].append
        for row in rows:
            try:
                append(values_of(row, encode))
            except KeyError:  # a column left to its default
                append(
                    values_of(
                        {name: row[name] if name in row else spec.default(name) for name in spec.columns},
                        encode,
                    )
                )

    def flush(self) -> None:
        """Insert every queued row (runs first, then their records, then audit rows)."""
        for spec in _SPECS:
            pending = self._pending[spec.name]
            if not pending:
                continue
            with translated_errors(self.conn):
                if spec.table.name in self._staged_tables:
                    # PostgreSQL empties a staging table at commit: only one filled earlier in
                    # this transaction is emptied before it is filled again
                    if spec.table.name in self._filled:
                        bulk.clear_staged(self.conn, spec.table, binary=True)
                    bulk.insert_staged(
                        self.conn, spec.table, spec.columns, pending, conflict=spec.conflict, key=spec.key,
                        binary=True, keep=True,
                    )  # fmt: skip
                    if self._postgres:
                        self._filled.add(spec.table.name)
                else:
                    bulk.insert_rows(
                        self.conn, spec.table, spec.columns, pending, conflict=spec.conflict, key=spec.key
                    )
            pending.clear()


class Positions:
    """Hands out positions to records that arrive without one: after every stored and given one.

    The stored maximum (and the largest position given in the request) is only looked up when
    a record without a position comes."""

    def __init__(self, staged: StagedRows, table: Table, run_id: str, batch: Sequence[Any]) -> None:
        self._staged, self._table, self._run_id, self._batch = staged, table, run_id, batch
        self._next: int | None = None

    def take(self, given: int | None) -> int:
        if given is not None:
            return given
        if self._next is None:
            self._staged.flush()
            table = self._table
            stored = self._staged.conn.execute(
                select(func.coalesce(func.max(table.c.position), 0)).where(table.c.run_id == self._run_id)
            ).scalar_one()
            given_max = max((r.position for r in self._batch if r.position is not None), default=0)
            self._next = max(int(stored), given_max) + 1
        position = self._next
        self._next += 1
        return position
