"""A fork never lands inside SQLite: ``os.fork()`` waits until no other thread is inside a store
transaction (``process.ForkGate``), so the child finds the store usable.

Without the gate, a child forked while another thread held a write transaction inherited SQLite's
record of that lock: its own writes found the file locked until the busy timeout ran out (or hung
on a mutex the vanished thread held). That is how ``test_a_fork_child_governs_its_own_runs`` hung
about one full run in ten.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from waxell_observe.config import db_url_from
from waxell_observe.process import ForkGate, sqlite_gate
from waxell_observe.store import get_store
from waxell_observe.store.schema import schema_info


def _wait_for_child(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _fork_an_empty_child(caplog: pytest.LogCaptureFixture) -> int:
    """Fork a child that exits at once, capturing the SDK's warnings of the fork; the child's pid."""
    with caplog.at_level(logging.WARNING, logger="waxell_observe"):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
    return pid


def test_a_child_forked_while_another_thread_writes_can_write_the_store(tmp_path: Path) -> None:
    url = db_url_from(str(tmp_path / "forked.db"))
    store = get_store(url)
    inside = threading.Event()

    def hold_a_write_transaction() -> None:
        with store.write() as conn:
            conn.execute(insert(schema_info).values(key="parent", value="1"))
            inside.set()
            time.sleep(0.3)  # the fork comes now, and must wait for the commit

    writer = threading.Thread(target=hold_a_write_transaction)
    writer.start()
    assert inside.wait(10)
    pid = os.fork()
    if pid == 0:  # the child: its own store for the same file, a write, a read
        code = 1
        try:
            signal.alarm(30)  # a child that would hang is ended (and the test fails) instead
            child_store = get_store(url)
            with child_store.write() as conn:
                conn.execute(insert(schema_info).values(key="child", value="1"))
            with child_store.read() as conn:
                keys = set(conn.execute(select(schema_info.c.key)).scalars())
            code = 0 if {"parent", "child"} <= keys else 2
        finally:
            os._exit(code)
    writer.join()
    assert _wait_for_child(pid) == 0
    assert sqlite_gate.inside() == 0
    with store.read() as conn:
        rows = conn.execute(
            select(func.count()).select_from(schema_info).where(schema_info.c.key.in_(["parent", "child"]))
        ).scalar_one()
    assert rows == 2


def test_a_fork_waits_for_the_threads_inside() -> None:
    gate = ForkGate("the test's gate")
    events: list[str] = []
    inside = threading.Event()

    def pass_through() -> None:
        with gate:
            inside.set()
            time.sleep(0.2)
            events.append("left")

    thread = threading.Thread(target=pass_through)
    thread.start()
    assert inside.wait(10)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, bytes([gate.inside()]))
        os._exit(0)
    events.append("forked")
    thread.join()
    assert _wait_for_child(pid) == 0
    assert os.read(read, 1) == bytes([0])  # the child inherits no passage
    assert events == ["left", "forked"]
    assert gate.inside() == 0


def test_the_forking_thread_inside_the_gate_is_not_waited_for_and_keeps_its_passage() -> None:
    gate = ForkGate("the test's gate", wait_seconds=60)
    started = time.monotonic()
    with gate:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(write, bytes([gate.inside()]))
            os._exit(0)
        waited = time.monotonic() - started
    assert _wait_for_child(pid) == 0
    assert os.read(read, 1) == bytes([1])  # the child goes on inside, and leaves by itself
    assert waited < 30  # far below the gate's 60 s: it did not wait for itself
    assert gate.inside() == 0


def test_a_thread_that_stays_inside_delays_a_fork_only_so_long_and_is_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = ForkGate("the stuck resource", wait_seconds=0.5)
    release, inside = threading.Event(), threading.Event()

    def stay_inside() -> None:
        with gate:
            inside.set()
            release.wait(30)

    thread = threading.Thread(target=stay_inside)
    thread.start()
    assert inside.wait(10)
    pid = _fork_an_empty_child(caplog)
    release.set()
    thread.join()
    assert _wait_for_child(pid) == 0
    warnings = [r.getMessage() for r in caplog.records if "the stuck resource" in r.getMessage()]
    assert warnings == [
        "waxell-observe: os.fork() went ahead after 0.5 s while another thread was still inside the stuck "
        "resource; the child may find it locked"
    ]
    assert gate.inside() == 0


def test_threads_passing_through_without_pause_do_not_hold_a_fork_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two threads hand the gate to each other: the next one enters before the last one leaves, so
    nobody-inside never comes by itself. The fork closes the gate first, so the hand-over stops and
    the fork goes ahead when the thread inside leaves (it waits at most 0.2 s for the other)."""
    gate = ForkGate("the busy gate", wait_seconds=5)
    stop = threading.Event()
    entries = [0]
    changed = threading.Condition()

    def hand_over() -> None:
        while not stop.is_set():
            with gate, changed:
                entries[0] += 1
                mine = entries[0]
                changed.notify_all()
                changed.wait_for(lambda mine=mine: entries[0] > mine or stop.is_set(), timeout=0.2)

    threads = [threading.Thread(target=hand_over) for _ in range(2)]
    for thread in threads:
        thread.start()
    with changed:
        assert changed.wait_for(lambda: entries[0] >= 10, timeout=30)  # the hand-over is going
    pid = _fork_an_empty_child(caplog)
    stop.set()
    for thread in threads:
        thread.join()
    assert _wait_for_child(pid) == 0
    assert [r.getMessage() for r in caplog.records if "the busy gate" in r.getMessage()] == []
    assert gate.inside() == 0


def test_a_thread_inside_passes_again_while_a_fork_waits_for_it(caplog: pytest.LogCaptureFixture) -> None:
    """A passage inside a passage (a read inside a write, say) is let through a closed gate: the
    fork is waiting for that very thread to leave."""
    gate = ForkGate("the nested gate", wait_seconds=5)
    inside = threading.Event()
    events: list[str] = []

    def nest() -> None:
        with gate:
            inside.set()
            time.sleep(0.2)  # the fork closes the gate meanwhile
            with gate:
                events.append("nested")
        events.append("left")

    thread = threading.Thread(target=nest)
    thread.start()
    assert inside.wait(10)
    pid = _fork_an_empty_child(caplog)
    events.append("forked")
    thread.join()
    assert _wait_for_child(pid) == 0
    assert events == ["nested", "left", "forked"]
    assert [r.getMessage() for r in caplog.records if "the nested gate" in r.getMessage()] == []
