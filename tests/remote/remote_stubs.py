"""Small control planes for fault injection: an in-memory server that speaks the wire protocol
(with switches for failures), a server that accepts connections and never answers, and a port
nobody listens on.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/api/v1/observe/"
_RECORDS = re.compile(r"^runs/([^/]*)/(llm-calls|steps|spans|scores|complete)/$")


@dataclass
class Seen:
    """One request as the stub received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    at: float
    thread: str


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


Rule = Callable[[Seen], "Reply | None"]


class ProtocolStub:
    """An in-memory control plane speaking the wire protocol.

    ``assign_ids``: answer ``runs/start/`` with ids of its own (and 404 records sent to ours).
    ``rules``: callables tried first for every request; the first that returns a
    :class:`Reply` answers it (fault injection). Everything received is in :attr:`seen`;
    what it stored is in :attr:`runs` (run id -> start body, ``records`` by endpoint,
    ``complete`` body).
    """

    def __init__(self, *, assign_ids: bool = False, port: int = 0) -> None:
        self.assign_ids = assign_ids
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self.runs: dict[str, dict[str, Any]] = {}
        self.id_of_ours: dict[str, str] = {}
        self.policy_reply: dict[str, Any] = {"action": "allow", "reason": "", "metadata": {}, "evaluations": []}
        self.ingest_governance: dict[str, Any] | None = None
        self.complete_governance: dict[str, Any] | None = None
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                seen = Seen(
                    self.command,
                    path.removeprefix(PREFIX),
                    query,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    time.monotonic(),
                    threading.current_thread().name,
                )
                reply = stub.answer(seen)
                data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    # -- answering ------------------------------------------------------------------------

    def answer(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            rules = list(self.rules)
        for rule in rules:  # outside the lock: a rule may block (a slow or hung endpoint)
            reply = rule(seen)
            if reply is not None:
                return reply
        with self._lock:
            return self._protocol(seen)

    def _protocol(self, seen: Seen) -> Reply:
        path, body = seen.path, seen.body if isinstance(seen.body, dict) else {}
        if path == "policy-check/":
            return Reply(body=self.policy_reply)
        if path == "runs/start/":
            ours = body.get("run_id") or uuid.uuid4().hex
            if self.assign_ids:
                if ours in self.id_of_ours:
                    run_id = self.id_of_ours[ours]
                else:
                    run_id = "srv-" + uuid.uuid4().hex[:12]
                    self.id_of_ours[ours] = run_id
            else:
                run_id = ours
            if run_id not in self.runs:
                self.runs[run_id] = {"start": body, "records": defaultdict(list), "complete": None, "starts": 0}
            self.runs[run_id]["starts"] += 1
            return Reply(201, {"run_id": run_id, "workflow_id": run_id, "started_at": "2026-01-01T00:00:00+00:00"})
        match = _RECORDS.match(path)
        if match:
            run_id, kind = match.groups()
            run = self.runs.get(run_id)
            if run is None:
                return Reply(404, {"detail": f"unknown run {run_id!r}"})
            if kind == "complete":
                run["complete"] = body
                governance = self.complete_governance or {"action": "allow", "reason": ""}
                return Reply(body={"run_id": run_id, "duration": 0.1, "governance": governance})
            key = {"llm-calls": "calls"}.get(kind, kind)
            run["records"][kind].extend(body.get(key) or [])
            if kind in ("llm-calls", "steps") and body.get("conversation_state"):
                run["records"]["conversation_state"].append(body["conversation_state"])
            if self.ingest_governance is not None and kind in ("llm-calls", "steps"):
                return Reply(body={"governance": self.ingest_governance})
            return Reply(body={})
        if path == "config/":
            return Reply(body={"otel_endpoint": "", "tenant_id": "t", "tenant_slug": "t"})
        return Reply(404, {"detail": "no such endpoint"})

    # -- helpers for tests ----------------------------------------------------------------

    def requests(self, path_prefix: str = "", contains: str = "") -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path.startswith(path_prefix) and contains in s.path]

    def records(self, run_id: str, kind: str) -> list[dict[str, Any]]:
        """Records the stub stored for ``run_id`` (``llm-calls``, ``steps``, ``spans``, ``scores``)."""
        with self._lock:
            return list(self.runs[run_id]["records"][kind])

    def paths(self) -> list[str]:
        with self._lock:
            return [s.path for s in self.seen]

    def fail(self, status: int, *, times: int | None = None, path: str = "", contains: str = "",
             headers: dict[str, str] | None = None, body: Any = None) -> None:  # fmt: skip
        """Answer ``status`` to requests whose path starts with ``path`` and contains ``contains``
        (``times`` of them, or all)."""
        remaining = [times]

        def rule(seen: Seen) -> Reply | None:
            if not seen.path.startswith(path) or contains not in seen.path:
                return None
            if remaining[0] is not None:
                if remaining[0] <= 0:
                    return None
                remaining[0] -= 1
            return Reply(status, body if body is not None else {"detail": f"injected {status}"}, headers or {})

        self.rules.append(rule)

    def clear_rules(self) -> None:
        with self._lock:
            self.rules.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HungServer:
    """Accepts connections, reads whatever comes, never answers (until closed)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)

    def close(self) -> None:
        self._closed.set()
        for conn in self._conns:
            conn.close()
        self.sock.close()


def free_port() -> int:
    """A port nobody listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
