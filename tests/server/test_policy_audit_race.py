"""A policy span that the wire protocol and the OTLP receiver store at the same instant gets ONE audit row.

The SDK sends a run's records both ways when it also exports OTLP to our server. Whichever request
stores a ``policy`` span first writes its audit row. On PostgreSQL two transactions can both look
before either has committed; the one that inserts second waits on the span's key, then inserts
nothing, and must then audit nothing. So what is fresh is decided by the insert itself
(``writer.insert_new``), not by a look beforehand.

The interleaving is forced, not hoped for: the first path holds its transaction open until the
second one is seen waiting on a lock in ``pg_stat_activity``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, func, select, text

from waxell_observe.config import db_url_from
from waxell_observe.store import Store, get_store, writer
from waxell_observe.store.schema import audit_events

RUN_ID = "0" * 31 + "1"
SPAN_ID = "a" * 32


def _span_row() -> dict[str, Any]:
    return {
        "id": SPAN_ID,
        "run_id": RUN_ID,
        "position": 1,
        "kind": "policy",
        "name": "budget",
        "status": "ok",
        "duration_ms": 0.0,
        "started_at": 1_700_000_000.0,
        "parent_span_id": "",
        "attributes": {"policy_name": "budget", "category": "budget", "action": "warn", "reason": "85%"},
        "input": None,
        "output": None,
        "error": "",
    }


def _through_the_wire(conn: Connection) -> None:
    from waxell_observe_server.record_rows import _stage_span_rows
    from waxell_observe_server.run_refs import RunRef
    from waxell_observe_server.staged_rows import StagedRows

    staged = StagedRows(conn)
    _stage_span_rows(staged, RunRef(RUN_ID, "agent", "wf", 1_700_000_000.0, {}, {}), [_span_row()])
    staged.flush()


def _through_otlp(conn: Connection) -> None:
    from waxell_observe_server.otlp.store import insert_records

    insert_records(conn, span_rows=[_span_row()])


PATHS: dict[str, Callable[[Connection], None]] = {"wire": _through_the_wire, "otlp": _through_otlp}


def _lock_waiters(store: Store) -> int:
    with store.read() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def _audit_rows(store: Store) -> int:
    with store.read() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(audit_events).where(audit_events.c.run_id == RUN_ID)
            ).scalar_one()
        )


@pytest.mark.postgres
@pytest.mark.parametrize(("first", "second"), [("wire", "otlp"), ("otlp", "wire"), ("wire", "wire")])
def test_the_same_policy_span_stored_by_two_requests_at_once_is_audited_once(
    postgres_url: str, first: str, second: str
) -> None:
    store = get_store(db_url_from(postgres_url))
    with store.write() as conn:
        writer.start_run(
            conn, {"run_id": RUN_ID, "agent_name": "agent", "workflow_name": "wf", "started_at": 1.0}
        )
    stored, go = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def first_request() -> None:
        try:
            with store.write() as conn:
                PATHS[first](conn)
                stored.set()
                assert go.wait(60)  # committed only once the second request waits on the span's key
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)
            stored.set()

    def second_request() -> None:
        try:
            with store.write() as conn:
                PATHS[second](conn)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)

    one = threading.Thread(target=first_request)
    one.start()
    assert stored.wait(60)
    two = threading.Thread(target=second_request)
    two.start()
    deadline = time.monotonic() + 60
    while _lock_waiters(store) == 0 and two.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert failures == [] and two.is_alive(), (
        f"the second request did not wait for the first one's span: {failures}"
    )
    go.set()
    one.join(60)
    two.join(60)
    assert failures == []
    assert _audit_rows(store) == 1
