"""A stub OpenAI server on 127.0.0.1: ``/v1/chat/completions`` with a ``usage`` block.

Real OpenAI clients (``ChatOpenAI``, LlamaIndex ``OpenAI``) are pointed at ``base_url``;
each request is answered with the configured reply, as JSON or, when the request asks for
``stream``, as server-sent events (usage in a final chunk when ``stream_options`` asks for
it). ``requests`` keeps what the clients sent.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["OpenAIStub", "Reply"]


@dataclass
class Reply:
    """What the stub answers: the served model, the text and the usage it reports."""

    model: str = "gpt-4o-mini-2024-07-18"
    content: str = "Paris is the capital of France."
    prompt_tokens: int = 23
    completion_tokens: int = 7
    cached_tokens: int = 0
    finish_reason: str = "stop"
    chunks: list[str] = field(default_factory=list)

    def usage(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }


class OpenAIStub:
    """The server; a context manager."""

    def __init__(self, reply: Reply | None = None) -> None:
        self.reply = reply or Reply()
        self.requests: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.requests.append({"path": self.path, "body": body})
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"stub: no route {self.path}"}})
                elif body.get("stream"):
                    self._stream(body)
                else:
                    self._send(200, stub._completion())

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                for chunk in stub._chunks(bool((body.get("stream_options") or {}).get("include_usage"))):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="openai-stub", daemon=True
        )

    def _completion(self) -> dict[str, Any]:
        r = self.reply
        return {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": r.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": r.content},
                    "finish_reason": r.finish_reason,
                }
            ],
            "usage": r.usage(),
        }

    def _chunks(self, include_usage: bool) -> list[dict[str, Any]]:
        r = self.reply
        pieces = r.chunks or [r.content]
        base = {
            "id": "chatcmpl-stub",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": r.model,
        }
        chunks = [
            {
                **base,
                "choices": [
                    {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                ],
            }
        ]
        for piece in pieces:
            chunks.append(
                {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            )
        chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": r.finish_reason}]})
        if include_usage:
            chunks.append({**base, "choices": [], "usage": r.usage()})
        return chunks

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> OpenAIStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
