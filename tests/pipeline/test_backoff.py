"""How far apart the drainer tries a destination that keeps failing: at most ``MAX_BACKOFF`` (2 s)
after quick failures (a closed port: a restarted server is found again within 2 s), at most
``SLOW_MAX_BACKOFF`` (10 s) after failures that held the drainer (a hung server: each try costs its
timeout). Jitter keeps each delay between half and all of the doubled base."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from waxell_observe.pipeline import drainer as drainer_module
from waxell_observe.pipeline.destination import RetryLater
from waxell_observe.pipeline.drain import Consumer, Drain
from waxell_observe.pipeline.drainer import Drainer


class Down:
    """A destination that is down: each delivery takes ``seconds``, then asks to be retried later."""

    key = "down:test"
    name = "down"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    def deliver(self, frames: list[list[Any]]) -> None:
        self.calls += 1
        if self.seconds:
            time.sleep(self.seconds)
        raise RetryLater("connection refused")

    def close(self) -> None:
        pass


def delays_after_failures(tmp_path: Path, destination: Down, failures: int) -> list[tuple[float, float]]:
    """Bounds of the delay the drainer chose after each of ``failures`` failed deliveries:
    ``retry_at`` less the times just after and just before the delivery (the backoff was decided
    between the two, whatever the machine's load made of that interval)."""
    drainer = Drainer(lambda kind, settings: None, list)
    consumer = Consumer(Drain(tmp_path), destination, 0)
    bounds = []
    for _ in range(failures):
        before = time.monotonic()
        assert drainer._deliver(consumer, [[0, b"frame"]]) is False  # nothing acknowledged
        after = time.monotonic()
        bounds.append((consumer.retry_at - after, consumer.retry_at - before))
    assert (destination.calls, consumer.failures, consumer.position) == (failures, failures, 0)
    return bounds


def check(bounds: list[tuple[float, float]], bases: list[float]) -> None:
    """Each delay was half to all of its base: at most the base, at least half of it."""
    for (low, high), base in zip(bounds, bases, strict=True):
        assert low <= base and high >= base / 2, (low, high, base)


def test_quick_failures_are_retried_at_least_every_two_seconds(tmp_path: Path) -> None:
    bounds = delays_after_failures(tmp_path, Down(0.0), 12)
    # 0.1 s doubling: 0.1, 0.2, 0.4, 0.8, 1.6, then the cap of 2 s; each one half to all of it
    check(bounds, [0.1, 0.2, 0.4, 0.8, 1.6] + [2.0] * 7)
    assert drainer_module.MAX_BACKOFF == 2.0


def test_failures_that_held_the_drainer_back_off_to_ten_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drainer_module, "SLOW_ATTEMPT", 0.02)  # a "hung" delivery of 30 ms
    bounds = delays_after_failures(tmp_path, Down(0.03), 10)
    check(bounds, [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0])
    assert min(high for _, high in bounds[7:]) >= 5.0  # past the quick cap: up to 10 s apart
    assert drainer_module.SLOW_MAX_BACKOFF == 10.0
