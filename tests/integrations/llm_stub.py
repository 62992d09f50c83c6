"""A stub LLM provider: a real HTTP server on 127.0.0.1 that serves queued replies.

Tests point the real ``openai`` / ``anthropic`` clients at ``server.base_url``, queue the replies the
provider should give (JSON bodies, SSE streams, errors) and then inspect ``server.requests``: what
the SDK actually sent. Replies are served first-in first-out; an unexpected request gets a 599 so
that the test fails loudly.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Received", "StubLLMServer", "sse_anthropic", "sse_openai"]


@dataclass
class Received:
    """One request the stub received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class _Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    events: list[bytes] | None = None
    pause_after: int | None = None
    delay_first: float = 0.0


def sse_openai(chunks: list[dict[str, Any]], *, done: bool = True) -> list[bytes]:
    """OpenAI-style SSE: ``data: {json}`` per chunk, then ``data: [DONE]``."""
    events = [f"data: {json.dumps(c)}\n\n".encode() for c in chunks]
    if done:
        events.append(b"data: [DONE]\n\n")
    return events


def sse_anthropic(events: list[dict[str, Any]]) -> list[bytes]:
    """Anthropic-style SSE: ``event: <type>`` and ``data: {json}`` per event."""
    return [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]


class StubLLMServer:
    """The server; use as a context manager or call ``start()``/``stop()``."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._replies: list[_Reply] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.streams_finished = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                with stub._lock:
                    stub.requests.append(Received("POST", self.path, dict(self.headers.items()), body))
                    reply = stub._replies.pop(0) if stub._replies else None
                if reply is None:
                    reply = _Reply(599, {}, b'{"error": {"message": "stub: no reply queued"}}')
                stub._serve(self, reply)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="stub-llm", daemon=True
        )

    # -- queueing replies -------------------------------------------------------------------

    def reply_json(self, body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        all_headers = {"content-type": "application/json", **(headers or {})}
        with self._lock:
            self._replies.append(_Reply(status, all_headers, data))

    def reply_sse(
        self, events: list[bytes], *, pause_after: int | None = None, delay_first: float = 0.0
    ) -> None:
        """Stream ``events``; with ``pause_after=n`` hold the rest back until ``release()``
        (or the client disconnects); ``delay_first`` waits before the first event."""
        with self._lock:
            self._replies.append(
                _Reply(
                    200, {"content-type": "text/event-stream"}, b"", list(events), pause_after, delay_first
                )
            )

    def release(self) -> None:
        self._release.set()

    # -- serving -----------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, reply: _Reply) -> None:
        try:
            handler.send_response(reply.status)
            for key, value in reply.headers.items():
                handler.send_header(key, value)
            if reply.events is None:
                handler.send_header("content-length", str(len(reply.body)))
                handler.end_headers()
                handler.wfile.write(reply.body)
                return
            handler.send_header("cache-control", "no-cache")
            handler.end_headers()
            handler.wfile.flush()
            if reply.delay_first:
                time.sleep(reply.delay_first)
            for index, event in enumerate(reply.events):
                if reply.pause_after is not None and index == reply.pause_after:
                    self._release.wait(10)
                handler.wfile.write(event)
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (an abandoned stream): nothing to do
        finally:
            self.streams_finished.set()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StubLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StubLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
