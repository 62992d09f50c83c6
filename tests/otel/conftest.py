"""Fixtures of the OpenTelemetry tests.

- ``otel_state`` (autouse): the exporter plugin's state, the process's journal pipeline (its
  destinations, an OTLP one that is still retrying included) and OpenTelemetry's global tracer
  provider are reset after each test, so tests never see each other's exports.
- ``memory_exporter``: the SDK configured to export runs to an ``InMemorySpanExporter``.
- ``spans_of`` / ``span_tree``: read finished spans back after a flush.
- ``otlp_server``: the real control plane (``create_app`` under uvicorn) on 127.0.0.1,
  with its own store, and helpers to read runs back through the read API.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once
from waxell_observe_otel import plugin as otel_plugin

import waxell_observe
from waxell_observe import WaxellObserveClient


def reset_global_tracer_provider() -> None:
    """Forget OpenTelemetry's global tracer provider (what OTel's own test utilities do)."""
    trace_api._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    trace_api._TRACER_PROVIDER = None  # type: ignore[attr-defined]


def reset_pipeline() -> None:
    from waxell_observe.pipeline import pipeline as pipeline_module

    pipeline_module.reset(timeout=0.2)


@pytest.fixture(autouse=True)
def otel_state() -> Iterator[None]:
    reset_pipeline()
    otel_plugin.reset()
    reset_global_tracer_provider()
    yield
    waxell_observe.flush_sync(timeout=10)
    reset_pipeline()
    otel_plugin.reset()
    reset_global_tracer_provider()


@pytest.fixture
def memory_exporter() -> InMemorySpanExporter:
    """Runs recorded in this test are exported to the returned in-memory exporter."""
    exporter = InMemorySpanExporter()
    WaxellObserveClient.configure(otel_span_exporter=exporter)
    return exporter


def finished_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """Flush the SDK, then the spans the exporter received, in start order."""
    report = waxell_observe.flush_sync(timeout=10)
    assert report.sinks["otlp"].pending == 0, report
    return sorted(exporter.get_finished_spans(), key=lambda s: (s.start_time or 0, s.name))


@pytest.fixture
def spans_of(memory_exporter: InMemorySpanExporter) -> Callable[[], list[ReadableSpan]]:
    return lambda: finished_spans(memory_exporter)


def span_tree(spans: list[ReadableSpan]) -> list[tuple[int, str]]:
    """``(depth, name)`` of every span, depth-first in start order (the tree as a list)."""
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    ids = {s.context.span_id for s in spans}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None and span.parent.span_id in ids else None
        by_parent.setdefault(parent, []).append(span)
    tree: list[tuple[int, str]] = []

    def walk(parent: int | None, depth: int) -> None:
        for child in sorted(by_parent.get(parent, []), key=lambda s: (s.start_time or 0, s.name)):
            tree.append((depth, child.name))
            walk(child.context.span_id, depth + 1)

    walk(None, 0)
    return tree


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OtlpServer:
    """A running control plane and the read API through httpx."""

    def __init__(self, base_url: str, store_url: str) -> None:
        self.base_url = base_url
        self.store_url = store_url
        self.http = httpx.Client(base_url=base_url, timeout=10)

    def run(self, run_id: str, expect: int = 200) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/read/runs/{run_id}/")
        assert response.status_code == expect, (response.status_code, response.text)
        return response.json()

    def runs(self, **params: Any) -> dict[str, Any]:
        response = self.http.get("/api/v1/read/runs/", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def post_traces(self, body: bytes, content_type: str, **headers: str) -> httpx.Response:
        return self.http.post("/v1/traces", content=body, headers={"Content-Type": content_type, **headers})


@pytest.fixture(scope="module")
def otlp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OtlpServer]:
    """``create_app`` under uvicorn on a free 127.0.0.1 port (one per test module)."""
    import uvicorn
    from waxell_observe_server.app import create_app

    from waxell_observe.config import db_url_from

    store_url = db_url_from(str(tmp_path_factory.mktemp("otlp-server") / "server.db"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    app = create_app(store_url, otel_endpoint=base_url, key_cache_seconds=0)
    assert "waxell_observe_server.otlp.route" in app.state.optional_routers
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="otlp-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    yield OtlpServer(base_url, store_url)
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def tmp_store_url(tmp_path: Path) -> str:
    from waxell_observe.config import db_url_from

    return db_url_from(str(tmp_path / "receiver.db"))


# -- a stub OTLP receiver that counts spans ----------------------------------------------------------


class StubReceiver:
    """An OTLP/HTTP traces receiver on 127.0.0.1 that decodes every request and remembers its
    spans (``spans``: ``(trace id, span id) -> name``), the requests' headers, and answers
    ``status`` (200 by default; ``fail_first`` requests get 503 first). ``start()`` may be
    called later than construction (the receiver is down until then) on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.status = 200
        self.fail_first = 0
        self.requests = 0
        self.received = 0
        self.spans: dict[tuple[bytes, bytes], str] = {}
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server: Any = None

    def start(self) -> StubReceiver:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                with stub._lock:
                    stub.requests += 1
                    stub.headers.append({k.lower(): v for k, v in self.headers.items()})
                    status = 503 if stub.fail_first > 0 else stub.status
                    if stub.fail_first > 0:
                        stub.fail_first -= 1
                    if status == 200:
                        message = ExportTraceServiceRequest()
                        message.ParseFromString(body)
                        for resource_spans in message.resource_spans:
                            for scope_spans in resource_spans.scope_spans:
                                for span in scope_spans.spans:
                                    stub.received += 1
                                    stub.spans[(span.trace_id, span.span_id)] = span.name
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                if status == 503:
                    self.send_header("Retry-After", "0")
                self.end_headers()

            def do_GET(self) -> None:
                data = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="stub-otlp", daemon=True).start()
        return self

    def wait_for(self, count: int, timeout: float = 60) -> int:
        """Wait until ``count`` distinct spans arrived (or ``timeout``); returns how many did."""
        deadline = time.monotonic() + timeout
        while len(self.spans) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.spans)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def stub_receiver() -> Iterator[StubReceiver]:
    receiver = StubReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The drainer retries a destination that is down within half a second."""
    from waxell_observe.pipeline import drainer

    monkeypatch.setattr(drainer, "BASE_BACKOFF", 0.05)
    monkeypatch.setattr(drainer, "MAX_BACKOFF", 0.5)
    monkeypatch.setattr(drainer, "SLOW_MAX_BACKOFF", 0.5)


# -- a control plane that requires a key -----------------------------------------------------------


class KeyedServer(OtlpServer):
    """The control plane with an API key required (``key``), its read API read with the key."""

    def __init__(self, base_url: str, store_url: str, key: str) -> None:
        super().__init__(base_url, store_url)
        self.key = key
        self.http = httpx.Client(base_url=base_url, timeout=10, headers={"X-Wax-Key": key})


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedServer]:
    """``create_app`` under uvicorn with one API key created: every request needs it."""
    import uvicorn
    from waxell_observe_server.app import create_app

    from waxell_observe.config import db_url_from
    from waxell_observe.store import get_store
    from waxell_observe.store.keys import create_key

    store_url = db_url_from(str(tmp_path_factory.mktemp("keyed-server") / "server.db"))
    key, _record = create_key(get_store(store_url), "sdk")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    app = create_app(store_url, otel_endpoint=base_url, key_cache_seconds=0)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="keyed-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    yield KeyedServer(base_url, store_url, key)
    server.should_exit = True
    thread.join(10)
