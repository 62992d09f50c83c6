"""WAXELL_MAX_SPANS_PER_RUN against the real ``waxell-observe serve``: the kept spans, the run's
``span_count`` and ``result["_span_cap_hit"]`` read back through the server's read API."""

from __future__ import annotations

from typing import Any

import pytest

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient


def test_a_capped_run_reads_back_from_the_server(shared_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAXELL_MAX_SPANS_PER_RUN", "5")  # head 4, tail 1
    WaxellObserveClient.configure(api_url=shared_server.url, api_key="")
    with WaxellContext("capped-remote", enforce_policy=False) as ctx:
        for n in range(1, 8):
            ctx.record_span("chain", f"c{n}")  # c1..c4 delivered; c5, c6 pushed out of the tail by c7
        ctx.record_span("agent", "sub-agent")  # always kept
    report = waxell_observe.flush_sync(timeout=30).sinks["remote"]
    assert (report.dropped, report.pending) == (0, 0), report
    run = shared_server.read_run(ctx.run_id)
    names = [s["name"] for s in sorted(run["spans"], key=lambda s: s["position"])]
    assert names == ["c1", "c2", "c3", "c4", "c7", "sub-agent"]
    assert run["span_count"] == 6
    assert run["result"] == {
        "_span_cap_hit": {
            "buffered": 8,
            "kept": 6,
            "dropped": 2,
            "cap": 5,
            "dropped_by_kind": {"chain": 2},
            "strategy": "priority_sampled",
        }
    }
