"""Two batches in flight to the real server, with a failure of one of them mid-stream.

The drainer hands the batch endpoint its next batch while the server stores the previous one
(``RemoteDestination.submit``). Between the SDK and ``waxell-observe serve`` sits a forwarding
proxy of this test: it holds one batch request until the next batch's request has arrived (so
two are in flight, every time, with no timing involved) and then, depending on the case,
forwards it, answers 503, or drops the connection without an answer. The later batch reaches
the server meanwhile, but must not be acknowledged past the failed one: it is sent again after
it, and the server, which stores idempotently, ends up with every run and record exactly once.
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

RUNS = 120
CHILD_EVERY = 7
"""Every 7th run has a nested run (its start may travel in a later batch than its parent's)."""
NESTED = len(range(0, RUNS, CHILD_EVERY))
FRAMES = RUNS * 4 + NESTED * 4
"""Journal frames: start, LLM call, step, end per run; start, step, end per nested run, and the
step its parent records for it."""
HELD = 2
"""The batch request (0-based, in arrival order) the proxy holds until the next one arrives."""


class FaultyProxy:
    """Forwards everything to ``target``; holds batch request :data:`HELD` until another batch
    request arrives, then forwards it (``fault="none"``), answers 503 (``"refuse"``) or closes
    the connection without an answer (``"drop"``). Records the run ids of each batch request."""

    def __init__(self, target: str, fault: str) -> None:
        self.target = target
        self.fault = fault
        self.lock = threading.Lock()
        self.batches: list[list[str]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.next_arrived = threading.Event()
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
                if index > HELD:
                    proxy.next_arrived.set()
                if index == HELD:
                    proxy.overlapped = proxy.next_arrived.wait(60)
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
        self.next_arrived.set()
        self.server.shutdown()
        self.server.server_close()
        self.client.close()


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """50 frames a batch (about a dozen runs): the runs make eleven batches, and runs cross
    batch boundaries."""
    monkeypatch.setattr(drain_module, "BATCH_FRAMES", 50)


def _record(agent: str) -> tuple[list[str], list[str]]:
    """:data:`RUNS` runs of ``agent`` (run ``i``: an LLM call with ``tokens_out == i``, a step),
    every :data:`CHILD_EVERY`-th with a nested run (one step); (run ids, nested run ids)."""
    parents, children = [], []
    for i in range(RUNS):
        with WaxellContext(agent_name=agent, enforce_policy=False) as ctx:
            ctx.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=i)
            ctx.record_step("step", output={"i": i})
            if i % CHILD_EVERY == 0:
                with WaxellContext(agent_name=agent, enforce_policy=False) as child:
                    child.record_step("nested")
                children.append(child.run_id)
        parents.append(ctx.run_id)
    return parents, children


@pytest.fixture
def proxy_of(shared_server: Any) -> Iterator[Callable[[str], FaultyProxy]]:
    made: list[FaultyProxy] = []

    def make(fault: str) -> FaultyProxy:
        made.append(FaultyProxy(shared_server.url, fault))
        return made[-1]

    yield make
    for proxy in made:
        proxy.close()


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
    shared_server: Any,
    proxy_of: Callable[[str], FaultyProxy],
    engine: Callable[..., Any],
    hold_drainer: Callable[[Any], Any],
    small_batches: None,
    request: pytest.FixtureRequest,
) -> None:
    proxy = proxy_of(fault)
    agent = f"pipelined-{fault}-{abs(hash(request.node.nodeid)) % 10**8}"
    WaxellObserveClient.configure(api_url=proxy.url, api_key="")
    pipeline = engine()
    with hold_drainer(pipeline):  # the whole backlog first: eleven batches back to back
        parents, children = _record(agent)
    report = waxell_observe.flush_sync(timeout=60).sinks["remote"]

    # Every frame counted sent exactly once (a later batch's outcome ignored after the failure
    # is not counted), nothing dropped or left.
    assert (report.sent, report.dropped, report.pending) == (FRAMES, 0, 0), report
    # Two batch requests were at the server at once, never more.
    assert proxy.overlapped
    assert proxy.most_in_flight == 2
    if fault != "none":
        # The batch that overlapped the failed one was not acknowledged: its runs were sent again
        # after the failure (once the failed batch went through).
        overlapping = proxy.batches[HELD + 1]
        sent_after = {run_id for batch in proxy.batches[HELD + 2 :] for run_id in batch}
        assert set(proxy.batches[HELD]) <= sent_after
        assert set(overlapping) <= sent_after

    listed = server_runs(shared_server.url, agent_name=agent)
    assert len(children) == NESTED
    assert len(listed) == RUNS + NESTED
    top = [run for run in listed if not run["parent_run_id"]]
    nested = [run for run in listed if run["parent_run_id"]]
    assert sorted(run["run_id"] for run in top) == sorted(parents)
    assert sorted(run["tokens_out"] for run in top) == list(range(RUNS))
    assert {(run["status"], run["llm_call_count"], run["tokens_in"]) for run in top} == {("success", 1, 10)}
    assert sorted((run["tokens_out"], run["step_count"]) for run in top) == [
        (i, 2 if i % CHILD_EVERY == 0 else 1) for i in range(RUNS)
    ]
    assert sorted(run["run_id"] for run in nested) == sorted(children)
    assert {run["parent_run_id"] for run in nested} == {parents[i] for i in range(0, RUNS, CHILD_EVERY)}
    assert {(run["status"], run["llm_call_count"], run["step_count"]) for run in nested} == {
        ("success", 0, 1)
    }
