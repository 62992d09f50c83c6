"""SqlUsage: the store's transactional counters behave like the in-memory reference, on SQLite and
PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone

import pytest

from waxell_observe.config import db_url_from
from waxell_observe.governance import InMemoryUsage
from waxell_observe.governance.processes import process_owner
from waxell_observe.governance.sql_usage import RunUsage, SqlUsage
from waxell_observe.governance.sqlite_usage import SqliteUsage
from waxell_observe.governance.usage import BreakerState, RateWindow, UsageScope
from waxell_observe.governance.usage_factory import usage_for_store
from waxell_observe.store import get_store

NOW = datetime(2025, 6, 4, 10, 30, tzinfo=timezone.utc).timestamp()
DAY_START = datetime(2025, 6, 4, tzinfo=timezone.utc).timestamp()
MINUTE = [RateWindow("max_per_minute", 60.0, 2)]


@pytest.fixture(
    params=["memory", "sqlite", "sqlite-core", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def usage(request: pytest.FixtureRequest, waxell_db):  # type: ignore[no-untyped-def]
    """The same admission contract, kept in memory (the reference) or in the store: SQLite through plain
    sqlite3 (what a SQLite file gets), SQLite through SQLAlchemy Core, and PostgreSQL."""
    if request.param == "memory":
        return InMemoryUsage(clock=lambda: NOW)
    if request.param == "postgres":
        return usage_for_store(
            get_store(db_url_from(request.getfixturevalue("postgres_url"))), clock=lambda: NOW
        )
    store = get_store(db_url_from(str(waxell_db)))
    if request.param == "sqlite":
        made = usage_for_store(store, clock=lambda: NOW)
        assert isinstance(made, SqliteUsage)
        return made
    return SqlUsage(store, clock=lambda: NOW)


@pytest.fixture(params=["sqlite", "sqlite-core", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_usage(request: pytest.FixtureRequest, waxell_db):  # type: ignore[no-untyped-def]
    """A factory of store-backed usage sources (keyword arguments as for SqlUsage), and the store URL."""
    if request.param == "postgres":
        url = db_url_from(request.getfixturevalue("postgres_url"))
    else:
        url = db_url_from(str(waxell_db))
    core = request.param == "sqlite-core"

    def make(**kwargs):  # type: ignore[no-untyped-def]
        store = get_store(url)
        return SqlUsage(store, **kwargs) if core else usage_for_store(store, **kwargs)

    make.url = url  # type: ignore[attr-defined]
    return make


def test_sliding_window_counts_and_retry_after(usage) -> None:  # type: ignore[no-untyped-def]
    scope = UsageScope("rate")
    assert usage.admit(scope, "r1", NOW, MINUTE, None).admitted
    assert usage.admit(scope, "r2", NOW + 10, MINUTE, None).admitted
    refused = usage.admit(scope, "r3", NOW + 20, MINUTE, None)
    assert refused == (False, "max_per_minute", 2, 2, 40.0)
    assert usage.runs_started_since(scope, NOW - 1) == 2
    # exactly one minute after the first admission it no longer counts
    assert usage.admit(scope, "r4", NOW + 60, MINUTE, None).admitted
    assert usage.runs_started_since(scope, NOW + 0.5) == 2
    # another policy's counters are its own
    assert usage.admit(UsageScope("other"), "r5", NOW + 60, MINUTE, None).admitted


def test_concurrency_slots_release_and_idempotent_readmission(usage) -> None:  # type: ignore[no-untyped-def]
    scope = UsageScope("slots")
    assert usage.admit(scope, "a", NOW, [], 2).admitted
    assert usage.admit(scope, "b", NOW, [], 2).admitted
    assert usage.admit(scope, "c", NOW, [], 2) == (False, "max_concurrent", 2, 2, None)
    assert usage.admit(scope, "a", NOW, [], 2).admitted  # a holder already in keeps its slot
    assert usage.runs_in_flight(scope, NOW) == 2
    usage.release(scope, "a")
    usage.release(scope, "a")  # idempotent
    assert usage.runs_in_flight(scope, NOW) == 1
    assert usage.admit(scope, "c", NOW, [], 2).admitted


def test_revoke_forgets_the_admission(usage) -> None:  # type: ignore[no-untyped-def]
    scope = UsageScope("rate")
    windows = [RateWindow("max_per_minute", 60.0, 1)]
    assert usage.admit(scope, "h1", NOW, windows, None).admitted
    assert usage.admit(scope, "h2", NOW + 1, windows, None) == (False, "max_per_minute", 1, 1, 59.0)
    usage.release(scope, "h1", revoke=True)
    assert usage.admit(scope, "h2", NOW + 1, windows, None).admitted


def test_admission_is_atomic_under_threads(usage) -> None:  # type: ignore[no-untyped-def]
    scope = UsageScope("p")
    admitted: list[int] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        if usage.admit(scope, f"h{i}", NOW, [RateWindow("max_per_minute", 60.0, 7)], 5).admitted:
            with lock:
                admitted.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 5
    assert usage.runs_in_flight(scope, NOW) == 5
    assert usage.runs_started_since(scope, NOW - 60) == 5


def test_breaker_state_round_trip(usage) -> None:  # type: ignore[no-untyped-def]
    scope = UsageScope("breaker")
    assert usage.get_breaker(scope) is None
    state = BreakerState(tripped_at=NOW, recovered_at=None, error_rate=0.75, samples=12)
    usage.set_breaker(scope, state)
    assert usage.get_breaker(scope) == state
    usage.set_breaker(scope, BreakerState(recovered_at=NOW + 5))
    assert usage.get_breaker(scope) == BreakerState(recovered_at=NOW + 5)
    usage.set_breaker(scope, None)
    assert usage.get_breaker(scope) is None


# --------------------------------------------------------------------------- SqlUsage only


def test_finished_runs_count_per_scope_model_and_day(make_usage) -> None:  # type: ignore[no-untyped-def]
    usage = make_usage()
    research = UsageScope("research", agents=("research-*",))
    free = UsageScope("free", user_groups=("free",))
    everything = UsageScope("all")
    models = {"gpt-4o-mini-2024-07-18": (1000, 0.25), "claude-3-5-haiku": (500, 0.5)}
    assert usage.finish(RunUsage("r1", "research-bot", "default", "free", models=models), at=NOW)
    assert not usage.finish(RunUsage("r1", "research-bot", "default", "free", models=models), at=NOW)  # once
    assert usage.finish(RunUsage("r2", "chat-bot", "default", "pro", models={"gpt-4o": (40, 0.125)}), at=NOW)
    # yesterday's usage is outside today's budget
    assert usage.finish(RunUsage("r0", "research-bot", models={"gpt-4o": (7, 1.0)}), at=DAY_START - 1)

    assert usage.usage_since(research, DAY_START) == (1500, 0.75)
    assert usage.usage_since(free, DAY_START) == (1500, 0.75)
    assert usage.usage_since(everything, DAY_START) == (1540, 0.875)
    assert usage.usage_since(everything, DAY_START - 86400) == (1547, 1.875)
    assert usage.usage_since(everything, DAY_START, model="gpt-4o-mini") == (1000, 0.25)
    assert usage.usage_since(everything, DAY_START, model="claude-*") == (500, 0.5)
    assert usage.usage_since(research, DAY_START, model="gpt-4.1") == (0, 0.0)
    # a run being checked has not been counted yet: excluding it changes nothing
    assert usage.usage_since(everything, DAY_START, exclude_run_id="r3") == (1540, 0.875)


def test_outcomes_feed_the_breaker_window(make_usage) -> None:  # type: ignore[no-untyped-def]
    usage = make_usage()
    scope = UsageScope("ks", agents=("flaky",))
    for i in range(6):
        usage.finish(RunUsage(f"f{i}", "flaky", error=i % 3 != 0), at=NOW - 100 + i)
    usage.finish(RunUsage("other", "steady", error=True), at=NOW)
    usage.finish(RunUsage("old", "flaky", error=True), at=NOW - 1000)
    assert usage.outcomes_since(scope, NOW - 300) == (4, 6)
    assert usage.outcomes_since(UsageScope("all"), NOW - 300) == (5, 7)
    assert usage.outcomes_since(scope, NOW - 97.5) == (2, 3)


def test_finish_frees_the_slots_of_the_run(make_usage) -> None:  # type: ignore[no-untyped-def]
    usage = make_usage()
    a, b = UsageScope("a"), UsageScope("b")
    assert usage.admit(a, "run-1", NOW, [], 1).admitted
    assert usage.admit(b, "run-1", NOW, [], 1).admitted
    assert not usage.admit(a, "run-2", NOW, [], 1).admitted
    assert usage.finish(None, holders=["run-1"], at=NOW) is False
    assert usage.runs_in_flight(a, NOW) == 0 and usage.runs_in_flight(b, NOW) == 0
    assert usage.admit(a, "run-2", NOW, [], 1).admitted


def test_slots_never_released_expire_after_their_ttl(make_usage) -> None:  # type: ignore[no-untyped-def]
    usage = make_usage(owner="", slot_ttl_seconds=300)
    scope = UsageScope("slots")
    assert usage.admit(scope, "lost", NOW, [], 1).admitted
    assert not usage.admit(scope, "next", NOW + 299, [], 1).admitted
    assert usage.runs_in_flight(scope, NOW + 299) == 1
    assert usage.runs_in_flight(scope, NOW + 300) == 0
    assert usage.admit(scope, "next", NOW + 300, [], 1).admitted


def test_slots_of_a_killed_process_are_freed(make_usage) -> None:  # type: ignore[no-untyped-def]
    """A process takes a slot and is killed (SIGKILL: no cleanup); the next admission frees it."""
    script = f"""
import sys, time
from waxell_observe.governance.usage import UsageScope
from waxell_observe.governance.usage_factory import usage_for_store
from waxell_observe.store import get_store
usage = usage_for_store(get_store({make_usage.url!r}))
print(usage.admit(UsageScope("slots"), "doomed", time.time(), [], 1).admitted, flush=True)
time.sleep(60)
"""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "True"
        usage = make_usage()
        scope = UsageScope("slots")
        import time

        assert usage.admit(scope, "mine", time.time(), [], 1) == (False, "max_concurrent", 1, 1, None)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert usage.admit(scope, "mine", time.time(), [], 1).admitted
        assert usage.runs_in_flight(scope, time.time()) == 1
    finally:
        child.kill()
        child.wait(timeout=30)


def test_process_owner_names_host_pid_and_start_time() -> None:
    import os
    import socket

    host, pid, ticks = process_owner().split(":")
    assert (host, int(pid)) == (socket.gethostname(), os.getpid())
    assert ticks.isdigit()
