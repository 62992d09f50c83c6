"""Storing many runs in one transaction: the storage side of ``POST runs/batch/``.

Each entry of a batch is what the per-run endpoints would receive for one run — a start, LLM
calls, steps, spans, scores, the latest conversation state, a completion — and is stored as
they would store it, in that order (start, then ``llm-calls/`` with the conversation state,
``steps/``, ``spans/``, ``scores/``, then ``complete/``). :func:`store_runs` does it for a
whole sequence of entries in the caller's transaction, with:

* one ``SELECT`` locking every run the batch names (PostgreSQL ``FOR UPDATE``, in run id order
  so that concurrent batches cannot deadlock);
* the rows of all entries staged on one :class:`~waxell_observe_server.ingest_store.StagedRows`
  (the same row builders as the per-run endpoints) and written with one statement per table
  (through ``store.bulk``'s staging tables: ``COPY`` on PostgreSQL);
* a run the batch starts is inserted once, after its records, with its final values (start,
  conversation state, completion, totals recomputed from the stored records); a run stored
  before is rewritten once with all of that. The per-run endpoints insert a run and then
  update it after every request: the stored row ends up the same, with less work;
* the rollups: on SQLite the per-row triggers follow these statements as they follow any
  write; on PostgreSQL the transaction runs in ``rollups.batch_mode``, where statement-level
  triggers fold each statement's rows at once;
* the governance counters of completed runs (:mod:`waxell_observe_server.batch_usage`).

Entries naming an unknown run without a ``start`` store nothing and come back as 404.
Governance evaluations are not done here: the caller sends runs that policies evaluate
through the per-run code path instead (see :mod:`waxell_observe_server.batch_routes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, select

from waxell_observe.store import bulk, rollups
from waxell_observe.store.schema import runs
from waxell_observe_server import batch_usage, ingest_store
from waxell_observe_server.raw_sql import select_for_ids, select_for_runs
from waxell_observe_server.run_refs import RunRef
from waxell_observe_server.sanitize import cut
from waxell_observe_server.staged_rows import REPLACED_RUNS, StagedRows
from waxell_observe_server.transactions import Writer
from waxell_observe_server.wire_models import BatchRunIn

__all__ = ["EntryOutcome", "store_runs", "write_runs", "unknown_run_message"]


@dataclass(slots=True)
class EntryOutcome:
    """What happened to one entry."""

    run_id: str
    """The entry's ``run_id`` (the client's)."""
    status: int
    """201: the run was started by this entry; 200: stored into an existing run; 404: unknown run."""
    workflow_id: str = ""
    """The id the run is stored under: ``run_id``, unless that id belongs to a run of another agent
    or workflow (then a new id, as ``runs/start/`` answers)."""
    error: str = ""
    duration: float | None = None
    """Seconds from start to end, when the entry completed the run."""


@dataclass(slots=True)
class _Run:
    """A run the batch writes to: its reference, and what the final ``UPDATE`` sets."""

    ref: RunRef
    user_group: str
    governance: Any
    values: dict[str, Any] = field(default_factory=dict)
    touched: bool = False
    """Records, conversation state or completion arrived: totals are recomputed."""
    start_row: dict[str, Any] | None = None
    """The start, when the batch creates the run: the run is inserted once, after its records,
    with its final values (its records' rollups are then added with it)."""
    stored: dict[str, Any] | None = None
    """The stored row, for a run stored before the batch: rewritten whole, with the batch's
    values, once (the row is locked: nothing else changes it meanwhile)."""


def unknown_run_message(run_id: str) -> str:
    return f"unknown run {run_id!r}: send its start (in this batch, or with POST runs/start/) first"


def _lock_runs(conn: Connection, run_ids: Sequence[str]) -> dict[str, _Run]:
    """The stored runs among ``run_ids`` (whole rows), locked for this transaction.

    One statement finds (and on PostgreSQL locks, ``FOR UPDATE`` in run id order, so that
    concurrent batches cannot deadlock) the ids stored already, with every id as one parameter;
    only the runs found — usually none or a few: those a previous batch started — are then read
    whole, through SQLAlchemy (which decodes their JSON columns)."""
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    found_ids = [
        row[0]
        for row in select_for_runs(
            conn, f"SELECT run_id FROM runs WHERE run_id {{runs}} ORDER BY run_id{lock}", sorted(run_ids)
        )
    ]
    found = {}
    for start in range(0, len(found_ids), _IDS_PER_QUERY):
        chunk = found_ids[start : start + _IDS_PER_QUERY]
        query = select(runs).where(runs.c.run_id.in_(chunk)).order_by(runs.c.run_id)
        for row in conn.execute(query):
            stored = dict(row._mapping)
            found[row.run_id] = _Run(
                ingest_store.run_ref(row), row.user_group or "", row.governance or {}, stored=stored
            )
    return found


_IDS_PER_QUERY = 500
"""Ids per ``IN (...)`` (older SQLite builds take at most 999 parameters per statement)."""


def write_runs(
    writer: Writer, entries: Sequence[BatchRunIn], now: float, *, counted_at: float
) -> list[EntryOutcome]:
    """:func:`store_runs` in one write transaction of ``writer``, through ``store.bulk``'s staging
    tables (made on a connection the first time it stores a batch)."""
    with writer.write() as conn:
        info = conn.connection.info
        made = _make_staging(conn, info)
        outcomes = store_runs(conn, entries, now, counted_at=counted_at, staging=True)
    if made:  # committed: on PostgreSQL the tables now outlive the transaction, with the session
        info[_STAGING_MADE] = True
    return outcomes


_STAGING_MADE = "waxell_ingest_staging_binary"  # key in a pooled connection's info: its staging tables exist


def _make_staging(conn: Connection, info: dict[Any, Any]) -> bool:
    """Make the staging tables unless this connection has them: True when made now (on
    PostgreSQL, where making them costs a statement each, the connection remembers it once the
    transaction has committed; on SQLite they are cheap to ask for every time). On PostgreSQL
    they are the ones a binary ``COPY`` fills (see :class:`~.staged_rows.StagedRows`)."""
    if conn.dialect.name != "postgresql":
        bulk.create_staging(conn, ingest_store.STAGING_TABLES)
        return False
    if info.get(_STAGING_MADE):
        return False
    bulk.create_staging(conn, ingest_store.STAGING_TABLES, binary=True)
    return True


def store_runs(
    conn: Connection, entries: Sequence[BatchRunIn], now: float, *, counted_at: float, staging: bool = False
) -> list[EntryOutcome]:
    """Store ``entries`` in order inside the caller's transaction; one outcome per entry.

    ``now`` stands for the arrival time of everything in the batch (records without their own
    times get it). Completed runs are counted in the governance counters at ``counted_at``
    (as ``complete/`` does when no post-execution policy applies to the run). ``staging``: the
    connection has ``store.bulk``'s staging tables (see :class:`~.ingest_store.StagedRows`).

    On PostgreSQL the rollups are kept set-based (``rollups.batch_mode``: statement-level
    triggers fold each statement's rows, and every table is written with one statement); on
    SQLite the per-row triggers keep them, as for any other write.
    """
    postgres = conn.dialect.name == "postgresql"
    with rollups.batch_mode(conn) if postgres else nullcontext():
        return _store_runs(conn, entries, now, counted_at, StagedRows(conn, staging=staging))


def _store_runs(
    conn: Connection, entries: Sequence[BatchRunIn], now: float, counted_at: float, staged: StagedRows
) -> list[EntryOutcome]:
    known = _lock_runs(conn, list({e.run_id for e in entries}))
    outcomes: list[EntryOutcome] = []
    completions: list[batch_usage.Completion] = []
    for entry in entries:
        run, status = _run_of(entry, known, now)
        if run is None:
            outcomes.append(EntryOutcome(entry.run_id, 404, error=unknown_run_message(entry.run_id)))
            continue
        outcome = EntryOutcome(entry.run_id, status, workflow_id=run.ref.run_id)
        outcomes.append(outcome)
        ref = run.ref
        if entry.llm_calls:
            ingest_store.stage_llm_calls(staged, ref, entry.llm_calls, now)
        if entry.conversation_state is not None:
            ref, values = ingest_store.conversation_values(ref, entry.conversation_state)
            run.values.update(values)
        if entry.steps:
            ingest_store.stage_steps(staged, ref, entry.steps, now)
        if entry.spans:
            ingest_store.stage_spans(staged, ref, entry.spans, now)
        if entry.scores:
            ingest_store.stage_scores(staged, ref, entry.scores, now)
        run.touched = run.touched or bool(
            entry.llm_calls or entry.steps or entry.spans or entry.conversation_state is not None
        )
        if entry.complete is not None:
            body = entry.complete
            if body.steps:
                ingest_store.stage_steps(staged, ref, body.steps, now)
            values, outcome.duration = ingest_store.completion_values(ref, body, now)
            run.values.update(values)
            run.touched = True
            if "tags" in values or "metadata" in values:
                ref = replace(
                    ref, tags=values.get("tags", ref.tags), metadata=values.get("metadata", ref.metadata)
                )
            if "governance" in values:
                run.governance = values["governance"]
            completions.append(
                batch_usage.Completion(
                    ref.run_id,
                    ref.agent_name,
                    ref.workflow_name,
                    run.user_group,
                    values["status"],
                    run.governance,
                )
            )
        run.ref = ref
    staged.flush()
    touched = {run.ref.run_id: run for run in known.values() if run.touched}
    usage = _add_totals(conn, touched, {c.run_id for c in completions})
    final = sorted(known.values(), key=lambda r: r.ref.run_id)
    staged.add(runs, [{**run.start_row, **run.values} for run in final if run.start_row is not None])
    staged.add(
        REPLACED_RUNS,
        [{**run.stored, **run.values} for run in final if run.stored is not None and run.touched],
    )
    staged.flush()
    batch_usage.count_completions(conn, completions, counted_at, usage)
    return outcomes


def _run_of(entry: BatchRunIn, known: dict[str, _Run], now: float) -> tuple[_Run | None, int]:
    """The run an entry writes to (started by it when it carries a start), and the entry's
    status: 201 when it started the run, 200 otherwise; ``None`` for an unknown run."""
    start = entry.start
    if start is None:
        return known.get(entry.run_id), 200
    agent_name = cut(start.agent_name, 256)
    workflow_name = cut(start.workflow_name, 256) or "default"
    existing = known.get(entry.run_id)
    # a run the OTLP receiver made from spans is the SDK's to fill: its start takes the run over
    provisional = (
        existing
        if existing is not None
        and existing.stored is not None
        and ingest_store.made_from_spans(existing.stored.get("source"))
        else None
    )
    stored = (
        None
        if existing is None or provisional is not None
        else (existing.ref.agent_name, existing.ref.workflow_name, existing.ref.started_at)
    )
    run_id, created = ingest_store.start_decision(entry.run_id, stored, agent_name, workflow_name)
    if not created:
        assert existing is not None
        return existing, 200
    row = ingest_store.run_start_row(start, run_id, now)
    if provisional is not None:
        row = ingest_store.taken_over(row, provisional.ref)
    ref = RunRef(
        run_id, row["agent_name"], row["workflow_name"], row["started_at"], row["metadata"], row["tags"]
    )
    # written by the "supersede" insert; a run taken over keeps its stored records: totals recomputed
    run = _Run(ref, row["user_group"], row["governance"], start_row=row, touched=provisional is not None)
    # under the entry's id, or a new one when that id belongs to another agent's run (later
    # entries with the entry's id then mean that other run, as they would over runs/start/)
    known[run_id] = run
    return run, 201


_SUMS = (
    "SELECT 0, run_id, '', coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0), "
    "coalesce(sum(cost), 0.0), count(*) FROM llm_calls WHERE run_id {touched} GROUP BY run_id "
    "UNION ALL SELECT 1, run_id, '', count(*), 0, 0.0, 0 FROM steps WHERE run_id {touched} GROUP BY run_id "
    "UNION ALL SELECT 2, run_id, '', count(*), 0, 0.0, 0 FROM spans WHERE run_id {touched} GROUP BY run_id "
    "UNION ALL SELECT 3, run_id, model, sum(tokens_in + tokens_out), 0, sum(cost), 0 FROM llm_calls "
    "WHERE run_id {completed} GROUP BY run_id, model ORDER BY 1, 2, 3"
)
"""Per touched run: its calls' tokens, cost and count (0), its steps (1) and spans (2); per
completed run and model: tokens and cost (3, what the governance counters add), models in
order. One statement: the sums are each computed by the database as separate queries would
compute them."""


def _add_totals(
    conn: Connection, touched: Mapping[str, _Run], completed: set[str]
) -> dict[str, dict[str, tuple[int, float]]]:
    """Put each touched run's totals, recomputed from its stored records, into its values
    (as ``store.writer.refresh_totals`` computes them); return the tokens and cost per model of
    each ``completed`` run (for :func:`~.batch_usage.count_completions`)."""
    if not touched and not completed:
        return {}
    calls: dict[str, tuple[Any, ...]] = {}
    counts: tuple[dict[str, int], dict[str, int]] = ({}, {})
    usage: dict[str, dict[str, tuple[int, float]]] = {}
    for kind, run_id, model, first, second, cost, count in select_for_ids(
        conn, _SUMS, touched=sorted(touched), completed=sorted(completed)
    ):
        if kind == 0:
            calls[run_id] = (first, second, cost, count)
        elif kind == 3:
            usage.setdefault(run_id, {})[model] = (int(first or 0), float(cost or 0.0))
        else:
            counts[kind - 1][run_id] = int(first)
    step_counts, span_counts = counts
    for run_id, run in touched.items():
        tokens_in, tokens_out, cost, count = calls.get(run_id, (0, 0, 0.0, 0))
        run.values.update(
            tokens_in=int(tokens_in),
            tokens_out=int(tokens_out),
            total_cost=round(float(cost), 10),
            llm_call_count=int(count),
            step_count=step_counts.get(run_id, 0),
            span_count=span_counts.get(run_id, 0),
        )
    return usage
