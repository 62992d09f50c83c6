"""Storing what the wire protocol delivers, inside the caller's write transaction (so a request,
or a batch of runs, is stored whole or not at all).

Records become rows of the same shape the embedded sink writes. Retries are idempotent:
records are keyed by their ``id`` when the client sends one, else by an id derived from the
run and the record's ``position``; only records that carry neither are stored again when a
batch is delivered twice. Run totals are recomputed from the stored records.

Two layers:

* pure functions turning wire bodies into rows and column values (:func:`run_start_row`,
  :func:`conversation_values`, :func:`completion_values`) and *staging* functions that turn a
  run's records into rows and queue them on a :class:`StagedRows` (``stage_llm_calls``,
  ``stage_steps``, ``stage_spans``, ``stage_scores``);
* one function per per-run endpoint (``start_run``, ``add_llm_calls``, ... ``complete_run``)
  built from them. The batch endpoint (:mod:`waxell_observe_server.batch_ingest`) uses the same
  staging functions for many runs at once, so both store identical rows.

Staged rows go to the database as one ``executemany`` per table (``store.bulk``), which costs
a fraction of SQLAlchemy's per-row processing.
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import JSON, Connection, Table, func, select, update
from sqlalchemy import String as _String

from waxell_observe.pricing import estimate_cost, infer_provider
from waxell_observe.records import SPAN_KINDS, new_id
from waxell_observe.store import bulk, writer
from waxell_observe.store.schema import audit_events, llm_calls, runs, scores, spans, steps
from waxell_observe_server.behaviours import behaviour_span
from waxell_observe_server.limits import TEXT_LIMIT, TRACEBACK_LIMIT
from waxell_observe_server.raw_sql import translated_errors
from waxell_observe_server.sanitize import clean_json, clean_text, cut, cut_tail
from waxell_observe_server.values import as_str
from waxell_observe_server.wire_models import (
    CompleteBody,
    EventIn,
    GovernanceDecisionBody,
    LLMCallIn,
    RunStartBody,
    ScoreIn,
    SpanIn,
    StepIn,
)

__all__ = [
    "RunRef",
    "StagedRows",
    "derived_id",
    "lock_run",
    "run_exists",
    "run_ref",
    "run_start_row",
    "start_decision",
    "start_run",
    "stage_llm_calls",
    "stage_steps",
    "stage_spans",
    "stage_scores",
    "conversation_values",
    "completion_values",
    "add_llm_calls",
    "add_steps",
    "add_spans",
    "add_scores",
    "complete_run",
    "store_governance",
    "add_events",
    "add_governance_decisions",
    "json_encoder",
    "REPLACED_RUNS",
    "STAGING_TABLES",
    "SPAN_KINDS_FROM_WIRE",
]

SPAN_KINDS_FROM_WIRE = {
    "agent": "agent",
    "llm": "llm",
    "chain": "chain",
    "tool": "tool",
    "retriever": "retrieval",
    "retrieval": "retrieval",
    "decision": "decision",
    "reasoning": "reasoning",
    "retry": "retry",
    "io": "io",
    "governance": "policy",
    "policy": "policy",
    "custom": "custom",
}
"""Wire span kinds → stored span kinds (any other kind is stored as ``custom``)."""


@dataclass(frozen=True)
class RunRef:
    """What the ingest functions need to know about the run they add records to."""

    run_id: str
    agent_name: str
    workflow_name: str
    started_at: float
    metadata: dict[str, Any]
    tags: dict[str, Any]


def derived_id(run_id: str, namespace: str, position: int) -> str:
    """A stable record id from the run and the record's position (makes retries idempotent)."""
    return hashlib.sha256(f"{run_id}/{namespace}/{position}".encode()).hexdigest()[:32]


def run_exists(conn: Connection, run_id: str) -> bool:
    return conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).first() is not None


_REF_COLUMNS = (
    runs.c.run_id,
    runs.c.agent_name,
    runs.c.workflow_name,
    runs.c.started_at,
    runs.c.metadata,
    runs.c.tags,
)


def run_ref(row: Any) -> RunRef:
    """A :class:`RunRef` from a row holding ``run_id, agent_name, workflow_name, started_at,
    metadata, tags``."""
    return RunRef(
        row.run_id, row.agent_name, row.workflow_name, row.started_at, row.metadata or {}, row.tags or {}
    )


def lock_run(conn: Connection, run_id: str) -> RunRef | None:
    """The run, locked for this transaction (PostgreSQL ``FOR UPDATE``; SQLite writes are
    serialised anyway), or ``None`` when unknown."""
    query = select(*_REF_COLUMNS).where(runs.c.run_id == run_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else run_ref(row)


# -- staged bulk inserts --------------------------------------------------------------------------


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
    values_of: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    """A row's values in column order (``KeyError`` when one is missing)."""

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
    values_of = operator.itemgetter(*columns)
    return _TableSpec(
        name or table.name, table, tuple(columns), conflict, key, tuple(limits), tuple(json_columns),
        defaults, values_of,
    )  # fmt: skip


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
    _spec(runs, RUN_COLUMNS),
    _spec(runs, RUN_COLUMNS, conflict="update", key=("run_id",), name=REPLACED_RUNS),
    _spec(llm_calls, LLM_COLUMNS),
    _spec(steps, STEP_COLUMNS),
    _spec(spans, SPAN_COLUMNS),
    _spec(scores, SCORE_COLUMNS),
    _spec(audit_events, AUDIT_COLUMNS, conflict="none"),
)
_SPEC_OF = {spec.name: spec for spec in _SPECS}
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
    connection) they go through them, one ``INSERT ... SELECT`` per table: on PostgreSQL for
    every table (filled by ``COPY``), on SQLite for the tables with rollup triggers (whose
    programs are then set up once per statement instead of once per row).
    """

    def __init__(self, conn: Connection, *, staging: bool = False) -> None:
        self.conn = conn
        self.encode: Callable[[Any], Any] = json_encoder(conn.dialect.name)
        self._pending: dict[str, list[tuple[Any, ...]]] = {spec.name: [] for spec in _SPECS}
        postgres = conn.dialect.name == "postgresql"
        self._staged_tables = frozenset(
            t.name for t in STAGING_TABLES if staging and (postgres or t.name in _TRIGGERED)
        )

    def add(self, table: Table | str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Queue ``rows`` (dicts holding the table's columns; the schema's default fills a
        missing one) for ``table`` (or :data:`REPLACED_RUNS`)."""
        spec = _SPEC_OF[table if isinstance(table, str) else table.name]
        # through a staging table (COPY on PostgreSQL) a JSON value travels as its text
        encode = _json_text if spec.table.name in self._staged_tables else self.encode
        columns, limits, json_columns, values_of = spec.columns, spec.limits, spec.json, spec.values_of
        append = self._pending[spec.name].append
        for row in rows:
            try:
                values = list(values_of(row))
            except KeyError:
                values = [row[name] if name in row else spec.default(name) for name in columns]
            for index, limit in limits:
                value = values[index]
                if value.__class__ is str and len(value) > limit:
                    values[index] = value[:limit]
            for index in json_columns:
                values[index] = encode(values[index])
            append(tuple(values))

    def flush(self) -> None:
        """Insert every queued row (runs first, then their records, then audit rows)."""
        for spec in _SPECS:
            pending = self._pending[spec.name]
            if not pending:
                continue
            insert = bulk.insert_staged if spec.table.name in self._staged_tables else bulk.insert_rows
            with translated_errors(self.conn):
                insert(self.conn, spec.table, spec.columns, pending, conflict=spec.conflict, key=spec.key)
            pending.clear()


class _Positions:
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


def _tags(value: dict[str, Any] | None) -> dict[str, str]:
    if not value:
        return {}
    return {clean_text(str(k))[:256]: as_str(v, limit=1024) for k, v in value.items()}


def _conversation(state: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Split a wire ``conversation_state`` into the stored conversation and the metadata copy."""
    if state is None:
        return None, None
    cleaned = clean_json(state)
    metadata = cleaned.pop("metadata", None)
    return cleaned, metadata if isinstance(metadata, dict) else None


def conversation_values(run: RunRef, state: dict[str, Any] | None) -> tuple[RunRef, dict[str, Any]]:
    """The run columns a ``conversation_state`` sets (``conversation``, and ``metadata`` merged
    with its copy of the metadata), and the run as it is afterwards. No state: no columns."""
    conversation, metadata = _conversation(state)
    if conversation is None:
        return run, {}
    values: dict[str, Any] = {"conversation": conversation}
    if metadata:
        values["metadata"] = {**run.metadata, **metadata}
        run = replace(run, metadata=values["metadata"])
    return run, values


def _apply_conversation(conn: Connection, run: RunRef, state: dict[str, Any] | None) -> None:
    _, values = conversation_values(run, state)
    if values:
        conn.execute(update(runs).where(runs.c.run_id == run.run_id).values(**values))


# -- runs/start ------------------------------------------------------------------------------


def start_decision(
    requested: str | None, existing: tuple[str, str, float] | None, agent_name: str, workflow_name: str
) -> tuple[str, bool]:
    """Which run a start stores: ``(run_id, created)``.

    ``requested`` is the client's run id and ``existing`` the ``(agent_name, workflow_name,
    started_at)`` of a stored run with that id. The client's id is used when free; a stored run
    of the same agent and workflow makes the start a retry of it (``created`` False); otherwise
    (no id, or an id taken by another run) a new id is generated."""
    if not requested:
        return new_id(), True
    if existing is None:
        return requested, True
    if existing[0] == agent_name and existing[1] == workflow_name:
        return requested, False
    return new_id(), True


_RUN_TOTALS_AND_OUTCOME = {
    name: _SPEC_OF["runs"].default(name)
    for name in ("error", "error_type", "traceback", "tokens_in", "tokens_out", "total_cost",
                 "llm_call_count", "step_count", "span_count", "source")
}  # fmt: skip
"""The columns a start leaves at the schema's defaults (a complete row is cheaper to write)."""


def run_start_row(body: RunStartBody, run_id: str, now: float) -> dict[str, Any]:
    """The ``runs`` row a start stores (every column of ``runs``)."""
    session_id = cut(body.session_id, 256)
    parent = cut(body.parent_workflow_id, 64)
    mode = body.interaction_mode if body.interaction_mode in ("interactive", "autonomous") else None
    governance: dict[str, Any] = {}
    if body.pre_execution_evaluations:
        governance["pre_execution_evaluations"] = clean_json(body.pre_execution_evaluations)
    return {
        **_RUN_TOTALS_AND_OUTCOME,
        "run_id": run_id,
        "agent_name": cut(body.agent_name, 256),
        "workflow_name": cut(body.workflow_name, 256) or "default",
        "status": "running",
        "session_id": session_id,
        "user_id": cut(body.user_id, 256),
        "user_group": cut(body.user_group, 256),
        "parent_run_id": parent,
        "root_run_id": cut(body.root_workflow_id, 64) or parent,
        "trace_id": cut(body.trace_id, 64),
        "interaction_mode": mode or ("interactive" if session_id else "autonomous"),
        "started_at": body.started_at if body.started_at is not None else now,
        "ended_at": None,
        "inputs": clean_json(body.inputs or {}),
        "metadata": clean_json(body.metadata or {}),
        "tags": _tags(body.tags),
        "result": {},
        "conversation": {},
        "governance": governance,
        "auto_collected": bool(body.auto_collected),
    }


def start_run(conn: Connection, body: RunStartBody, now: float) -> tuple[str, float, bool]:
    """Store a run start; returns ``(run_id, started_at, created)`` (see :func:`start_decision`)."""
    agent_name = cut(body.agent_name, 256)
    workflow_name = cut(body.workflow_name, 256) or "default"
    existing = None
    if body.run_id:
        row = conn.execute(
            select(runs.c.agent_name, runs.c.workflow_name, runs.c.started_at).where(
                runs.c.run_id == body.run_id
            )
        ).first()
        existing = None if row is None else (row.agent_name, row.workflow_name, float(row.started_at))
    run_id, created = start_decision(body.run_id, existing, agent_name, workflow_name)
    if not created:
        assert existing is not None
        return run_id, existing[2], False
    row_values = run_start_row(body, run_id, now)
    writer.start_run(conn, row_values)
    stored = conn.execute(select(runs.c.started_at).where(runs.c.run_id == run_id)).first()
    return run_id, float(stored.started_at) if stored is not None else row_values["started_at"], True


# -- records ----------------------------------------------------------------------------------


def stage_llm_calls(staged: StagedRows, run: RunRef, calls: Sequence[LLMCallIn], now: float) -> None:
    """Queue the rows of LLM calls (missing cost estimated, missing provider inferred)."""
    if not calls:
        return
    positions = _Positions(staged, llm_calls, run.run_id, calls)
    rows = []
    run_id = run.run_id
    for call in calls:
        model = cut(call.model, 256)
        tokens_in, tokens_out = call.tokens_in or 0, call.tokens_out or 0
        attributes = clean_json(call.attributes) if call.attributes else {}
        cost = call.cost
        if not cost:
            cached = attributes.get("cached_tokens_in")
            cached = cached if isinstance(cached, int) and not isinstance(cached, bool) else 0
            cost = estimate_cost(model, tokens_in, tokens_out, cached_tokens_in=cached)
        position = positions.take(call.position)
        started_at = (
            call.started_at if call.started_at is not None else now - (call.duration_ms or 0.0) / 1000.0
        )
        rows.append(
            {
                "id": call.id
                or (derived_id(run_id, "llm", call.position) if call.position is not None else new_id()),
                "run_id": run_id,
                "position": position,
                "model": model,
                "provider": cut(call.provider, 64) or infer_provider(model),
                "tokens_in": tokens_in,
                "tokens_out": tokens_out,
                "cost": float(cost),
                "task": cut(call.task, 256),
                "prompt_preview": cut(call.prompt_preview),
                "response_preview": cut(call.response_preview),
                "prompt_hash": cut(call.prompt_hash, 128) or as_str(attributes.get("prompt_hash"), limit=128),
                "duration_ms": call.duration_ms,
                "status": call.status or "ok",
                "error_type": cut(call.error_type, 256),
                "error_message": cut(call.error_message),
                "started_at": max(started_at, 0.0),
                "parent_span_id": cut(call.parent_span_id, 64),
                "attributes": attributes,
            }
        )
    staged.add(llm_calls, rows)


def stage_steps(staged: StagedRows, run: RunRef, batch: Sequence[StepIn], now: float) -> None:
    """Queue steps; behaviour steps (``output._kind``) become span rows (policy audit included)."""
    if not batch:
        return
    run_id = run.run_id
    step_positions = _Positions(staged, steps, run_id, batch)
    span_positions: _Positions | None = None
    step_rows: list[dict[str, Any]] = []
    span_rows: list[dict[str, Any]] = []
    for step in batch:
        name = cut(step.step_name, 512)
        span = behaviour_span(name, step.output)
        if span is None:
            position = step_positions.take(step.position)
            step_rows.append(
                {
                    "id": step.id or derived_id(run_id, "step", position),
                    "run_id": run_id,
                    "position": position,
                    "name": name,
                    "seq": step.seq or 0,
                    "output": clean_json(step.output) if step.output is not None else None,
                    "started_at": step.started_at if step.started_at is not None else now,
                }
            )
            continue
        given = step.seq if step.seq else step.position
        if given is None and span_positions is None:
            span_positions = _Positions(staged, spans, run_id, ())
        position = given if given is not None else span_positions.take(None)  # type: ignore[union-attr]
        duration = span["duration_ms"]
        started = step.started_at if step.started_at is not None else now - (duration or 0.0) / 1000.0
        span_rows.append(
            {
                **span,
                "id": step.id or (derived_id(run_id, "step", given) if given is not None else new_id()),
                "run_id": run_id,
                "position": position,
                "started_at": max(started, 0.0),
                "parent_span_id": "",
            }
        )
    staged.add(steps, step_rows)
    _stage_span_rows(staged, run, span_rows)


def _span_error(span: SpanIn) -> str:
    if span.error:
        return cut(span.error)
    if span.status != "error" or not span.events:
        return ""
    for event in span.events:
        if isinstance(event, dict):
            nested = event.get("attributes")
            attributes: dict[str, Any] = nested if isinstance(nested, dict) else event
            for key in ("exception.message", "message", "error"):
                if key in attributes:
                    return as_str(attributes[key])
    return ""


def stage_spans(staged: StagedRows, run: RunRef, batch: Sequence[SpanIn], now: float) -> None:
    """Queue spans (wire kinds mapped to stored kinds; policy spans also audited)."""
    if not batch:
        return
    run_id = run.run_id
    positions = _Positions(staged, spans, run_id, batch)
    ids_by_position: dict[int, str] | None = None  # made when a span names its parent by position
    rows = []
    for span in batch:
        wire_kind = span.kind or "custom"
        if span.waxell_kind in SPAN_KINDS:
            kind = span.waxell_kind
        else:
            kind = SPAN_KINDS_FROM_WIRE.get(wire_kind, "custom")
        attributes = clean_json(span.attributes) if span.attributes else {}
        if kind == "custom" and wire_kind != "custom":
            attributes.setdefault("wire_kind", cut(wire_kind, 64))
        if span.events:
            attributes["events"] = clean_json(span.events)
        if span.started_at is not None:
            started = span.started_at
        elif span.start_offset_ms is not None:
            started = run.started_at + span.start_offset_ms / 1000.0
        else:
            started = now - (span.duration_ms or 0.0) / 1000.0
        parent = cut(span.parent_span_id, 64)
        if not parent and span.parent_position is not None:
            if ids_by_position is None:
                ids_by_position = {s.position: s.id for s in batch if s.position is not None and s.id}
            parent = ids_by_position.get(span.parent_position) or derived_id(
                run_id, "span", span.parent_position
            )
        position = positions.take(span.position)
        rows.append(
            {
                "id": span.id
                or (derived_id(run_id, "span", span.position) if span.position is not None else new_id()),
                "run_id": run_id,
                "position": position,
                "kind": kind,
                "name": cut(span.name, 512),
                "status": span.status or "ok",
                "duration_ms": span.duration_ms,
                "started_at": max(started, 0.0),
                "parent_span_id": parent,
                "attributes": attributes,
                "input": clean_json(span.input_data),
                "output": clean_json(span.output_data),
                "error": _span_error(span),
            }
        )
    _stage_span_rows(staged, run, rows)


def _stage_span_rows(staged: StagedRows, run: RunRef, rows: list[dict[str, Any]]) -> None:
    """Queue span rows; policy spans stored for the first time also go to the audit trail
    (as the embedded sink does)."""
    if not rows:
        return
    policy_rows = [r for r in rows if r["kind"] == "policy"]
    fresh: list[dict[str, Any]] = []
    if policy_rows:
        staged.flush()
        known = set(
            staged.conn.execute(
                select(spans.c.id).where(spans.c.id.in_([r["id"] for r in policy_rows]))
            ).scalars()
        )
        fresh = [r for r in policy_rows if r["id"] not in known]
    staged.add(spans, rows)
    if fresh:
        staged.add(audit_events, [_policy_audit_row(run, r) for r in fresh])


def _policy_audit_row(run: RunRef, span: dict[str, Any]) -> dict[str, Any]:
    attributes = span["attributes"]
    metadata = attributes.get("metadata")
    return {
        "ts": span["started_at"],
        "run_id": run.run_id,
        "agent_name": run.agent_name,
        "workflow_name": run.workflow_name,
        "event": "policy_decision",
        "policy_name": as_str(attributes.get("policy_name", span["name"]), limit=256),
        "category": as_str(attributes.get("category"), limit=64),
        "action": as_str(attributes.get("action"), limit=16),
        "reason": as_str(attributes.get("reason")),
        "phase": as_str(attributes.get("phase"), limit=32),
        "metadata": metadata if isinstance(metadata, dict) else {},
    }


def stage_scores(staged: StagedRows, run: RunRef, batch: Sequence[ScoreIn], now: float) -> None:
    """Queue scores (booleans as 1.0/0.0 and "true"/"false", categoricals as strings)."""
    if not batch:
        return
    staged.add(
        scores,
        [
            writer.score_row(
                cut(score.name, 256),
                clean_text(score.value) if isinstance(score.value, str) else score.value,
                score.data_type or "numeric",
                cut(score.comment),
                id=score.id or new_id(),
                run_id=run.run_id,
                created_at=score.created_at if score.created_at is not None else now,
            )
            for score in batch
        ],
    )


def _stored(conn: Connection, stage: Callable[[StagedRows], None]) -> None:
    staged = StagedRows(conn)
    stage(staged)
    staged.flush()


def add_llm_calls(
    conn: Connection,
    run: RunRef,
    calls: Sequence[LLMCallIn],
    conversation_state: dict[str, Any] | None,
    now: float,
) -> None:
    """``POST runs/{id}/llm-calls/``: the calls, the conversation state, the run's totals."""
    _stored(conn, lambda staged: stage_llm_calls(staged, run, calls, now))
    _apply_conversation(conn, run, conversation_state)
    writer.refresh_totals(conn, [run.run_id])


def add_steps(
    conn: Connection,
    run: RunRef,
    batch: Sequence[StepIn],
    conversation_state: dict[str, Any] | None,
    now: float,
) -> None:
    """``POST runs/{id}/steps/``: the steps (and behaviour spans), the conversation state, totals."""
    _stored(conn, lambda staged: stage_steps(staged, run, batch, now))
    _apply_conversation(conn, run, conversation_state)
    writer.refresh_totals(conn, [run.run_id])


def add_spans(conn: Connection, run: RunRef, batch: Sequence[SpanIn], now: float) -> None:
    """``POST runs/{id}/spans/``: the spans, the run's totals."""
    _stored(conn, lambda staged: stage_spans(staged, run, batch, now))
    writer.refresh_totals(conn, [run.run_id])


def add_scores(conn: Connection, run: RunRef, batch: Sequence[ScoreIn], now: float) -> None:
    """``POST runs/{id}/scores/``."""
    _stored(conn, lambda staged: stage_scores(staged, run, batch, now))


# -- runs/{id}/complete -------------------------------------------------------------------------


def completion_values(run: RunRef, body: CompleteBody, now: float) -> tuple[dict[str, Any], float]:
    """The run columns a completion sets, and the run's duration in seconds (``body.steps`` are
    not included: store them first)."""
    ended_at = body.ended_at if body.ended_at is not None else now
    ended_at = max(ended_at, run.started_at)
    result = body.result
    if result is None:
        result = {}
    elif not isinstance(result, dict):
        result = {"output": result}
    error = cut(body.error)
    values: dict[str, Any] = {
        "status": body.status or ("error" if error else "success"),
        "error": error,
        "error_type": cut(body.error_type, 256),
        "traceback": cut_tail(body.traceback, TRACEBACK_LIMIT),
        "result": clean_json(result),
        "ended_at": ended_at,
    }
    if body.trace_id:
        values["trace_id"] = cut(body.trace_id, 64)
    if body.tags:
        values["tags"] = {**run.tags, **_tags(body.tags)}
    metadata = dict(run.metadata)
    if body.metadata:
        metadata.update(clean_json(body.metadata))
    conversation, conversation_metadata = _conversation(body.conversation_state)
    if conversation is not None:
        values["conversation"] = conversation
        if conversation_metadata and not body.metadata:
            metadata.update(conversation_metadata)
    if metadata != run.metadata:
        values["metadata"] = metadata
    if body.governance:
        values["governance"] = clean_json(body.governance)
    return values, round(ended_at - run.started_at, 6)


def complete_run(conn: Connection, run: RunRef, body: CompleteBody, now: float) -> float:
    """Store a run's completion; returns its duration in seconds."""
    if body.steps:
        add_steps(conn, run, body.steps, None, now)
    values, duration = completion_values(run, body, now)
    writer.complete_run(conn, run.run_id, values)
    writer.refresh_totals(conn, [run.run_id])
    return duration


def store_governance(conn: Connection, run_id: str, governance: dict[str, Any]) -> None:
    """Keep the post-execution policy outcome on the run (``governance`` column)."""
    conn.execute(update(runs).where(runs.c.run_id == run_id).values(governance=clean_json(governance)))


# -- audit trail ----------------------------------------------------------------------------------


def add_events(conn: Connection, batch: Sequence[EventIn], now: float) -> None:
    rows = []
    for event in batch:
        metadata = clean_json(event.metadata) if event.metadata else {}
        rows.append(
            {
                "ts": now,
                "run_id": cut(event.workflow_id, 64),
                "agent_name": cut(event.agent_name, 256),
                "workflow_name": cut(event.workflow_name, 256),
                "event": cut(event.event, 64) or "event",
                "policy_name": as_str(metadata.get("policy_name", metadata.get("policy")), limit=256),
                "category": as_str(metadata.get("category"), limit=64),
                "action": as_str(metadata.get("action"), limit=16),
                "reason": as_str(metadata.get("reason"), limit=TEXT_LIMIT),
                "phase": as_str(metadata.get("phase"), limit=32),
                "metadata": metadata,
            }
        )
    writer.add_audit_events(conn, rows)


_PHASE_OF_SURFACE = {"run.start": "pre_execution", "run.complete": "post_execution"}


def add_governance_decisions(conn: Connection, body: GovernanceDecisionBody, now: float) -> bool:
    """Store each decision in the audit trail; returns whether the run is known."""
    run_id = cut(body.workflow_id, 64)
    found = bool(run_id) and len(body.workflow_id or "") <= 64 and run_exists(conn, run_id)
    surface = cut(body.surface, 64)
    workflow_name = ""
    if found:
        workflow_name = conn.execute(select(runs.c.workflow_name).where(runs.c.run_id == run_id)).scalar_one()
    rows = [
        {
            "ts": now,
            "run_id": run_id,
            "agent_name": cut(body.agent_name, 256),
            "workflow_name": workflow_name,
            "event": "governance_decision",
            "policy_name": cut(decision.policy, 256),
            "category": cut(decision.category, 64),
            "action": cut(decision.action, 16),
            "reason": cut(decision.reason),
            "phase": _PHASE_OF_SURFACE.get(surface, "mid_execution" if surface else ""),
            "metadata": {"surface": surface, "span_only": bool(body.span_only)},
        }
        for decision in body.decisions or ()
    ]
    writer.add_audit_events(conn, rows)
    return found
