"""The delivery report counts what is journaled from the first record on, for every destination,
even before the drainer has met the route (or run at all)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import waxell_observe
from waxell_observe import WaxellContext
from waxell_observe.pipeline import pipeline as pipeline_module


def test_a_route_the_drainer_has_not_met_is_reported_as_journaled(
    read_runs: Callable[..., list[dict[str, Any]]],
) -> None:
    before = waxell_observe.flush_sync(timeout=30).sinks.get("embedded")
    sent_before = before.sent if before is not None else 0  # sent counts since the process started
    drainer = pipeline_module.pipeline().drainer
    drainer.cycle = lambda: False  # the drainer does nothing: it never meets the route
    try:
        for i in range(3):
            with WaxellContext(agent_name="waiting", enforce_policy=False) as ctx:
                ctx.record_step("s", output={"i": i})
        report = waxell_observe.flush_sync(timeout=0.2)
        embedded = report.sinks["embedded"]
        assert (embedded.sent - sent_before, embedded.journaled, embedded.pending, embedded.dropped) == (
            0,
            9,
            9,
            0,
        )
    finally:
        del drainer.cycle
        drainer.wake()
    report = waxell_observe.flush_sync(timeout=30)
    assert (report.sinks["embedded"].sent - sent_before, report.sinks["embedded"].journaled) == (9, 0)
    assert len(read_runs(agent_name="waiting")) == 3
