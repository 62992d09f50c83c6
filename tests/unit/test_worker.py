"""BackgroundWorker: batching, bounded memory with counted drops, retries, flush, fork."""

from __future__ import annotations

import os
import threading
import time

import pytest

from waxell_observe.delivery.worker import BackgroundWorker, RetryLater


def test_items_are_delivered_in_order_in_batches() -> None:
    batches: list[list[int]] = []
    worker: BackgroundWorker[int] = BackgroundWorker("t", batches.append, batch_size=10, interval=0.01)
    for i in range(35):
        assert worker.put(i)
    report = worker.flush(timeout=5)
    assert [i for batch in batches for i in batch] == list(range(35))
    assert max(len(b) for b in batches) <= 10
    assert (report.sent, report.dropped, report.pending) == (35, 0, 0)


def test_full_queue_drops_and_counts() -> None:
    release = threading.Event()
    delivered: list[int] = []

    def slow(batch: list[int]) -> None:
        release.wait(5)
        delivered.extend(batch)

    worker: BackgroundWorker[int] = BackgroundWorker("t", slow, max_queue=5, batch_size=1, interval=0.01)
    worker.put(0)
    deadline = time.monotonic() + 5
    while worker._in_flight == 0 and time.monotonic() < deadline:  # the worker holds item 0
        time.sleep(0.001)
    accepted = [worker.put(i) for i in range(1, 11)]
    assert accepted == [True] * 5 + [False] * 5
    release.set()
    report = worker.flush(timeout=5)
    assert delivered == [0, 1, 2, 3, 4, 5]
    assert (report.sent, report.dropped, report.pending) == (6, 5, 0)


def test_retry_later_retries_the_same_batch() -> None:
    attempts: list[list[int]] = []

    def flaky(batch: list[int]) -> None:
        attempts.append(list(batch))
        if len(attempts) < 3:
            raise RetryLater("database is locked")

    worker: BackgroundWorker[int] = BackgroundWorker("t", flaky, interval=0.01, max_backoff=0.05)
    worker.put(1)  # the worker may take 1 alone before 2 arrives
    worker.put(2)
    report = worker.flush(timeout=10)
    first = attempts[0]
    assert attempts[:3] == [first, first, first]
    assert [i for batch in attempts[2:] for i in batch] == [1, 2]
    assert (report.sent, report.dropped) == (2, 0)


def test_retry_after_is_honoured() -> None:
    times: list[float] = []

    def limited(batch: list[int]) -> None:
        times.append(time.monotonic())
        if len(times) == 1:
            raise RetryLater("429", after=0.3)

    worker: BackgroundWorker[int] = BackgroundWorker("t", limited, interval=0.01)
    worker.put(1)
    worker.flush(timeout=5)
    assert len(times) == 2
    assert times[1] - times[0] >= 0.3


def test_a_failing_handler_drops_the_batch_counted_and_keeps_going() -> None:
    seen: list[int] = []

    def handler(batch: list[int]) -> None:
        if 13 in batch:
            raise ValueError("bad record 13")
        seen.extend(batch)

    worker: BackgroundWorker[int] = BackgroundWorker("t", handler, batch_size=1, interval=0.01)
    for i in (12, 13, 14):
        worker.put(i)
    report = worker.flush(timeout=5)
    assert seen == [12, 14]
    assert (report.sent, report.dropped) == (2, 1)
    assert report.errors == ["ValueError: bad record 13"]


def test_flush_returns_on_time_when_the_destination_hangs() -> None:
    never = threading.Event()
    worker: BackgroundWorker[int] = BackgroundWorker("t", lambda batch: never.wait(30), interval=0.01)
    worker.put(1)
    started = time.monotonic()
    report = worker.flush(timeout=0.3)
    assert time.monotonic() - started < 2
    assert report.pending == 1
    never.set()


def test_shutdown_with_a_deadline_leaves_undelivered_items_to_take() -> None:
    def always_retry(batch: list[int]) -> None:
        raise RetryLater("down")

    worker: BackgroundWorker[int] = BackgroundWorker("t", always_retry, interval=0.01, max_backoff=0.05)
    for i in range(3):
        worker.put(i)
    started = time.monotonic()
    report = worker.shutdown(timeout=0.5)
    assert time.monotonic() - started < 2
    assert report.pending == 3
    assert worker.take_pending() == [0, 1, 2]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_child_starts_with_an_empty_queue_and_a_fresh_thread(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "child.txt"
    gate = threading.Event()
    delivered: list[int] = []

    def handler(batch: list[int]) -> None:
        gate.wait(5)
        delivered.extend(batch)

    worker: BackgroundWorker[int] = BackgroundWorker("t", handler, interval=0.01)
    worker.put(1)  # held by the parent's worker behind the gate
    worker.put(2)
    pid = os.fork()
    if pid == 0:  # child
        try:
            before = worker.pending
            child_seen: list[int] = []
            worker._handle_batch = child_seen.extend  # type: ignore[method-assign]
            worker.put(3)
            worker.flush(timeout=5)
            out.write_text(f"{before} {child_seen}")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    gate.set()
    worker.flush(timeout=5)
    assert out.read_text() == "0 [3]"
    assert delivered == [1, 2]
