"""A stub LLM provider: a real HTTP server on 127.0.0.1 that serves queued replies.

Tests point the real ``openai`` / ``anthropic`` clients at ``server.base_url``, queue the replies the
provider should give (JSON bodies, SSE streams, errors) and then inspect ``server.requests``: what
the SDK actually sent. Replies are served first-in first-out; an unexpected request gets a 599 so
that the test fails loudly.

Framework tests (a LangChain ``ChatOpenAI``, a LlamaIndex ``OpenAI``) that make several requests
per call use :meth:`StubLLMServer.answer_chat` instead: every ``/v1/chat/completions`` request is
answered with one :class:`ChatReply`, as JSON or, when the request asks for ``stream``, as
server-sent events (usage in a final chunk when ``stream_options`` asks for it); any other path
is a 404.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ChatReply", "Received", "StubLLMServer", "sse_anthropic", "sse_openai"]


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


@dataclass
class ChatReply:
    """An OpenAI chat completion: the served model, the text and the usage it reports."""

    model: str = "gpt-4o-mini-2024-07-18"
    content: str = "Paris is the capital of France."
    prompt_tokens: int = 23
    completion_tokens: int = 7
    cached_tokens: int = 0
    finish_reason: str = "stop"
    chunks: list[str] = field(default_factory=list)
    """The pieces of the text a streamed answer is sent in (default: the text in one piece)."""

    def usage(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    def completion(self) -> dict[str, Any]:
        return {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.content},
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": self.usage(),
        }

    def stream(self, include_usage: bool) -> list[dict[str, Any]]:
        base = {
            "id": "chatcmpl-stub",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": self.model,
        }
        chunks = [
            {
                **base,
                "choices": [
                    {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                ],
            }
        ]
        for piece in self.chunks or [self.content]:
            chunks.append(
                {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            )
        chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": self.finish_reason}]})
        if include_usage:
            chunks.append({**base, "choices": [], "usage": self.usage()})
        return chunks

    def reply_to(self, path: str, body: Any) -> _Reply:
        """What the stub answers a request to ``path`` with ``body`` that nothing was queued for."""
        if path.rstrip("/") != "/v1/chat/completions":
            return _json_reply({"error": {"message": f"stub: no route {path}"}}, 404)
        if isinstance(body, dict) and body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return _Reply(
                200, {"content-type": "text/event-stream"}, b"", sse_openai(self.stream(include_usage))
            )
        return _json_reply(self.completion())


def _json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, {"content-type": "application/json", **(headers or {})}, json.dumps(body).encode())


class StubLLMServer:
    """The server; use as a context manager or call ``start()``/``stop()``."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._replies: list[_Reply] = []
        self.chat: ChatReply | None = None
        """The answer to requests nothing was queued for (see :meth:`answer_chat`)."""
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
                if reply is None and stub.chat is not None:
                    reply = stub.chat.reply_to(self.path, body)
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
        with self._lock:
            self._replies.append(_json_reply(body, status, headers))

    def answer_chat(self, reply: ChatReply | None = None) -> None:
        """Answer every chat completion request with ``reply`` (default: a :class:`ChatReply`)
        from now on, unless a reply is queued; other paths get a 404."""
        self.chat = reply or ChatReply()

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

    @property
    def openai_base_url(self) -> str:
        """``base_url`` as OpenAI clients take it (with the API version)."""
        return self.base_url + "/v1"

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
