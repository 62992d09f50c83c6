"""What received spans change in the store, inside the caller's write transaction: the decisions of the
merge (which run a span belongs to, what a run span may overwrite), over :mod:`.store`'s SQL.

- Spans with ``waxell.run_id`` rebuild or enrich that run: a run the store already has (delivered by the
  SDK's own sink) gets the run span's tags, metadata and timings merged in; a run it does not have is
  created from the run span when that span arrives. Records are stored under their own ids.
- Spans of any other application become one run per trace; spans of a trace arriving in several
  requests update the same run, which completes when its root span arrives. Spans from another
  instrumentation inside the trace of a run the SDK delivered itself are attached to that run as span
  records only (its LLM calls are the SDK's).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from waxell_observe.vocabulary import PROVISIONAL_RUN_SOURCES, RUN_SOURCE_OTEL
from waxell_observe.vocabulary import attributes as wax
from waxell_observe_server.otlp import genai_spans, store, waxell_spans
from waxell_observe_server.otlp.decode import ReceivedSpan
from waxell_observe_server.otlp.readers import string

__all__ = ["IngestResult", "ingest_spans"]


@dataclass
class IngestResult:
    """What one request changed."""

    runs: list[str] = field(default_factory=list)
    spans: int = 0


def ingest_spans(conn: Connection, received: list[ReceivedSpan]) -> IngestResult:
    """Store ``received`` (inside the caller's write transaction)."""
    waxell: dict[str, list[ReceivedSpan]] = defaultdict(list)
    foreign: dict[str, list[ReceivedSpan]] = defaultdict(list)
    for span in received:
        run_id = span.attributes.get(wax.RUN_ID)
        if isinstance(run_id, str) and run_id:
            waxell[run_id[:64]].append(span)
        else:
            foreign[span.trace_id].append(span)
    for run_id, group in waxell.items():
        _ingest_waxell_run(conn, run_id, group)
    for trace_id, group in foreign.items():
        _ingest_foreign_trace(conn, trace_id, group)
    touched = [*waxell, *foreign]
    store.refresh_totals(conn, touched)
    return IngestResult(runs=touched, spans=len(received))


def _enrich_run(conn: Connection, existing: Any, row: dict[str, Any]) -> None:
    """Merge what a run span says into a run the store already has."""
    if existing.source in PROVISIONAL_RUN_SOURCES:
        # We created it from spans (provisionally, or from foreign spans that came first).
        fields = (*waxell_spans.RUN_FIELDS_FROM_SPAN, "metadata", "tags")
        store.update_run(conn, existing.run_id, {k: row[k] for k in fields})
        return
    values: dict[str, Any] = {
        "tags": {**(existing.tags or {}), **row["tags"]},
        "metadata": {**(existing.metadata or {}), **row["metadata"]},
    }
    if not existing.trace_id:
        values["trace_id"] = row["trace_id"]
    if existing.status == "running" and row["status"] != "running":
        values.update({k: row[k] for k in ("status", "error", "error_type", "traceback")})
    if existing.ended_at is None:
        values["ended_at"] = row["ended_at"]
    store.update_run(conn, existing.run_id, values)


def _ingest_waxell_run(conn: Connection, run_id: str, group: list[ReceivedSpan]) -> None:
    run_span = next((s for s in group if waxell_spans.record_of(s) == "run"), None)
    if run_span is not None:
        existing = store.existing_run(conn, run_id)
        row = waxell_spans.run_row(run_id, run_span)
        if existing is None:
            store.create_run(conn, row)
        else:
            _enrich_run(conn, existing, row)
    # Records of a run whose span has not arrived (the run is still going) are stored all the
    # same: the run row appears with its run span, or with the SDK's own run start.
    calls, step_rows, span_rows, score_rows = [], [], [], []
    for span in group:
        record = waxell_spans.record_of(span)
        if record == "run":
            score_rows.extend(waxell_spans.score_rows(run_id, span))
            continue
        if not string(span.attributes, wax.RECORD_ID):
            continue
        if record == "llm_call":
            calls.append(waxell_spans.llm_call_row(run_id, span))
        elif record == "step":
            step_rows.append(waxell_spans.step_row(run_id, span))
        elif record == "span":
            span_rows.append(waxell_spans.span_row(run_id, span))
    store.insert_records(conn, calls=calls, step_rows=step_rows, span_rows=span_rows, score_rows=score_rows)


def _merge_foreign_run(conn: Connection, run_id: str, existing: Any, group: list[ReceivedSpan]) -> None:
    """Create or update the run of a foreign trace (its root span, when present, says how it ended)."""
    root = genai_spans.root_span(group)
    row = genai_spans.run_row(run_id, group, root)
    if existing is None:
        store.create_run(conn, row)
    elif root is not None:
        store.update_run(conn, run_id, {k: v for k, v in row.items() if k != "run_id"})
    else:
        values: dict[str, Any] = {"started_at": min(existing.started_at, row["started_at"])}
        if not existing.session_id and row["session_id"]:
            values["session_id"] = row["session_id"]
        if not existing.user_id and row["user_id"]:
            values["user_id"] = row["user_id"]
        store.update_run(conn, run_id, values)


def _ingest_foreign_trace(conn: Connection, trace_id: str, group: list[ReceivedSpan]) -> None:
    run_id = trace_id
    existing = store.existing_run(conn, run_id)
    attach_only = existing is not None and existing.source != RUN_SOURCE_OTEL
    if not attach_only:
        _merge_foreign_run(conn, run_id, existing, group)
    position = store.next_position(conn, run_id)
    calls, span_rows = [], []
    for span in sorted(group, key=lambda s: s.start):
        parent_id = genai_spans.record_id(trace_id, span.parent_span_id) if span.parent_span_id else ""
        if not attach_only and genai_spans.is_llm_call(span.attributes):
            calls.append(genai_spans.llm_call_row(run_id, span, position, parent_id))
        else:
            span_rows.append(genai_spans.span_row(run_id, span, position, parent_id))
        position += 1
    store.insert_records(conn, calls=calls, span_rows=span_rows)
