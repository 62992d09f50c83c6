"""Fault injection: a control plane that fails, throttles, refuses, hangs, assigns its own ids,
is down, or takes too much at once — and the SDK never blocks the agent or loses a run silently."""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from remote_stubs import HungServer, ProtocolStub, Reply, Seen, free_port

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient
from waxell_observe.delivery.remote import RemoteDelivery
from waxell_observe.delivery.spool import Spool


def _run(i: int = 0, *, llm: int = 1, steps: int = 1, agent: str = "fault-agent") -> str:
    with WaxellContext(agent_name=agent, inputs={"i": i}, enforce_policy=False) as ctx:
        for _ in range(llm):
            ctx.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=i)
        for n in range(steps):
            ctx.record_step(f"step-{n}", output={"n": n})
        ctx.set_result({"i": i})
    return ctx.run_id


def _items(llm: int = 1, steps: int = 1) -> int:
    """Queued items of one ``_run``: start, records, end."""
    return 2 + llm + steps


def test_5xx_are_retried_until_each_record_is_delivered_once(remote: ProtocolStub, engine: Callable[..., Any]) -> None:
    engine()
    remote.fail(500, times=2, path="runs/start/")
    remote.fail(503, times=1, contains="/steps/")
    run_id = _run(7, llm=2, steps=3)
    report = waxell_observe.flush(timeout=10).sinks["remote"]
    assert (report.sent, report.dropped, report.pending) == (_items(2, 3), 0, 0)
    assert len(remote.requests("runs/start/")) == 3
    assert len(remote.requests(contains="/steps/")) == 2
    assert remote.runs[run_id]["starts"] == 1
    assert [c["tokens_out"] for c in remote.records(run_id, "llm-calls")] == [7, 7]
    assert [s["step_name"] for s in remote.records(run_id, "steps")] == ["step-0", "step-1", "step-2"]
    assert remote.runs[run_id]["complete"]["result"] == {"i": 7}


def test_429_waits_at_least_retry_after(remote: ProtocolStub, engine: Callable[..., Any]) -> None:
    engine()
    remote.fail(429, times=1, path="runs/start/", headers={"Retry-After": "1"})
    run_id = _run()
    assert waxell_observe.flush(timeout=10).sinks["remote"].pending == 0
    first, second = remote.requests("runs/start/")
    assert second.at - first.at >= 1.0
    assert remote.runs[run_id]["starts"] == 1


def test_other_4xx_are_final_logged_once_and_counted(
    remote: ProtocolStub, engine: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    engine()
    remote.fail(422, contains="/llm-calls/", body={"detail": "calls.0.model: field required"})
    with caplog.at_level(logging.WARNING, logger="waxell_observe"):
        first = _run(llm=2, steps=1)
        second = _run(llm=3, steps=1)
        report = waxell_observe.flush(timeout=10).sinks["remote"]
    assert (report.dropped, report.sent, report.pending) == (5, 2 * _items(0, 1), 0)
    assert len(remote.requests(contains="/llm-calls/")) == 2  # one per run, never retried
    assert [len(remote.records(r, "steps")) for r in (first, second)] == [1, 1]
    assert remote.runs[first]["complete"] is not None and remote.runs[second]["complete"] is not None
    refusals = [r for r in caplog.records if "refused" in r.getMessage() and "llm_calls" in r.getMessage()]
    assert len(refusals) == 1
    assert "calls.0.model: field required" in refusals[0].getMessage()
    assert any("calls.0.model" in error for error in report.errors)


def test_a_refused_start_drops_the_whole_run(remote: ProtocolStub, engine: Callable[..., Any]) -> None:
    engine()

    def refuse(seen: Seen) -> Reply | None:
        if seen.path == "runs/start/" and seen.body["agent_name"] == "refused":
            return Reply(400, {"detail": "agent 'refused' is not allowed"})
        return None

    remote.rules.append(refuse)
    refused = _run(llm=2, steps=2, agent="refused")
    accepted = _run(1)
    report = waxell_observe.flush(timeout=10).sinks["remote"]
    assert (report.dropped, report.sent, report.pending) == (_items(2, 2), _items(), 0)
    assert refused not in remote.runs and accepted in remote.runs
    assert not remote.requests(f"runs/{refused}/")


def test_hung_server_never_blocks_the_agent_and_flush_returns_on_time(
    hung: HungServer, engine: Callable[..., Any], spool_dir: Path
) -> None:
    engine()
    WaxellObserveClient.configure(api_url=hung.url, api_key="")
    started = time.monotonic()
    for i in range(50):
        _run(i)
    recording = time.monotonic() - started
    assert recording < 1.0, f"recording 50 runs took {recording:.2f}s with a hung control plane"

    started = time.monotonic()
    report = waxell_observe.flush(timeout=0.5).sinks["remote"]
    waited = time.monotonic() - started
    assert 0.5 <= waited < 1.5
    assert (report.sent, report.pending) == (0, 50 * _items())

    started = time.monotonic()
    report = waxell_observe.shutdown(timeout=1.0).sinks["remote"]
    assert time.monotonic() - started < 1.5
    assert (report.spooled, report.pending, report.dropped) == (50 * _items(), 0, 0)
    spool = Spool.for_destination(hung.url, root=spool_dir)
    entries = [entry for path in spool.segments() for entry in spool.load(path) or []]
    assert len(entries) == 50 and all("start" in e and "complete" in e for e in entries)


def test_a_policy_check_against_a_hung_server_is_bounded_and_fails_open(
    hung: HungServer, engine: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    engine()
    WaxellObserveClient.configure(api_url=hung.url, api_key="", policy_timeout=0.3)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="waxell_observe"), WaxellContext(agent_name="checked") as ctx:
        ctx.record_step("ran")
    waited = time.monotonic() - started
    assert 0.3 <= waited < 1.2
    assert ctx.run_id and ctx.run is not None and ctx.run.status == "success"
    assert any("fail-open" in r.getMessage() for r in caplog.records)


def test_a_server_that_assigns_its_own_ids(engine: Callable[..., Any]) -> None:
    engine()
    server = ProtocolStub(assign_ids=True)
    try:
        WaxellObserveClient.configure(api_url=server.url, api_key="")
        with WaxellContext(agent_name="parent", enforce_policy=False) as parent:
            parent.record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1)
            with WaxellContext(agent_name="child", enforce_policy=False) as child:
                child.record_step("inside")
            parent.record_tool_call(name="search")
            parent.record_score("ok", True, data_type="boolean")
        report = waxell_observe.flush(timeout=10).sinks["remote"]
        assert (report.dropped, report.pending, report.sent) == (0, 0, 9)
        theirs_parent = server.id_of_ours[parent.run_id]
        theirs_child = server.id_of_ours[child.run_id]
        assert theirs_parent != parent.run_id and theirs_child != child.run_id
        assert server.runs[theirs_child]["start"]["parent_workflow_id"] == theirs_parent
        assert server.runs[theirs_child]["start"]["root_workflow_id"] == theirs_parent
        assert [s["step_name"] for s in server.records(theirs_child, "steps")] == ["inside"]
        assert [c["model"] for c in server.records(theirs_parent, "llm-calls")] == ["gpt-4o"]
        assert [s["name"] for s in server.records(theirs_parent, "spans")] == ["search"]
        assert [s["step_name"] for s in server.records(theirs_parent, "steps")] == ["delegate:child", "tool:search"]
        assert server.runs[theirs_parent]["complete"]["status"] == "success"
        paths = server.paths()
        assert not any(parent.run_id in p or child.run_id in p for p in paths if p != "runs/start/")
    finally:
        server.close()


def test_connection_refused_then_server_up_delivers_everything(engine: Callable[..., Any]) -> None:
    engine()
    port = free_port()
    WaxellObserveClient.configure(api_url=f"http://127.0.0.1:{port}", api_key="")
    run_ids = [_run(i) for i in range(5)]
    report = waxell_observe.flush(timeout=0.3).sinks["remote"]
    assert (report.sent, report.pending) == (0, 5 * _items())
    server = ProtocolStub(port=port)
    try:
        report = waxell_observe.flush(timeout=10).sinks["remote"]
        assert (report.sent, report.pending, report.dropped) == (5 * _items(), 0, 0)
        assert [server.runs[r]["complete"]["result"] for r in run_ids] == [{"i": i} for i in range(5)]
        assert all(server.runs[r]["starts"] == 1 for r in run_ids)
    finally:
        server.close()


def test_over_the_spill_threshold_runs_go_to_disk_and_come_back_in_order(
    engine: Callable[..., Any], spool_dir: Path
) -> None:
    delivery: RemoteDelivery = engine(max_queue=10_000, spill_threshold=40)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    WaxellObserveClient.configure(api_url=url, api_key="")
    long_run = WaxellContext(agent_name="long", enforce_policy=False)
    elsewhere = contextvars.Context()  # the long run is not the parent of the runs below
    elsewhere.run(long_run.__enter__)
    long_run.record_step("early")
    finished = [_run(i) for i in range(20)]
    deadline = time.monotonic() + 10
    while delivery.spooled == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert delivery.spooled > 0 and delivery.dropped == 0
    assert Spool.for_destination(url, root=spool_dir).segments()
    long_run.record_step("late")
    elsewhere.run(long_run.__exit__, None, None, None)
    server = ProtocolStub(port=port)
    try:
        report = waxell_observe.flush(timeout=15).sinks["remote"]
        assert (report.pending, report.dropped) == (0, 0)
        deadline = time.monotonic() + 10
        while Spool.for_destination(url, root=spool_dir).segments() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Spool.for_destination(url, root=spool_dir).segments()
        assert all(server.runs[r]["starts"] == 1 and server.runs[r]["complete"] for r in finished)
        long_id = long_run.run_id
        assert [s["step_name"] for s in server.records(long_id, "steps")] == ["early", "late"]
        assert server.runs[long_id]["complete"]["status"] == "success"
        starts = [s.body["run_id"] for s in server.requests("runs/start/")]
        assert sorted(starts) == sorted([long_id, *finished])
    finally:
        server.close()


def test_a_full_queue_drops_and_counts(engine: Callable[..., Any]) -> None:
    delivery: RemoteDelivery = engine(max_queue=10, spill_threshold=10**9)
    WaxellObserveClient.configure(api_url=f"http://127.0.0.1:{free_port()}", api_key="")
    _run(llm=0, steps=18)
    assert delivery.dropped == 10
    assert delivery.report().pending == 10


def test_413_makes_batches_smaller_and_nothing_is_lost(remote: ProtocolStub, engine: Callable[..., Any]) -> None:
    engine()

    def too_large(seen: Seen) -> Reply | None:
        if "/steps/" in seen.path and len(seen.body["steps"]) > 10:
            return Reply(413, {"detail": "request body too large"})
        return None

    remote.rules.append(too_large)
    run_id = _run(llm=0, steps=50)
    report = waxell_observe.flush(timeout=10).sinks["remote"]
    assert (report.dropped, report.pending, report.sent) == (0, 0, _items(0, 50))
    assert [s["step_name"] for s in remote.records(run_id, "steps")] == [f"step-{n}" for n in range(50)]


def test_the_key_header_is_sent_only_when_a_key_is_set(stub: ProtocolStub, engine: Callable[..., Any]) -> None:
    engine()
    WaxellObserveClient.configure(api_url=stub.url, api_key="wax_sk_test123")
    _run()
    waxell_observe.flush(timeout=10)
    assert {s.headers.get("x-wax-key") for s in stub.seen} == {"wax_sk_test123"}
    waxell_observe.shutdown(timeout=2)
    stub.seen.clear()
    WaxellObserveClient.configure(api_url=stub.url, api_key="")
    _run()
    waxell_observe.flush(timeout=10)
    assert stub.seen and all("x-wax-key" not in s.headers for s in stub.seen)
