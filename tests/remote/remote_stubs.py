"""Small control planes for fault injection: an in-memory server that speaks the wire protocol
(with switches for failures, optionally the batch endpoint too), a server that accepts
connections and never answers, and a port nobody listens on; plus helpers for the tests that
run agents as real processes (their environment, their journals, the real server's runs).
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
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
    what it stored is in :attr:`runs` (run id -> start body, ``records`` by endpoint — every
    copy received, :meth:`unique_records` for one per record id —, ``complete`` body).

    ``batch``: advertise ``runs/batch/`` in ``config/`` (as our server does) and take runs
    there too, stored as the per-run endpoints would. ``refuse_agent``: answer 422 (with
    :data:`REFUSAL`) to everything about the runs of that agent — their start, records,
    completion, or their entries of a batch.
    """

    def __init__(
        self, *, assign_ids: bool = False, port: int = 0, batch: bool = False, refuse_agent: str = ""
    ) -> None:
        self.assign_ids = assign_ids
        self.batch = batch
        self.refuse_agent = refuse_agent
        self.refused: set[str] = set()
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self.runs: dict[str, dict[str, Any]] = {}
        self.id_of_ours: dict[str, str] = {}
        self.policy_reply: dict[str, Any] = {
            "action": "allow",
            "reason": "",
            "metadata": {},
            "evaluations": [],
        }
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

        self.server = _StubServer(("127.0.0.1", port), Handler)
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
        if path == "runs/batch/" and self.batch:
            return Reply(body={"runs": [self._batch_entry(entry) for entry in body.get("runs") or []]})
        refusal = self._refusal(path, body)
        if refusal is not None:
            return refusal
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
                self.runs[run_id] = {
                    "start": body,
                    "records": defaultdict(list),
                    "complete": None,
                    "starts": 0,
                }
            self.runs[run_id]["starts"] += 1
            return Reply(
                201, {"run_id": run_id, "workflow_id": run_id, "started_at": "2026-01-01T00:00:00+00:00"}
            )
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
            config: dict[str, Any] = {"otel_endpoint": "", "tenant_id": "t", "tenant_slug": "t"}
            if self.batch:
                config.update(batch_ingest="runs/batch/", batch_max_runs=1000)
            return Reply(body=config)
        return Reply(404, {"detail": "no such endpoint"})

    def _refusal(self, path: str, body: dict[str, Any]) -> Reply | None:
        """422 for the runs of :attr:`refuse_agent` (lock held)."""
        if not self.refuse_agent:
            return None
        if path == "runs/start/" and body.get("agent_name") == self.refuse_agent:
            self.refused.add(str(body.get("run_id")))
        match = _RECORDS.match(path)
        if (
            path == "runs/start/"
            and str(body.get("run_id")) in self.refused
            or match
            and match.group(1) in self.refused
        ):
            return Reply(422, {"detail": REFUSAL})
        return None

    def _batch_entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        """One entry of ``runs/batch/`` through the per-run endpoints (lock held): its result."""
        run_id = str(entry.get("run_id"))
        start = entry.get("start")
        parts: list[tuple[str, Any]] = []
        if isinstance(start, dict):
            parts.append(("runs/start/", {**start, "run_id": run_id}))
        records = {
            "llm-calls": ("llm_calls", "calls"),
            "steps": ("steps", "steps"),
            "spans": ("spans", "spans"),
            "scores": ("scores", "scores"),
        }
        for endpoint, (field_, key) in records.items():
            if entry.get(field_):
                body: dict[str, Any] = {key: entry[field_]}
                if endpoint == "llm-calls" and entry.get("conversation_state"):
                    body["conversation_state"] = entry["conversation_state"]
                parts.append((f"runs/{run_id}/{endpoint}/", body))
        if isinstance(entry.get("complete"), dict):
            parts.append((f"runs/{run_id}/complete/", entry["complete"]))
        if run_id in self.refused:
            return {"run_id": run_id, "status": 422, "error": REFUSAL}
        if not isinstance(start, dict) and run_id not in self.runs:
            return {"run_id": run_id, "status": 404, "error": f"unknown run {run_id!r} and no start"}
        status, result = 200, {"run_id": run_id, "workflow_id": run_id}
        for path, body in parts:
            reply = self._protocol(Seen("POST", path, "", {}, body, time.monotonic(), "batch"))
            if reply.status >= 400:
                detail = reply.body.get("detail") if isinstance(reply.body, dict) else ""
                return {"run_id": run_id, "status": reply.status, "error": detail or "refused"}
            if path == "runs/start/":
                status = 201 if self.runs[run_id]["starts"] == 1 else 200
            elif path.endswith("/complete/"):
                result["complete"] = reply.body
        return {**result, "status": status}

    # -- helpers for tests ----------------------------------------------------------------

    def requests(self, path_prefix: str = "", contains: str = "") -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path.startswith(path_prefix) and contains in s.path]

    def records(self, run_id: str, kind: str) -> list[dict[str, Any]]:
        """Records the stub received for ``run_id`` (``llm-calls``, ``steps``, ``spans``, ``scores``),
        every copy (a retried request is received again)."""
        with self._lock:
            return list(self.runs[run_id]["records"][kind])

    def unique_records(self, run_id: str, kind: str) -> list[dict[str, Any]]:
        """Records of ``run_id`` one per record id (first copy), as an idempotent server stores them."""
        seen: set[str] = set()
        unique = []
        for record in self.records(run_id, kind):
            if record["id"] not in seen:
                seen.add(record["id"])
                unique.append(record)
        return unique

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
            return Reply(
                status, body if body is not None else {"detail": f"injected {status}"}, headers or {}
            )

        self.rules.append(rule)

    def clear_rules(self) -> None:
        with self._lock:
            self.rules.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _StubServer(ThreadingHTTPServer):
    """The stub's HTTP server: a listen backlog of 128, not socketserver's 5 (the SDK's drainer, its
    gates and the test's own requests open connections at once; on a loaded machine a backlog of 5
    overflowed and the SDK saw "connection reset" on GET config/, counted as a delivery error)."""

    request_queue_size = 128
    daemon_threads = True


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


REFUSAL = "agent_name: this agent is not allowed here"
"""What :class:`ProtocolStub` answers (422) for the runs of its ``refuse_agent``."""


def free_port() -> int:
    """A port nobody listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- agents as real processes ----------------------------------------------------------------------


def agent_env(journal: Path, **extra: str) -> dict[str, str]:
    """The environment of an agent process: no ``WAXELL_*``/``OTEL_*`` of ours, its own
    journal root (``journal``; processes given the same root adopt each other's journals),
    a store of its own, no configuration file, and the OpenTelemetry plugin left out (the real
    server names its own OTLP receiver; exporting spans is not what these tests measure)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAXELL_", "OTEL_"))}
    env.update(
        WAXELL_JOURNAL_DIR=str(journal),
        WAXELL_DB=str(journal.parent / "agent.db"),
        WAXELL_CONFIG_FILE=str(journal.parent / "no-config"),
        WAXELL_DISABLE_PLUGINS="otel",
    )
    env.update(extra)
    return env


def journals(root: Path) -> list[Path]:
    """The journal directories under ``root`` (one per process that journaled and did not
    deliver everything, or is still running)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def journal_frames(root: Path) -> list[dict[str, Any]]:
    """Every frame journaled under ``root`` (all journals, in order), decoded as dicts
    (``kind`` is ``start``, ``llm``, ``step``, ``span``, ``score``, ``end`` or ``route``)."""
    from waxell_observe.pipeline import frames
    from waxell_observe.pipeline.reader import JournalReader

    decoded = []
    for directory in journals(root):
        reader = JournalReader(directory)
        try:
            position = reader.first_position()
            while True:
                raw, position = reader.read(position)
                if not raw:
                    break
                for data in raw:
                    frame = frames.decode(bytes(data))
                    decoded.append({**frames.as_dict(frame), "kind": frames.KIND_NAMES[frame[0]]})
        finally:
            reader.close()
    return decoded


def server_runs(url: str, **filters: Any) -> list[dict[str, Any]]:
    """Every run summary the real server lists for ``filters`` (all pages)."""
    import httpx

    runs: list[dict[str, Any]] = []
    while True:
        reply = httpx.get(
            f"{url}/api/v1/read/runs/", params={"limit": 500, "offset": len(runs), **filters}, timeout=30
        )
        assert reply.status_code == 200, reply.text
        page = reply.json()["runs"]
        runs.extend(page)
        if len(page) < 500:
            return runs


def start_patiently(server: Any, timeout: float = 120.0) -> None:
    """``server.start()`` (a ``ServerProcess``), waiting up to ``timeout`` seconds for it to answer:
    on a loaded machine the real server may take longer than ``start`` waits to come up."""
    import httpx

    deadline = time.monotonic() + timeout
    try:
        server.start()
        return
    except RuntimeError:
        if server.proc is None or server.proc.poll() is not None:
            raise
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited: {server.log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not come up in {timeout:.0f}s: {server.log.read_text(errors='replace')}")
