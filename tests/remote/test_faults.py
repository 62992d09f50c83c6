"""Fault injection against a control plane that speaks the per-run protocol only (the stub does
not advertise ``batch_ingest``, so the SDK falls back to ``runs/start/``, one request per
record endpoint, ``complete/``) — and against the batch endpoint where its handling differs.

The control plane fails, throttles, refuses, hangs, assigns its own ids, is down, or takes
too much at once; the SDK never blocks the agent and never loses a record silently: every
record is sent, still journaled, or dropped with a reason, counted exactly.

Tests that count requests record their runs while the drainer is held (``hold_drainer``), so
the drainer delivers them in one batch and the requests are the same every time. A batch
that fails temporarily is delivered again whole (the server's writes are idempotent by the
ids the SDK gave the records): the stub keeps every copy it receives, ``unique_records``
one per id.
"""

from __future__ import annotations

import contextvars
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from remote_stubs import HungServer, ProtocolStub, Reply, Seen, agent_env, free_port, journal_frames, journals

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient
from waxell_observe.pipeline import pipeline as pipeline_module


def _run(i: int = 0, *, llm: int = 1, steps: int = 1, agent: str = "fault-agent") -> str:
    with WaxellContext(agent_name=agent, inputs={"i": i}, enforce_policy=False) as ctx:
        for _ in range(llm):
            ctx.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=i)
        for n in range(steps):
            ctx.record_step(f"step-{n}", output={"n": n})
        ctx.set_result({"i": i})
    return ctx.run_id


def _items(llm: int = 1, steps: int = 1) -> int:
    """Records (journal frames) of one ``_run``: start, records, end."""
    return 2 + llm + steps


def _run_paths(stub: ProtocolStub) -> list[str]:
    """Delivery requests in order (the probe and policy checks left out)."""
    return [p for p in stub.paths() if p.startswith("runs/")]


@pytest.mark.delivery_problems
def test_5xx_are_retried_until_every_record_is_delivered(
    remote: ProtocolStub, engine: Callable[..., Any], hold_drainer: Callable[..., Any]
) -> None:
    pipeline = engine()
    remote.fail(500, times=2, path="runs/start/")
    remote.fail(503, times=1, contains="/steps/")
    with hold_drainer(pipeline):
        run_id = _run(7, llm=2, steps=3)
    report = waxell_observe.flush_sync(timeout=10).sinks["remote"]
    assert (report.sent, report.dropped, report.pending) == (_items(2, 3), 0, 0)
    assert (
        remote.requests("config/") and len(remote.requests("config/")) == 1
    )  # asked once whether it takes batches
    start, llm, steps, complete = (
        "runs/start/",
        f"runs/{run_id}/llm-calls/",
        f"runs/{run_id}/steps/",
        f"runs/{run_id}/complete/",
    )
    # start refused twice (5xx); then start, calls, steps refused (5xx); then the run again, whole
    assert _run_paths(remote) == [start, start, start, llm, steps, start, llm, steps, complete]
    assert remote.runs[run_id]["starts"] == 2
    assert [c["tokens_out"] for c in remote.unique_records(run_id, "llm-calls")] == [7, 7]
    assert [s["step_name"] for s in remote.unique_records(run_id, "steps")] == ["step-0", "step-1", "step-2"]
    assert remote.runs[run_id]["complete"]["result"] == {"i": 7}
    assert any("HTTP 500: injected 500" in error for error in report.errors), report.errors


@pytest.mark.delivery_problems
def test_429_retry_after_is_honoured(remote: ProtocolStub, engine: Callable[..., Any]) -> None:
    engine(base_backoff=0.01, max_backoff=0.05)
    remote.fail(429, times=1, path="runs/start/", headers={"Retry-After": "30"})
    _run()
    # The retry is due in 30 s, after this flush's deadline: the flush does not wait for it,
    # and the start is not tried again within the backoff of 0.01-0.05 s the engine would use.
    report = waxell_observe.flush_sync(timeout=5).sinks["remote"]
    assert (report.sent, report.pending, report.dropped) == (0, _items(), 0)
    assert len(remote.requests("runs/start/")) == 1
    assert any("429" in error for error in report.errors), report.errors


@pytest.mark.delivery_problems
def test_429_with_a_short_retry_after_is_retried_within_the_flush(
    remote: ProtocolStub, engine: Callable[..., Any]
) -> None:
    engine()
    remote.fail(429, times=1, path="runs/start/", headers={"Retry-After": "0.2"})
    run_id = _run()
    report = waxell_observe.flush_sync(timeout=10).sinks["remote"]
    assert (report.sent, report.pending, report.dropped) == (_items(), 0, 0)
    assert len(remote.requests("runs/start/")) == 2
    assert remote.runs[run_id]["starts"] == 1


@pytest.mark.delivery_problems
def test_other_4xx_are_final_logged_once_and_counted(
    remote: ProtocolStub, engine: Callable[..., Any], hold_drainer: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    pipeline = engine()
    remote.fail(422, contains="/llm-calls/", body={"detail": "calls.0.model: field required"})
    with caplog.at_level(logging.WARNING, logger="waxell_observe"):
        with hold_drainer(pipeline):
            first = _run(llm=2, steps=1)
            second = _run(llm=3, steps=1)
        report = waxell_observe.flush_sync(timeout=10).sinks["remote"]
    assert (report.dropped, report.sent, report.pending) == (5, 2 * _items(0, 1), 0)
    assert len(remote.requests(contains="/llm-calls/")) == 2  # one per run, never retried
    assert [len(remote.records(r, "steps")) for r in (first, second)] == [1, 1]
    assert remote.runs[first]["complete"] is not None and remote.runs[second]["complete"] is not None
    assert sorted(report.drop_reasons.values()) == [2, 3]
    assert all("calls.0.model: field required" in reason for reason in report.drop_reasons)
    refusals = [r for r in caplog.records if r.getMessage().startswith("waxell-observe: control plane")]
    assert len(refusals) == 1
    assert "calls.0.model: field required" in refusals[0].getMessage()
    assert any("calls.0.model" in error for error in report.errors)


@pytest.mark.delivery_problems
def test_a_refused_start_drops_the_whole_run(
    remote: ProtocolStub, engine: Callable[..., Any], hold_drainer: Callable[..., Any]
) -> None:
    pipeline = engine()

    def refuse(seen: Seen) -> Reply | None:
        if seen.path == "runs/start/" and seen.body["agent_name"] == "refused":
            return Reply(400, {"detail": "agent 'refused' is not allowed"})
        return None

    remote.rules.append(refuse)
    with hold_drainer(pipeline):
        refused = _run(llm=2, steps=2, agent="refused")
        accepted = _run(1)
    report = waxell_observe.flush_sync(timeout=10).sinks["remote"]
    assert (report.dropped, report.sent, report.pending) == (_items(2, 2), _items(), 0)
    assert list(report.drop_reasons.values()) == [_items(2, 2)]
    assert "agent 'refused' is not allowed" in next(iter(report.drop_reasons))
    assert refused not in remote.runs and accepted in remote.runs
    assert not remote.requests(f"runs/{refused}/")


@pytest.mark.delivery_problems
def test_a_hung_server_never_blocks_the_agent_and_what_it_did_not_take_stays_journaled(
    hung: HungServer, engine: Callable[..., Any]
) -> None:
    engine()
    WaxellObserveClient.configure(api_url=hung.url, api_key="")
    run_ids = [_run(i) for i in range(50)]
    deadline = 100
    while not hung.accepted and deadline:  # the drainer is now stuck in a request that never ends
        waxell_observe.flush_sync(timeout=0.1)
        deadline -= 1
    assert hung.accepted
    run_ids += [_run(i) for i in range(50, 100)]  # ... and the agent records on regardless

    report = waxell_observe.flush_sync(timeout=0.5).sinks["remote"]
    assert (report.sent, report.pending, report.dropped) == (0, 100 * _items(), 0)
    report = waxell_observe.shutdown(timeout=1.0).sinks["remote"]
    assert (report.sent, report.journaled, report.pending, report.dropped) == (
        0,
        100 * _items(),
        100 * _items(),
        0,
    )
    frames = [f for f in journal_frames(Path(os.environ["WAXELL_JOURNAL_DIR"])) if f["kind"] != "route"]
    assert [f["run_id"] for f in frames if f["kind"] == "start"] == run_ids
    assert [f["run_id"] for f in frames if f["kind"] == "end"] == run_ids
    assert len(frames) == 100 * _items()


@pytest.mark.delivery_problems
def test_a_policy_check_against_a_hung_server_fails_open(
    hung: HungServer, engine: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    engine()
    WaxellObserveClient.configure(api_url=hung.url, api_key="", policy_timeout=0.3)
    with (
        caplog.at_level(logging.WARNING, logger="waxell_observe"),
        WaxellContext(agent_name="checked") as ctx,
    ):
        ctx.record_step("ran")
    assert ctx.run_id and ctx.run is not None and ctx.run.status == "success"
    assert any("fail-open" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("mid_run_flush", [False, True], ids=["one-batch", "across-batches"])
def test_a_server_that_assigns_its_own_ids(engine: Callable[..., Any], mid_run_flush: bool) -> None:
    engine()
    server = ProtocolStub(assign_ids=True)
    try:
        WaxellObserveClient.configure(api_url=server.url, api_key="")
        with WaxellContext(agent_name="parent", enforce_policy=False) as parent:
            parent.record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1)
            if mid_run_flush:  # the start goes now; every later request names the server's id
                assert waxell_observe.flush_sync(timeout=10).pending == 0
            with WaxellContext(agent_name="child", enforce_policy=False) as child:
                child.record_step("inside")
            parent.record_tool_call(name="search")
            parent.record_score("ok", True, data_type="boolean")
        report = waxell_observe.flush_sync(timeout=10).sinks["remote"]
        assert (report.dropped, report.pending, report.sent) == (0, 0, 9)
        theirs_parent = server.id_of_ours[parent.run_id]
        theirs_child = server.id_of_ours[child.run_id]
        assert theirs_parent != parent.run_id and theirs_child != child.run_id
        assert server.runs[theirs_child]["start"]["parent_workflow_id"] == theirs_parent
        assert server.runs[theirs_child]["start"]["root_workflow_id"] == theirs_parent
        assert [s["step_name"] for s in server.records(theirs_child, "steps")] == ["inside"]
        assert [c["model"] for c in server.records(theirs_parent, "llm-calls")] == ["gpt-4o"]
        assert [s["name"] for s in server.records(theirs_parent, "spans")] == ["search"]
        assert [s["step_name"] for s in server.records(theirs_parent, "steps")] == [
            "delegate:child",
            "tool:search",
        ]
        assert [s["name"] for s in server.records(theirs_parent, "scores")] == ["ok"]
        assert server.runs[theirs_parent]["complete"]["status"] == "success"
        assert [server.runs[r]["starts"] for r in (theirs_parent, theirs_child)] == [1, 1]
        paths = server.paths()
        assert not any(parent.run_id in p or child.run_id in p for p in paths if p != "runs/start/")
    finally:
        server.close()


@pytest.mark.delivery_problems
def test_connection_refused_then_server_up_delivers_everything(engine: Callable[..., Any]) -> None:
    engine()
    port = free_port()
    WaxellObserveClient.configure(api_url=f"http://127.0.0.1:{port}", api_key="")
    run_ids = [_run(i) for i in range(5)]
    report = waxell_observe.flush_sync(timeout=0.3).sinks["remote"]
    assert (report.sent, report.pending) == (0, 5 * _items())
    server = ProtocolStub(port=port)
    try:
        report = waxell_observe.flush_sync(timeout=10).sinks["remote"]
        assert (report.sent, report.pending, report.dropped) == (5 * _items(), 0, 0)
        assert [server.runs[r]["complete"]["result"] for r in run_ids] == [{"i": i} for i in range(5)]
        assert all(server.runs[r]["starts"] == 1 for r in run_ids)
    finally:
        server.close()


@pytest.mark.delivery_problems
def test_a_long_run_recorded_across_an_outage_is_delivered_whole_and_in_order(
    engine: Callable[..., Any],
) -> None:
    engine()
    port = free_port()
    WaxellObserveClient.configure(api_url=f"http://127.0.0.1:{port}", api_key="")
    long_run = WaxellContext(agent_name="long", enforce_policy=False)
    elsewhere = contextvars.Context()  # the long run is not the parent of the runs below
    elsewhere.run(long_run.__enter__)
    long_run.record_step("early")
    finished = [_run(i) for i in range(20)]
    report = waxell_observe.flush_sync(timeout=0.3).sinks["remote"]
    assert (report.sent, report.pending, report.dropped) == (0, 2 + 20 * _items(), 0)
    long_run.record_step("late")
    elsewhere.run(long_run.__exit__, None, None, None)
    server = ProtocolStub(port=port)
    try:
        report = waxell_observe.flush_sync(timeout=15).sinks["remote"]
        assert (report.sent, report.pending, report.dropped) == (4 + 20 * _items(), 0, 0)
        assert all(server.runs[r]["starts"] == 1 and server.runs[r]["complete"] for r in finished)
        long_id = long_run.run_id
        assert [s["step_name"] for s in server.records(long_id, "steps")] == ["early", "late"]
        assert server.runs[long_id]["complete"]["status"] == "success"
        starts = [s.body["run_id"] for s in server.requests("runs/start/")]
        assert sorted(starts) == sorted([long_id, *finished])
    finally:
        server.close()


@pytest.mark.delivery_problems
def test_a_full_journal_drops_and_counts_what_it_cannot_hold(
    engine: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_module, "JOURNAL_MAX_BYTES", 9 << 20)  # one 8 MB segment, not two
    engine()
    port = free_port()
    WaxellObserveClient.configure(api_url=f"http://127.0.0.1:{port}", api_key="")
    with WaxellContext(agent_name="big", enforce_policy=False) as ctx:
        for n in range(120):
            ctx.record_step(f"step-{n}", output={"blob": f"{n:04d}" * 25_000})  # 100 kB each
    report = waxell_observe.flush_sync(timeout=0.3)
    remote, journal = report.sinks["remote"], report.sinks["journal"]
    assert (remote.sent, remote.dropped) == (0, 0)
    assert journal.dropped > 0 and remote.journaled + journal.dropped == 122
    (reason,) = journal.drop_reasons
    assert "journal size bound reached" in reason
    frames = [f for f in journal_frames(Path(os.environ["WAXELL_JOURNAL_DIR"])) if f["kind"] != "route"]
    assert len(frames) == remote.journaled
    # the steps that found room, in order; the run's end (small) still fit after the others
    steps = len(frames) - 2
    assert [f["kind"] for f in frames] == ["start"] + ["step"] * steps + ["end"]
    assert [f["name"] for f in frames[1:-1]] == [f"step-{n}" for n in range(steps)]
    assert journal.dropped == 120 - steps

    server = ProtocolStub(port=port)
    try:
        report = waxell_observe.flush_sync(timeout=15)
        assert (report.sinks["remote"].sent, report.sinks["remote"].pending) == (len(frames), 0)
        assert [s["step_name"] for s in server.records(ctx.run_id, "steps")] == [
            f["name"] for f in frames[1:-1]
        ]
        assert server.runs[ctx.run_id]["complete"]["status"] == "success"
    finally:
        server.close()


@pytest.mark.delivery_problems
def test_a_control_plane_destination_that_cannot_be_opened_at_first_loses_nothing(
    remote: ProtocolStub, engine: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from waxell_observe.pipeline.remote_destination import RemoteDestination

    engine()
    opened = RemoteDestination.__init__
    attempts: list[int] = []

    def first_attempt_fails(self: RemoteDestination, api_url: str, api_key: str) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise ImportError(
                "cannot import name 'FileReader' from partially initialized module 'importlib.readers'"
            )
        opened(self, api_url, api_key)

    monkeypatch.setattr(RemoteDestination, "__init__", first_attempt_fails)
    run_ids = [_run(i) for i in range(3)]
    report = waxell_observe.flush_sync(timeout=10).sinks.get("remote")
    assert report is not None and (report.sent, report.pending, report.dropped) == (3 * _items(), 0, 0), (
        report
    )
    assert [remote.runs[r]["complete"]["result"] for r in run_ids] == [{"i": i} for i in range(3)]


# -- too large -------------------------------------------------------------------------------------


@pytest.mark.delivery_problems
def test_413_on_the_per_run_protocol_makes_requests_smaller_and_nothing_is_lost(
    remote: ProtocolStub, engine: Callable[..., Any]
) -> None:
    engine()

    def too_large(seen: Seen) -> Reply | None:
        if "/steps/" in seen.path and len(seen.body["steps"]) > 10:
            return Reply(413, {"detail": "request body too large"})
        return None

    remote.rules.append(too_large)
    run_id = _run(llm=0, steps=50)
    report = waxell_observe.flush_sync(timeout=10).sinks["remote"]
    assert (report.dropped, report.pending, report.sent) == (0, 0, _items(0, 50))
    assert [s["step_name"] for s in remote.unique_records(run_id, "steps")] == [
        f"step-{n}" for n in range(50)
    ]


def test_413_on_the_batch_endpoint_sends_fewer_runs_per_request_and_nothing_is_lost(
    engine: Callable[..., Any], hold_drainer: Callable[..., Any]
) -> None:
    pipeline = engine()
    server = ProtocolStub(batch=True)
    sizes: list[int] = []

    def too_large(seen: Seen) -> Reply | None:
        if seen.path == "runs/batch/":
            sizes.append(len(seen.body["runs"]))
            if len(seen.body["runs"]) > 5:
                return Reply(413, {"detail": "request body too large"})
        return None

    server.rules.append(too_large)
    try:
        WaxellObserveClient.configure(api_url=server.url, api_key="")
        with hold_drainer(pipeline):
            run_ids = [_run(i) for i in range(20)]
        report = waxell_observe.flush_sync(timeout=10).sinks["remote"]
        assert (report.dropped, report.pending, report.sent) == (0, 0, 20 * _items())
        assert sizes == [20, 10, 5, 5, 5, 5]  # halved until taken, then that many per request
        assert not server.requests("runs/start/")
        assert [server.runs[r]["complete"]["result"] for r in run_ids] == [{"i": i} for i in range(20)]
        assert all(server.runs[r]["starts"] == 1 for r in run_ids)
    finally:
        server.close()


# -- headers -----------------------------------------------------------------------------------------


def test_the_key_header_is_sent_only_when_a_key_is_set(
    stub: ProtocolStub, engine: Callable[..., Any]
) -> None:
    engine()
    WaxellObserveClient.configure(api_url=stub.url, api_key="wax_sk_test123")
    _run()
    waxell_observe.flush_sync(timeout=10)
    assert stub.seen and {s.headers.get("x-wax-key") for s in stub.seen} == {"wax_sk_test123"}
    waxell_observe.shutdown(timeout=2)
    stub.seen.clear()
    WaxellObserveClient.configure(api_url=stub.url, api_key="")
    _run()
    waxell_observe.flush_sync(timeout=10)
    assert stub.seen and all("x-wax-key" not in s.headers for s in stub.seen)


def test_per_run_requests_of_a_traced_run_carry_its_traceparent(
    remote: ProtocolStub, engine: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from waxell_observe.plugins import reset_plugin_manager

    monkeypatch.setenv("WAXELL_DISABLE_PLUGINS", "")  # the OpenTelemetry plugin traces the run
    reset_plugin_manager()
    engine()
    exporter = InMemorySpanExporter()
    WaxellObserveClient.configure(api_url=remote.url, api_key="", otel_span_exporter=exporter)
    with WaxellContext(agent_name="traced", enforce_policy=False) as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=3, tokens_out=4)
        ctx.record_step("s")
        ctx.record_score("ok", True, data_type="boolean")
    report = waxell_observe.flush_sync(timeout=20).sinks["remote"]
    assert (report.sent, report.pending, report.dropped) == (5, 0, 0)
    [run_span] = [s for s in exporter.get_finished_spans() if s.name == "invoke_agent traced"]
    traceparent = f"00-{run_span.context.trace_id:032x}-{run_span.context.span_id:016x}-01"
    delivery = [s for s in remote.seen if s.path.startswith("runs/")]
    assert sorted({s.path for s in delivery}) == sorted({
        "runs/start/", f"runs/{ctx.run_id}/llm-calls/", f"runs/{ctx.run_id}/steps/",
        f"runs/{ctx.run_id}/scores/", f"runs/{ctx.run_id}/complete/",
    })  # fmt: skip
    assert [s.headers.get("traceparent") for s in delivery] == [traceparent] * len(delivery)
    untraced = [s for s in remote.seen if s.path == "config/"]
    assert untraced and all("traceparent" not in s.headers for s in untraced)


# -- a server that assigned its own ids, and a journal adopted by another process ---------------------

ASSIGNED_IDS_AGENT = textwrap.dedent(
    """
    import os, sys
    import waxell_observe
    from waxell_observe import WaxellContext, WaxellObserveClient
    from waxell_observe.pipeline import pipeline

    WaxellObserveClient.configure(api_url=sys.argv[1], api_key="")
    with WaxellContext(agent_name="long", enforce_policy=False) as ctx:
        ctx.record_step("early")
        # the server answered runs/start/ with its id
        assert waxell_observe.flush_sync(timeout=10).pending == 0
        print(ctx.run_id, flush=True)
        pipeline.pipeline().drainer.cycle = lambda: False  # nothing more is delivered by this process
        ctx.record_step("late")
    os._exit(0)  # before the rest is delivered: the next process adopts it
    """
)


def test_a_run_started_under_a_server_id_is_completed_under_it_by_the_process_that_adopts_it(
    tmp_path: Path,
) -> None:
    server = ProtocolStub(assign_ids=True)
    try:
        script = tmp_path / "long.py"
        script.write_text(ASSIGNED_IDS_AGENT)
        journal = tmp_path / "journal"
        out = subprocess.run(
            [sys.executable, str(script), server.url],
            capture_output=True,
            text=True,
            timeout=60,
            env=agent_env(journal),
            check=False,
        )
        assert out.returncode == 0, out.stderr
        ours = out.stdout.split()[0]
        theirs = server.id_of_ours[ours]
        assert len(journals(journal)) == 1
        # the next process of that journal root
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                textwrap.dedent("""
                import sys, time, waxell_observe
                from waxell_observe import WaxellContext, WaxellObserveClient
                from waxell_observe.pipeline import pipeline
                WaxellObserveClient.configure(api_url=sys.argv[1], api_key="")
                with WaxellContext(agent_name="next", enforce_policy=False):
                    pass
                drainer = pipeline.pipeline().drainer
                deadline = time.monotonic() + 20
                def settled():
                    return drainer.adopted and all(d.own for d in drainer.drains)

                while time.monotonic() < deadline and not settled():
                    time.sleep(0.02)
                report = waxell_observe.flush_sync(timeout=10).sinks["remote"]
                print(drainer.adopted, report.dropped)
            """),
                server.url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=agent_env(journal),
            check=False,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["1", "0"], (out.stdout, out.stderr)
        assert [s["step_name"] for s in server.unique_records(theirs, "steps")] == ["early", "late"]
        assert server.runs[theirs]["complete"]["status"] == "success"
    finally:
        server.close()
