"""``store.bulk``: rows for a table with rollup triggers go in by one staged statement on SQLite,
with exactly the semantics of one ``executemany`` (conflict rules, first of duplicates wins, the
triggers fire per row), and driver errors come out as SQLAlchemy's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from waxell_observe.store import Store, bulk
from waxell_observe.store.batch import RUN_COLUMNS
from waxell_observe.store.schema import audit_events, runs


def _run(
    run_id: str, agent: str, status: str = "running", cost: float = 0.0, source: str = "sdk"
) -> tuple[Any, ...]:
    values: dict[str, Any] = {
        "run_id": run_id,
        "agent_name": agent,
        "workflow_name": "default",
        "status": status,
        "error": "",
        "error_type": "",
        "traceback": "",
        "session_id": "s",
        "user_id": "",
        "user_group": "",
        "parent_run_id": "",
        "root_run_id": "",
        "interaction_mode": "autonomous",
        "started_at": 1_700_000_000.0,
        "ended_at": None,
        "inputs": "{}",
        "metadata": "{}",
        "tags": '{"env":"prod"}',
        "result": "{}",
        "conversation": "{}",
        "governance": "{}",
        "auto_collected": False,
        "tokens_in": 0,
        "tokens_out": 0,
        "total_cost": cost,
        "llm_call_count": 0,
        "step_count": 0,
        "span_count": 0,
        "trace_id": "",
        "source": source,
    }
    return tuple(values[c] for c in RUN_COLUMNS)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = Store(f"sqlite:///{tmp_path / 'bulk.db'}")
    yield opened
    opened.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def either_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'bulk.db'}"
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
    opened = Store(url)
    yield opened
    opened.dispose()


def _rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_staged_insert_keeps_executemany_semantics_and_fires_the_triggers(store: Store) -> None:
    with store.write() as conn:
        bulk.insert_rows(
            conn, runs, RUN_COLUMNS, [_run("a", "x"), _run("b", "x"), _run("a", "y")]
        )  # first "a" wins
    with store.write() as conn:
        bulk.insert_rows(conn, runs, RUN_COLUMNS, [_run("a", "z"), _run("c", "x")])  # "a" is stored: skipped
        bulk.insert_rows(
            conn,
            runs,
            RUN_COLUMNS,
            [_run("b", "x", "success", 0.5), _run("d", "y")],
            conflict="update",
            key=("run_id",),
        )
    assert _rows(store, "SELECT run_id, agent_name, status FROM runs ORDER BY run_id") == [
        ("a", "x", "running"), ("b", "x", "success"), ("c", "x", "running"), ("d", "y", "running"),
    ]  # fmt: skip
    # the per-row triggers followed every row (none of this ran in batch mode)
    assert _rows(store, "SELECT agent_name, status, runs, cost FROM rollup_runs ORDER BY 1, 2") == [
        ("x", "running", 2, 0.0), ("x", "success", 1, 0.5), ("y", "running", 1, 0.0),
    ]  # fmt: skip
    assert _rows(store, "SELECT session_id, runs, cost FROM rollup_sessions") == [("s", 4, 0.5)]


def test_staging_tables_are_left_empty_and_reusable_in_one_transaction(store: Store) -> None:
    with store.write() as conn:
        bulk.insert_rows(conn, runs, RUN_COLUMNS, [_run("a", "x"), _run("b", "x")])
        bulk.insert_rows(conn, runs, RUN_COLUMNS, [_run("c", "x"), _run("d", "x")])
        assert conn.exec_driver_sql("SELECT count(*) FROM temp.wx_stage_runs").scalar() == 0
    assert _rows(store, "SELECT count(*) FROM runs") == [(4,)]


def test_driver_errors_are_sqlalchemy_errors_and_roll_back(store: Store) -> None:
    with pytest.raises(IntegrityError), store.write() as conn:
        bulk.insert_rows(conn, runs, RUN_COLUMNS, [_run("a", "x"), _run("b", None)])  # type: ignore[arg-type]
    with pytest.raises(IntegrityError), store.write() as conn:  # executemany path (no trigger on the table)
        row = {
            "ts": 1.0,
            "run_id": "",
            "agent_name": "",
            "workflow_name": "",
            "event": None,
            "policy_name": "",
            "category": "",
            "action": "",
            "reason": "",
            "phase": "",
            "metadata": "{}",
        }
        bulk.insert_rows(conn, audit_events, tuple(row), [tuple(row.values())] * 2, conflict="none")
    assert _rows(store, "SELECT count(*) FROM runs") == [(0,)]
    assert _rows(store, "SELECT count(*) FROM rollup_runs") == [(0,)]


@pytest.mark.parametrize("staged", [False, True])
def test_supersede_takes_over_only_runs_made_from_spans(either_store: Store, staged: bool) -> None:
    """``conflict="supersede"``: the SDK's start row replaces a run the OTLP receiver made from spans
    (``source`` otlp or otel) and leaves a run the SDK delivered as it is; the rollups follow."""
    store = either_store
    with store.write() as conn:
        bulk.insert_rows(
            conn,
            runs,
            RUN_COLUMNS,
            [
                _run("a", "span-name", "success", source="otlp"),
                _run("b", "trace", source="otel"),
                _run("c", "x"),
            ],
        )
    rows = [_run("a", "x", cost=0.25), _run("b", "x"), _run("c", "y", "error"), _run("d", "y")]
    with store.write() as conn:
        insert = bulk.insert_staged if staged else bulk.insert_rows
        if staged:
            bulk.create_staging(conn, (runs,))
        insert(conn, runs, RUN_COLUMNS, rows, conflict="supersede", key=("run_id",))
    stored = "SELECT run_id, agent_name, status, source, total_cost FROM runs ORDER BY run_id"
    assert _rows(store, stored) == [
        ("a", "x", "running", "sdk", 0.25), ("b", "x", "running", "sdk", 0.0),
        ("c", "x", "running", "sdk", 0.0), ("d", "y", "running", "sdk", 0.0),
    ]  # fmt: skip
    # (on PostgreSQL the day-keyed rollups are logs of changes until compacted: summed by key)
    rollup = (
        "SELECT agent_name, status, sum(runs), sum(cost) FROM rollup_runs GROUP BY 1, 2 HAVING sum(runs) > 0"
    )
    assert _rows(store, rollup + " ORDER BY 1, 2") == [
        ("x", "running", 3, 0.25), ("y", "running", 1, 0.0),
    ]  # fmt: skip
