"""Two batches in flight to the real server, with a failure of one of them mid-stream.

The drainer hands the batch endpoint its next batch while the server stores the previous one
(``RemoteDestination.submit``). Between the SDK and ``waxell-observe serve`` sits a forwarding
proxy of this test: it holds the first batch request carrying a chosen run until a request of
a later batch has arrived (so two are in flight, every time, with no timing involved: a later
batch that reaches the proxy first, on a connection of its own, waits for the held one) and then,
depending on the case, forwards it, answers 503, or drops the connection without an answer. The
later batch reaches the server meanwhile, but must not be acknowledged past the failed one: it
is sent again after it, and the server, which stores idempotently, ends up with every run and
record exactly once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from remote_stubs import server_runs

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient
from waxell_observe.pipeline import drain as drain_module
from waxell_observe.pipeline import remote_destination

RUNS = 120
CHILD_EVERY = 7
BATCH = 50
"""Frames a batch (a route frame first in the first batch)."""
TARGET = 40
"""The proxy holds (and fails) the first batch request carrying top-level run 40."""


class FaultyProxy:
    """Forwards everything to ``target``. The first batch request carrying run ``hold`` is held
    until a request of a later batch arrives (every run it carries recorded after every run of
    the held one, by ``order``), then forwarded (``fault="none"``), answered 503 (``"refuse"``)
    or its connection closed without an answer (``"drop"``). Records the run ids of each batch
    request, in arrival order; ``held`` and ``overlapping`` are indexes into them."""

    def __init__(self, target: str, fault: str) -> None:
        self.target = target
        self.fault = fault
        self.lock = threading.Lock()
        self.batches: list[list[str]] = []
        self.hold = ""
        self.order: dict[str, float] = {}
        self.held = -1
        self.overlapping = -1
        self.in_flight = 0
        self.most_in_flight = 0
        self.next_arrived = threading.Event()
        self.held_arrived = threading.Event()
        self.overlapped = False
        self.client = httpx.Client(timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.forward(self, b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "/runs/batch/" not in self.path:
                    proxy.forward(self, body)
                    return
                ids = [entry["run_id"] for entry in json.loads(body)["runs"]]
                with proxy.lock:
                    index = len(proxy.batches)
                    proxy.batches.append(ids)
                    proxy.in_flight += 1
                    proxy.most_in_flight = max(proxy.most_in_flight, proxy.in_flight)
                    holding = proxy.held < 0 and proxy.hold in ids
                    # a later batch sent on another connection can reach this server first: it
                    # waits for the held one, so that the two are at the server at once
                    early = proxy.held < 0 and not holding and proxy.after_hold(ids)
                    if holding:
                        proxy.held = index
                        proxy.held_arrived.set()
                    elif not early:
                        proxy.note_overlap(index, ids)
                if early:
                    proxy.held_arrived.wait(30)
                    with proxy.lock:
                        proxy.note_overlap(index, ids)
                if holding:
                    proxy.overlapped = proxy.next_arrived.wait(30)
                    if proxy.fault != "none":
                        with proxy.lock:
                            proxy.in_flight -= 1
                        if proxy.fault == "refuse":
                            self.send_response(503)
                            self.send_header("Content-Length", "0")
                            self.end_headers()
                        self.close_connection = True
                        return
                proxy.forward(self, body, batch=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def note_overlap(self, index: int, ids: list[str]) -> None:
        """Request ``index`` (lock held) is the later batch the held request waits for, if it is one."""
        if self.held >= 0 and self.overlapping < 0 and self.later(ids):
            self.overlapping = index
            self.next_arrived.set()

    def after_hold(self, ids: list[str]) -> bool:
        """Every run of ``ids`` was recorded by this test after the run to hold (known before the
        held request arrives, unlike :meth:`later`)."""
        target = self.order.get(self.hold)
        places = [self.order.get(run_id) for run_id in ids]
        return target is not None and bool(places) and all(p is not None and p > target for p in places)

    def later(self, ids: list[str]) -> bool:
        """``ids`` are runs of this test (an earlier test's, left in the journal, are not) and the
        batch comes after the held one in the journal: its first run was recorded after the held
        batch's first run.

        Not "after every run of the held batch": a batch may begin with the end of the held
        batch's last run (a route frame, written again at the start of every journal segment,
        takes a place in a batch and shifts the boundaries by one), and the held request would
        then wait for a batch the SDK cannot send (two are in flight already, and acknowledgements
        go in journal order)."""
        held = [self.order[run_id] for run_id in self.batches[self.held] if run_id in self.order]
        places = [self.order.get(run_id) for run_id in ids]
        if not held or not places or any(place is None for place in places):
            return False
        return min(place for place in places if place is not None) > min(held)

    def forward(self, handler: BaseHTTPRequestHandler, body: bytes, *, batch: bool = False) -> None:
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "content-length")}
        reply = self.client.request(
            handler.command, self.target + handler.path, content=body or None, headers=headers
        )
        if batch:
            with self.lock:  # before the answer is written: the SDK sends its next batch only after it
                self.in_flight -= 1
        handler.send_response(reply.status_code)
        handler.send_header("Content-Type", reply.headers.get("content-type", "application/json"))
        handler.send_header("Content-Length", str(len(reply.content)))
        handler.end_headers()
        handler.wfile.write(reply.content)

    def close(self) -> None:
        self.held_arrived.set()
        self.next_arrived.set()
        self.server.shutdown()
        self.server.server_close()
        self.client.close()


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """:data:`BATCH` frames a batch: the runs of a test make a dozen batches. The SDK waits for a
    reply longer than the proxy holds a request (30 s): on a loaded machine the later batch may take
    more than the SDK's 5 s to arrive, and a held request timing out would be a delivery error and
    a third request in flight that the test did not ask for."""
    monkeypatch.setattr(drain_module, "BATCH_FRAMES", BATCH)
    monkeypatch.setattr(remote_destination, "DELIVERY_TIMEOUT", 120.0)


class Recorded:
    """The runs a test recorded: top-level run ``i`` has an LLM call with ``tokens_out == i``."""

    def __init__(self) -> None:
        self.parents: list[str] = []
        self.children: list[str] = []
        self.steps: list[int] = []
        """Steps of each top-level run, as the server counts them."""
        self.frames = 0
        self.order: dict[str, float] = {}
        """Run id -> its place in the recording (a nested run between its parent and the next)."""


def _record(agent: str, layout: str) -> Recorded:
    """``aligned``: every batch holds whole runs (run 0: start, LLM call, step, end — with the
    route frame, the first batch's 50; then 5 frames a run: two steps), so a failed batch and the
    next one share nothing. ``nested``: 4 frames a run, and every :data:`CHILD_EVERY`-th run has
    a nested run (its start, a step, its end, and a step in its parent), so runs cross batch
    boundaries and a nested run may start in a later batch than its parent."""
    recorded = Recorded()
    for i in range(RUNS):
        with WaxellContext(agent_name=agent, enforce_policy=False) as ctx:
            ctx.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=i)
            ctx.record_step("step", output={"i": i})
            steps, frames = 1, 4
            if layout == "aligned" and i > 0:
                ctx.record_step("second")
                steps, frames = 2, 5
            if layout == "nested" and i % CHILD_EVERY == 0:
                with WaxellContext(agent_name=agent, enforce_policy=False) as child:
                    child.record_step("nested")
                recorded.children.append(child.run_id)
                recorded.order[child.run_id] = i + 0.5  # starts after its parent, ends before it
                steps, frames = 2, 8
        recorded.parents.append(ctx.run_id)
        recorded.order[ctx.run_id] = i
        recorded.steps.append(steps)
        recorded.frames += frames
    return recorded


@pytest.fixture
def proxy_of(shared_server: Any) -> Iterator[Callable[[str], FaultyProxy]]:
    made: list[FaultyProxy] = []

    def make(fault: str) -> FaultyProxy:
        made.append(FaultyProxy(shared_server.url, fault))
        return made[-1]

    yield make
    for proxy in made:
        proxy.close()


@pytest.mark.parametrize("layout", ["aligned", "nested"])
@pytest.mark.parametrize(
    "fault",
    [
        "none",
        pytest.param("refuse", marks=pytest.mark.delivery_problems),
        pytest.param("drop", marks=pytest.mark.delivery_problems),
    ],
)
def test_two_batches_in_flight_land_exactly_once_even_when_one_fails_mid_stream(
    fault: str,
    layout: str,
    shared_server: Any,
    proxy_of: Callable[[str], FaultyProxy],
    engine: Callable[..., Any],
    hold_drainer: Callable[[Any], Any],
    small_batches: None,
    request: pytest.FixtureRequest,
) -> None:
    proxy = proxy_of(fault)
    agent = f"pipelined-{fault}-{layout}-{abs(hash(request.node.nodeid)) % 10**8}"
    WaxellObserveClient.configure(api_url=proxy.url, api_key="")
    pipeline = engine()
    with hold_drainer(pipeline):  # the whole backlog first: a dozen batches back to back
        recorded = _record(agent, layout)
        proxy.hold, proxy.order = recorded.parents[TARGET], recorded.order
    report = waxell_observe.flush_sync(timeout=60).sinks["remote"]

    # Every frame counted sent exactly once (the outcome of a batch given up after a failure is
    # not counted), nothing dropped or left.
    assert (report.sent, report.dropped, report.pending) == (recorded.frames, 0, 0), report
    # Two batch requests were at the server at once, never more.
    assert proxy.overlapped
    assert proxy.most_in_flight == 2
    if layout == "aligned":  # one request per batch: whole runs, none shared with the batch before
        assert [len(batch) for batch in proxy.batches[:4]] == [10, 10, 10, 10]
    if fault != "none":
        # The later batch that overlapped the failed request was not acknowledged: its runs were
        # sent again after the failure, with the failed request's (which went through then).
        sent_after = {run_id for batch in proxy.batches[proxy.overlapping + 1 :] for run_id in batch}
        assert set(proxy.batches[proxy.held]) <= sent_after
        assert set(proxy.batches[proxy.overlapping]) <= sent_after

    listed = server_runs(shared_server.url, agent_name=agent)
    assert len(listed) == RUNS + len(recorded.children)
    top = [run for run in listed if not run["parent_run_id"]]
    nested = [run for run in listed if run["parent_run_id"]]
    assert sorted(run["run_id"] for run in top) == sorted(recorded.parents)
    assert {(run["status"], run["llm_call_count"], run["tokens_in"]) for run in top} == {("success", 1, 10)}
    assert sorted((run["tokens_out"], run["step_count"]) for run in top) == list(enumerate(recorded.steps))
    assert sorted(run["run_id"] for run in nested) == sorted(recorded.children)
    if layout == "nested":
        assert len(nested) == len(range(0, RUNS, CHILD_EVERY))
        assert {run["parent_run_id"] for run in nested} == set(recorded.parents[::CHILD_EVERY])
        assert {(run["status"], run["llm_call_count"], run["step_count"]) for run in nested} == {
            ("success", 0, 1)
        }
