"""The reference SDK's tracing helpers (issue 14, §1.8): ``init_tracing`` turns OTLP export on,
``flush_tracing`` delivers, ``shutdown_tracing`` turns it off, ``is_tracing_enabled`` tells; and
``diagnose()`` reports it. Exports are read back from a stub OTLP receiver."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import waxell_observe
from waxell_observe import tracing
from waxell_observe.config import get_config


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.bodies.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    stub = Receiver()
    yield stub
    stub.server.shutdown()


@pytest.fixture(autouse=True)
def _tracing_state() -> Iterator[None]:
    yield
    tracing._enabled = tracing._endpoint_set = False


def test_init_tracing_exports_runs_until_shutdown_tracing(receiver: Receiver) -> None:
    assert not waxell_observe.is_tracing_enabled()
    waxell_observe.init_tracing(otel_endpoint=receiver.url, tenant_id="tenant-7", capture_content=True)
    assert waxell_observe.is_tracing_enabled()
    config = get_config()
    assert (config.otlp_endpoint, config.capture_content) == (receiver.url, True)
    assert config.resource_attributes["tenant.id"] == "tenant-7"
    waxell_observe.init_tracing(otel_endpoint="http://127.0.0.1:9")  # idempotent
    assert get_config().otlp_endpoint == receiver.url
    assert waxell_observe.diagnose()["tracing"] == {"otel_available": True, "tracing_enabled": True}

    with waxell_observe.WaxellContext(agent_name="traced-agent") as ctx:
        ctx.record_step("looked-up")
    waxell_observe.flush_tracing(timeout_millis=20000)
    traces = [body for path, body in receiver.bodies if path == "/v1/traces"]
    assert traces, receiver.bodies
    exported = b"".join(traces)
    assert b"traced-agent" in exported and b"looked-up" in exported and b"tenant-7" in exported

    waxell_observe.shutdown_tracing()
    assert not waxell_observe.is_tracing_enabled()
    assert (get_config().otlp_endpoint, get_config().capture_content) == ("", False)
    before = len(receiver.bodies)
    with waxell_observe.WaxellContext(agent_name="after-shutdown"):
        pass
    waxell_observe.flush_tracing(timeout_millis=5000)
    assert b"after-shutdown" not in b"".join(body for _, body in receiver.bodies[before:])


def test_flush_tracing_and_shutdown_tracing_never_raise_when_off() -> None:
    waxell_observe.flush_tracing()
    waxell_observe.shutdown_tracing()
    assert not waxell_observe.is_tracing_enabled()
