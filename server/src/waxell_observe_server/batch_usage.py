"""Counting the runs a batch completes in the governance counters, in the batch's transaction.

``complete/`` hands every completed run to the decider (``Decider.finish_run`` with
``always_count=True``, see ``run_governance.completion_governance``): its tokens and cost per
model go to ``gov_usage``, its outcome to ``gov_run_outcomes`` and ``gov_outcome_buckets``
(once per run), and the concurrency slots it held (its run id and the ``admission_id`` of its
``pre_execution_evaluations``) are freed. That is one transaction per run. This module does
the same for all the runs of a batch with a few statements, writing the same rows as
``SqlUsage.finish`` / ``SqliteUsage.finish``:

* ``gov_run_outcomes``: which runs are counted for the first time comes from one
  ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING RETURNING`` on PostgreSQL, and on
  SQLite (whose write transaction holds the whole database) from one ``SELECT`` before the
  ``executemany``;
* ``gov_outcome_buckets`` and ``gov_usage``: one upsert per key (identity, and model) adding the
  batch's sums. Counts and tokens are whole numbers, so they come out as one upsert per run
  would make them; a cost is a float, added to the stored one as the batch's sum rather than
  run by run — the same value up to the last bits of a float sum (what budgets compare is
  unaffected);
* ``gov_slots``: one ``DELETE`` of every holder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from waxell_observe.governance.sql_usage import HOUR, OUTCOME_BUCKET
from waxell_observe_server.raw_sql import execute_many, marker, pg_array, select_for_runs, translated_errors
from waxell_observe_server.run_governance import admission_ids

__all__ = ["Completion", "count_completions"]


@dataclass(frozen=True, slots=True)
class Completion:
    """A run completed by a batch entry, as the counters see it."""

    run_id: str
    agent_name: str
    workflow_name: str
    user_group: str
    status: str
    governance: Any
    """The run's ``governance`` column after the completion (its ``pre_execution_evaluations``
    name the admission ids whose slots are freed)."""


_BUCKETS = (
    "INSERT INTO gov_outcome_buckets (bucket, agent_name, workflow_name, user_group, errors, total) "
    "VALUES ({m}, {m}, {m}, {m}, {m}, {m}) ON CONFLICT (bucket, agent_name, workflow_name, user_group) "
    "DO UPDATE SET errors = gov_outcome_buckets.errors + excluded.errors, "
    "total = gov_outcome_buckets.total + excluded.total"
)
_USAGE = (
    "INSERT INTO gov_usage (bucket, agent_name, workflow_name, user_group, model, tokens, cost) "
    "VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}) "
    "ON CONFLICT (bucket, agent_name, workflow_name, user_group, model) "
    "DO UPDATE SET tokens = gov_usage.tokens + excluded.tokens, cost = gov_usage.cost + excluded.cost"
)
_OUTCOME_COLUMNS = "run_id, ended_at, agent_name, workflow_name, user_group, error, tokens, cost"
_OUTCOMES_PG = (
    f"INSERT INTO gov_run_outcomes ({_OUTCOME_COLUMNS}) "
    "SELECT * FROM unnest(%s::varchar[], %s::float8[], %s::varchar[], %s::varchar[], %s::varchar[], "
    "%s::bool[], %s::int8[], %s::float8[]) ON CONFLICT (run_id) DO NOTHING RETURNING run_id"
)
_KNOWN_OUTCOMES = "SELECT run_id FROM gov_run_outcomes WHERE run_id {runs}"
_OUTCOMES_SQLITE = (
    f"INSERT INTO gov_run_outcomes ({_OUTCOME_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (run_id) DO NOTHING"
)


def _insert_outcomes(conn: Connection, rows: list[tuple[Any, ...]]) -> set[str]:
    """Insert ``gov_run_outcomes`` rows; returns the run ids that were not counted before."""
    if conn.dialect.name == "postgresql":
        columns = [pg_array(column) for column in zip(*rows, strict=True)]  # rows of one width
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            with translated_errors(conn):
                cursor.execute(_OUTCOMES_PG, columns)
                return {row[0] for row in cursor.fetchall()}
        finally:
            cursor.close()
    # SQLite: this write transaction holds the database (BEGIN IMMEDIATE), so what is not
    # there now is inserted below
    ids = [row[0] for row in rows]
    known = {row[0] for row in select_for_runs(conn, _KNOWN_OUTCOMES, ids)}
    fresh = [row for row in rows if row[0] not in known]
    execute_many(conn, _OUTCOMES_SQLITE, fresh)
    return {row[0] for row in fresh}


def count_completions(
    conn: Connection,
    completions: Sequence[Completion],
    at: float,
    models: Mapping[str, Mapping[str, tuple[int, float]]],
) -> int:
    """Count ``completions`` (a run counted before, or earlier in the sequence, is not counted
    again) and free their slots; returns how many runs were counted. ``models``: the tokens and
    cost per model of each completed run, from its stored LLM calls."""
    if not completions:
        return 0
    first: dict[str, Completion] = {}
    for completion in completions:
        first.setdefault(completion.run_id, completion)
    outcome_rows = []
    for run_id, completion in first.items():
        usage = models.get(run_id, {})
        outcome_rows.append(
            (
                run_id,
                at,
                completion.agent_name,
                completion.workflow_name,
                completion.user_group,
                completion.status == "error",
                int(sum(t for t, _ in usage.values())),
                float(sum(c for _, c in usage.values())),
            )
        )
    counted = _insert_outcomes(conn, outcome_rows)
    outcome_bucket = int(at // OUTCOME_BUCKET) * OUTCOME_BUCKET
    hour = int(at // HOUR) * HOUR
    outcomes: dict[tuple[str, str, str], list[int]] = {}
    sums: dict[tuple[str, str, str, str], list[Any]] = {}
    for run_id, completion in first.items():
        if run_id not in counted:
            continue
        identity = (completion.agent_name, completion.workflow_name, completion.user_group)
        errors_total = outcomes.setdefault(identity, [0, 0])
        errors_total[0] += int(completion.status == "error")
        errors_total[1] += 1
        for model, (tokens, cost) in sorted(models.get(run_id, {}).items()):
            if tokens or cost:
                tokens_cost = sums.setdefault((*identity, model), [0, 0.0])
                tokens_cost[0] += int(tokens)
                tokens_cost[1] += float(cost)
    # one upsert per key with the batch's sums (not one per run: a statement per row is what
    # costs on PostgreSQL)
    bucket_rows = [
        (outcome_bucket, *identity, errors, total) for identity, (errors, total) in outcomes.items()
    ]
    execute_many(conn, _BUCKETS.format(m=marker(conn)), bucket_rows)
    usage_rows = [(hour, *key, tokens, cost) for key, (tokens, cost) in sums.items()]
    execute_many(conn, _USAGE.format(m=marker(conn)), usage_rows)
    holders = sorted({h for c in completions for h in (c.run_id, *admission_ids(c.governance)) if h})
    if holders:
        select_for_runs(conn, "DELETE FROM gov_slots WHERE holder {runs}", holders)
    return len(counted)
