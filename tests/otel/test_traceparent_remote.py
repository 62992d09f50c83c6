"""Remote mode with export on: control-plane requests carry the run's W3C ``traceparent``,
and the completion names the run's trace (``trace_id``, ``root_span_id``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient


class Recorder:
    """A minimal control plane: answers every request, remembers path, headers and body."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str], Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                body = json.loads(raw) if raw else {}
                path = self.path.removeprefix("/api/v1/observe/")
                recorder.seen.append((path, {k.lower(): v for k, v in self.headers.items()}, body))
                reply: dict[str, Any] = {}
                if path == "runs/start/":
                    reply = {"run_id": body["run_id"], "workflow_id": body["run_id"], "started_at": ""}
                elif path == "policy-check/":
                    reply = {"action": "allow", "reason": "", "metadata": {}, "evaluations": []}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def control_plane() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.close()


def test_requests_carry_the_runs_traceparent(control_plane: Recorder) -> None:
    exporter = InMemorySpanExporter()
    WaxellObserveClient.configure(api_url=control_plane.url, api_key="", otel_span_exporter=exporter)
    with WaxellContext(agent_name="traced-remote", enforce_policy=False) as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=3, tokens_out=4)
        ctx.record_step("s")
    report = waxell_observe.flush_sync(timeout=20)
    assert report.sinks["remote"].pending == 0, report
    [run_span] = [s for s in exporter.get_finished_spans() if s.name == "invoke_agent traced-remote"]
    trace_id = f"{run_span.context.trace_id:032x}"
    span_id = f"{run_span.context.span_id:016x}"
    run_requests = [
        (path, headers, body) for path, headers, body in control_plane.seen if path.startswith("runs/")
    ]
    assert [path for path, _, _ in run_requests] == [
        "runs/start/",
        f"runs/{ctx.run_id}/llm-calls/",
        f"runs/{ctx.run_id}/steps/",
        f"runs/{ctx.run_id}/complete/",
    ]
    for _, headers, _ in run_requests:
        assert headers["traceparent"] == f"00-{trace_id}-{span_id}-01"
    start, complete = run_requests[0][2], run_requests[-1][2]
    assert start["trace_id"] == trace_id
    assert (complete["trace_id"], complete["root_span_id"]) == (trace_id, span_id)
