"""What instrumenting one call costs the agent, side by side: waxell, OpenTelemetry, Langfuse.

Every case runs in a FRESH subprocess (so one case's background threads, atexit work and
memory never touch another). In the child: a warm-up (10 calls, flushed: plugins loaded, store
created, connection opened), then ``--repeat`` rounds of ``--calls`` calls in a tight loop, then
the case's flush, then a normal interpreter exit. Per case it reports:

- ``agent µs``: ``time.thread_time()`` of the calling thread over the loop / calls (best round);
- ``process CPU µs``: ``time.process_time()`` (every thread of the child) from before the first
  round until the case's flush returned (everything delivered), / all measured calls; this
  includes the background work (writer threads, exporters, HTTP);
- ``wall µs``: wall time of the loop / calls (best round);
- ``sent`` / ``delivered``: what the case recorded (in the destination's unit, warm-up included)
  and what arrived, counted AT the destination:
  embedded waxell: rows of ``runs``, ``llm_calls``, ``steps``, ``spans``, ``scores`` in the
  SQLite file read after the child exited, and again after one more ``waxell-observe runs
  --json`` in a new process (records left journaled at exit are to land at the next start);
  OpenTelemetry, Langfuse, remote waxell: what a stub HTTP sink in this (parent) process
  received: OTLP protobuf spans, or waxell wire records (1 per run start, 1 per completion,
  plus every LLM call, step, span and score). When records are still missing, a next process
  of the same configuration is started (it records one run of its own, flushes and stays
  alive, up to ``--linger`` s) and the destination is watched until everything landed or
  nothing more arrives for ``--settle`` s after that process's own flush ("after a next
  process"). Records that arrive twice (a request in flight at exit, sent again by the next
  process) are counted once, as the real server stores them once;
- ``drain s``: loop end -> flush returned; ``exit s``: loop end -> the child process exited
  (shared clock ``time.time()``; includes the flush, atexit hooks and interpreter teardown);
- ratios of agent µs and process CPU µs against the OpenTelemetry span case.

Cases (``--cases``, comma list, default all):

- ``plain``: a trivial ``f(x)``; ``wraps``: a ``functools.wraps`` pass-through decorator;
- ``otel``: ``tracer.start_as_current_span`` around the call with 3 attributes, TracerProvider +
  BatchSpanProcessor + OTLPSpanExporter (HTTP/protobuf) to the stub sink; flushed with
  ``force_flush()``, then ``shutdown()``. The processor's queue holds every span of the run
  (``max_queue_size``), so that the baseline delivers everything like waxell must: with the
  default 2048 a tight loop drops most spans, which would make the baseline cheaper by losing them;
- ``langfuse``: Langfuse ``@observe`` to the stub sink (fake keys; ``OTEL_BSP_MAX_QUEUE_SIZE``
  sized as for ``otel``), flushed with ``get_client().flush()``; skipped when not installed;
- ``observe``: waxell ``@observe(enforce_policy=False)``, embedded store (temp SQLite file);
- ``context``: ``with WaxellContext(..., enforce_policy=False)`` + 4 records (LLM call, step,
  tool call, score), embedded store;
- ``observe_default`` / ``context_default``: the same with the SDK's defaults (``enforce_policy``
  and, for the context, mid-execution governance on), no policy stored: the pre- and
  post-execution checks and the surface gates' idle test run on every call;
- ``remote``: waxell ``@observe(enforce_policy=False)`` in remote mode, to the stub speaking the
  waxell wire protocol (per-record endpoints and ``runs/batch/``);
- ``disabled``: ``WAXELL_OBSERVE``-style disabled mode, a function decorated while enabled, then
  the SDK switched off (``set_config(get_config().replace(enabled=False))``, as documented).

waxell cases are flushed with ``waxell_observe.flush_sync(timeout)`` when it exists, else
``waxell_observe.flush_sync(timeout)``, and get temp ``WAXELL_DB``, ``WAXELL_JOURNAL_DIR``,
``WAXELL_SPOOL_DIR`` and ``WAXELL_CONFIG_FILE``. The cases that record nothing (``plain``,
``wraps``, ``disabled``) run ``--fast-multiplier`` times more calls per round and 5 times the
rounds (sub-µs loops need more calls for a stable reading). ``--exit-without-flush`` skips the
flush: the exit time is then the atexit path alone (what the SDK leaves undelivered at exit
shows in ``delivered``), and process CPU is taken from the child's rusage at exit (it then
leaves out whatever the next process delivers).

The stub sink runs in this process, so its own CPU is not counted in any case's figures. To
measure a clean commit while the working tree has other work in progress, export it and put it
first on ``PYTHONPATH`` (the header line says where ``waxell_observe`` was imported from):
``git archive HEAD src plugins integrations | tar -x -C /tmp/x`` then
``PYTHONPATH=/tmp/x/src:/tmp/x/plugins/otel/src:...``.

A child that crashes or hangs (``--timeout``, default 300 s) gets a row saying so. The targets
are printed PASS/FAIL; the exit status is 0 either way (a measurement, not a test).

    uv run python benchmarks/bench_agent_cost.py [--calls 20000] [--repeat 3] [--cases observe,otel]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RESULT_MARK = "@@AGENT-COST@@ "
CASES = (
    "plain",
    "wraps",
    "otel",
    "langfuse",
    "observe",
    "context",
    "observe_default",
    "context_default",
    "remote",
    "disabled",
)
LABELS = {
    "plain": "plain call",
    "wraps": "functools.wraps pass-through",
    "otel": "OTel SDK span (3 attrs, batch, OTLP/HTTP)",
    "langfuse": "Langfuse @observe",
    "observe": "waxell @observe (embedded)",
    "context": "waxell context + 4 records (embedded)",
    "observe_default": "waxell @observe, default settings (embedded)",
    "context_default": "waxell context + 4 records, default settings (embedded)",
    "remote": "waxell @observe (remote)",
    "disabled": "waxell disabled (decorated while enabled)",
}
FAST_CASES = ("plain", "wraps", "disabled")
WAXELL_CASES = ("observe", "context", "observe_default", "context_default", "remote", "disabled")
EMBEDDED_CASES = ("observe", "context", "observe_default", "context_default")
STORE_TABLES = ("runs", "llm_calls", "steps", "spans", "scores")
WARMUP = 10


# ================================================================================================
# Child side: one case, measured, result printed as one JSON line.
# ================================================================================================


def f(x: int) -> int:
    return x + 1


def _passthrough(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


def _waxell_flush(timeout: float) -> str:
    import waxell_observe

    flush = waxell_observe.flush_sync
    report = flush(timeout)
    fields = ("sent", "dropped", "pending", "spooled", "journaled")
    text = " ".join(f"{name}={getattr(report, name)}" for name in fields if hasattr(report, name))
    errors = getattr(report, "errors", None)
    return f"{text}{f' errors={errors[:3]!r}' if errors else ''}" if text else repr(report)


@dataclass
class Prepared:
    call: Callable[[int], Any]
    flush: Callable[[], str]
    """Deliver everything recorded so far; returns a description of the SDK's own report."""
    after: Callable[[], None] = lambda: None
    """Run after the measurements (e.g. an explicit shutdown)."""
    unit: str = ""
    per_call: int = 0
    """Records per call, in the destination's unit (what ``sent`` counts)."""


def _prepare_otel(total_calls: int, sink: str, flush_timeout: float) -> Prepared:
    """The otel case: the function in a span of an OTLP-exporting tracer."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    exporter = OTLPSpanExporter(endpoint=f"{sink}/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=max(2048, total_calls + 64)))
    tracer = provider.get_tracer("bench-agent-cost")

    def traced(fn: Callable[[int], int]) -> Callable[[int], int]:
        @functools.wraps(fn)
        def wrapper(x: int) -> int:
            with tracer.start_as_current_span(fn.__name__) as span:
                span.set_attribute("agent.name", "bench")
                span.set_attribute("input.x", x)
                result = fn(x)
                span.set_attribute("output.value", result)
                return result

        return wrapper

    def otel_flush() -> str:
        return f"force_flush={provider.force_flush(int(flush_timeout * 1000))}"

    return Prepared(traced(f), otel_flush, provider.shutdown, "spans", 1)


def _prepare(case: str, total_calls: int, sink: str, flush_timeout: float) -> Prepared | str:
    """The case's call and flush, or a string: the reason the case is skipped."""

    def nothing():
        return ""

    if case == "plain":
        return Prepared(f, nothing)
    if case == "wraps":
        return Prepared(_passthrough(f), nothing)
    if case == "otel":
        return _prepare_otel(total_calls, sink, flush_timeout)
    if case == "langfuse":
        try:
            from langfuse import get_client
            from langfuse import observe as lf_observe
        except Exception as exc:  # noqa: BLE001 - any failure to import means: skip
            return f"langfuse not importable ({type(exc).__name__}: {exc}); pip install langfuse"

        @lf_observe
        def lf_f(x: int) -> int:
            return x + 1

        def lf_flush() -> str:
            get_client().flush()
            return ""

        return Prepared(lf_f, lf_flush, lambda: get_client().shutdown(), "spans", 1)

    import waxell_observe as waxell

    if case == "disabled":
        from waxell_observe.config import get_config, set_config

        observed = waxell.observe(enforce_policy=False)(f)
        set_config(get_config().replace(enabled=False))
        return Prepared(observed, nothing, unit="rows", per_call=0)

    waxell.init(instrument=[])
    flush = functools.partial(_waxell_flush, flush_timeout)
    if case in ("observe", "remote"):
        unit, per_call = ("rows", 1) if case == "observe" else ("wire records", 2)
        return Prepared(waxell.observe(enforce_policy=False)(f), flush, unit=unit, per_call=per_call)
    if case == "observe_default":  # enforce_policy on (the default), no policy stored
        return Prepared(waxell.observe()(f), flush, unit="rows", per_call=1)
    if case in ("context", "context_default"):
        Context = waxell.WaxellContext
        # the default: enforce_policy and mid-execution governance on, no policy stored
        settings: dict[str, Any] = {"enforce_policy": False} if case == "context" else {}

        def with_context(i: int) -> None:
            with Context(agent_name="bench-agent", **settings) as ctx:
                ctx.record_llm_call(model="gpt-4o", tokens_in=300, tokens_out=150)
                ctx.record_step("s", output={"i": i})
                ctx.record_tool_call(name="t", input={"q": 1}, output={"r": 2})
                ctx.record_score("q", 0.5)

        return Prepared(with_context, flush, unit="rows", per_call=5)  # run + 4 records
    raise SystemExit(f"unknown case {case!r}")


def _shape(case: str, args: argparse.Namespace) -> tuple[int, int]:
    """(calls per round, rounds) of a case: the cases that record nothing run
    ``--fast-multiplier`` times the calls and 5 times the rounds (a round of them is a few ms)."""
    if case in FAST_CASES:
        return args.calls * args.fast_multiplier, args.repeat * 5
    return args.calls, args.repeat


def child_restart(args: argparse.Namespace) -> None:
    """A next process of the same configuration: it records one run, flushes, then stays alive
    (until the parent creates ``--stop-file`` or ``--linger`` seconds pass) so that what an
    earlier process left on disk (journal, spool) can be taken over and delivered; then it
    exits normally."""
    import waxell_observe as waxell

    waxell.init(instrument=[])
    waxell.observe(enforce_policy=False)(f)(0)
    report = _waxell_flush(args.flush_timeout)
    print(RESULT_MARK + json.dumps({"case": "restart", "report": report}), flush=True)
    stop, deadline = Path(args.stop_file), time.monotonic() + args.linger
    stop.with_name(stop.name + ".ready").touch()  # the parent's --settle clock starts now
    while not stop.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def child_main(args: argparse.Namespace) -> None:
    case = args.child
    if case == "restart":
        child_restart(args)
        return
    calls, rounds = _shape(case, args)
    total_calls = WARMUP + calls * rounds
    out: dict[str, Any] = {"case": case, "calls": calls, "rounds": rounds, "total_calls": total_calls}
    prepared = _prepare(case, total_calls, args.sink, args.flush_timeout)
    if isinstance(prepared, str):
        out["skip"] = prepared
        print(RESULT_MARK + json.dumps(out), flush=True)
        return
    call = prepared.call
    for i in range(WARMUP):
        call(i)
    prepared.flush()

    thread_time, perf_counter = time.thread_time, time.perf_counter
    best_thread = best_wall = float("inf")
    cpu_start = time.process_time()
    for _ in range(rounds):
        wall0, thread0 = perf_counter(), thread_time()
        for i in range(calls):
            call(i)
        thread1, wall1 = thread_time(), perf_counter()
        best_thread = min(best_thread, (thread1 - thread0) / calls)
        best_wall = min(best_wall, (wall1 - wall0) / calls)
    loop_end = time.time()
    out.update(
        thread_us=best_thread * 1e6,
        wall_us=best_wall * 1e6,
        loop_end=loop_end,
        cpu_start=cpu_start,
        unit=prepared.unit,
        sent=prepared.per_call * total_calls,
    )
    if not args.exit_without_flush:
        out["report"] = prepared.flush()
        out["drain_s"] = time.time() - loop_end
        out["cpu_us"] = (time.process_time() - cpu_start) / (calls * rounds) * 1e6
        prepared.after()
    print(RESULT_MARK + json.dumps(out), flush=True)


# ================================================================================================
# Parent side: the stub sink.
# ================================================================================================


class Tally:
    """What the sink received for the current case: counted as received (``*_received``) and
    de-duplicated (``spans``, ``wire``), since a record can be delivered twice when a process
    exits with a request in flight (the real server stores idempotently).

    De-duplication keys: OTLP spans by (trace id, span id); waxell run starts and completions by
    run id; waxell records by run id, kind and content (records of one run with identical
    content count once; every case here makes at most one record of a kind per run)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.span_keys: set[tuple[bytes, bytes]] = set()
            self.spans_received = 0
            self.wire_keys: set[tuple[str, ...]] = set()
            self.wire_received = 0
            self.wire_kinds: dict[str, int] = {}
            self.requests: dict[str, int] = {}
            self.errors: list[str] = []
            self.batch_keys: set[str] = set()
            self.replies_lost = 0

    @property
    def spans(self) -> int:
        return len(self.span_keys)

    @property
    def wire(self) -> int:
        return len(self.wire_keys)

    def add_spans(self, keys: list[tuple[bytes, bytes]]) -> None:
        with self.lock:
            self.spans_received += len(keys)
            self.span_keys.update(keys)

    def add_wire(self, kind: str, run_id: str, items: list[Any] | None = None) -> None:
        """A run's ``start``/``complete`` (``items`` None), or its records of ``kind``."""
        keys: list[tuple[str, ...]]
        if items is None:
            keys = [(kind, run_id)]
        else:
            keys = [(kind, run_id, json.dumps(item, sort_keys=True)) for item in items]
        with self.lock:
            self.wire_received += len(keys)
            self.wire_kinds[kind] = self.wire_kinds.get(kind, 0) + len(keys)
            self.wire_keys.update(keys)


TALLY = Tally()
_RUN_PATH = re.compile(r"^/api/v1/observe/runs/([^/]+)/([a-z_-]+)/?$")
_LIST_KEYS = {
    "calls": "llm_calls",
    "llm_calls": "llm_calls",
    "steps": "steps",
    "spans": "spans",
    "scores": "scores",
}


def _otlp_span_keys(body: bytes) -> list[tuple[bytes, bytes]]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return [
        (span.trace_id, span.span_id)
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]


def _count_lists(run_id: str, obj: dict[str, Any]) -> None:
    for key, kind in _LIST_KEYS.items():
        items = obj.get(key)
        if isinstance(items, list) and items:
            TALLY.add_wire(kind, run_id, items)


class SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real collectors do
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        return body

    def _reply(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client is gone (a process exiting with a request in flight)
            self.close_connection = True
            with TALLY.lock:
                TALLY.replies_lost += 1

    def _json(self, obj: Any, status: int = 200) -> None:
        self._reply(status, json.dumps(obj).encode())

    def _note(self, path: str) -> None:
        key = f"{self.command} {re.sub(r'/runs/(?!start/|batch/)[^/]+/', '/runs/<id>/', path)}"
        with TALLY.lock:
            TALLY.requests[key] = TALLY.requests.get(key, 0) + 1

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self._note(path)
        if path.rstrip("/") == "/api/v1/observe/config":
            self._json(
                {
                    "otel_endpoint": "",
                    "tenant_id": "",
                    "tenant_slug": "",
                    "batch_ingest": "runs/batch/",
                    "batch_max_runs": 1000,
                }
            )
        else:
            self._json({})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        self._note(path)
        try:
            body = self._body()
        except Exception as exc:  # noqa: BLE001
            with TALLY.lock:
                TALLY.errors.append(f"{path}: unreadable body: {exc}")
            self._json({}, 400)
            return
        try:
            if path.endswith("/v1/traces"):  # OTLP (OpenTelemetry, Langfuse)
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                    ExportTraceServiceResponse,
                )

                TALLY.add_spans(_otlp_span_keys(body))
                self._reply(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")
                return
            data = json.loads(body) if body else {}
            if path.startswith("/api/v1/observe/"):
                self._waxell(path, data)
                return
            if path.startswith("/api/public/") and isinstance(data, dict):  # Langfuse JSON ingestion
                batch = data.get("batch")
                if isinstance(batch, list):
                    TALLY.add_spans(
                        [(b"", str(event.get("id", i)).encode()) for i, event in enumerate(batch)]
                    )
                self._json({"successes": [], "errors": []}, 207 if isinstance(batch, list) else 200)
                return
            self._json({})
        except Exception as exc:  # noqa: BLE001 - a sink must answer
            with TALLY.lock:
                TALLY.errors.append(f"{path}: {type(exc).__name__}: {exc}")
            self._json({"detail": str(exc)}, 400)

    def _waxell(self, path: str, data: Any) -> None:
        rest = path[len("/api/v1/observe/") :].strip("/")
        if rest == "runs/start":
            run_id = str(data.get("run_id") or os.urandom(8).hex())
            TALLY.add_wire("start", run_id)
            self._json({"run_id": run_id, "workflow_id": run_id, "started_at": "2025-01-01T00:00:00Z"})
            return
        if rest == "runs/batch":
            replies = []
            for run in data.get("runs") or []:
                run_id = str(run.get("run_id"))
                with TALLY.lock:
                    TALLY.batch_keys.update(run)
                if run.get("start"):
                    TALLY.add_wire("start", run_id)
                if run.get("complete"):
                    TALLY.add_wire("complete", run_id)
                _count_lists(run_id, run)
                replies.append({"run_id": run_id, "status": 200, "workflow_id": run_id})
            self._json({"runs": replies})
            return
        match = _RUN_PATH.match(path)
        if match and match.group(2) == "complete":
            TALLY.add_wire("complete", match.group(1))
            self._json({"run_id": match.group(1), "duration": 0, "governance": {"action": "allow"}})
            return
        if match and isinstance(data, dict):
            _count_lists(match.group(1), data)
        self._json({})


def start_sink() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SinkHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="stub-sink", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# ================================================================================================
# Parent side: running the cases.
# ================================================================================================


@dataclass
class Row:
    case: str
    result: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    exit_s: float | None = None
    cpu_us: float | None = None
    sent: int | None = None
    delivered: int | None = None
    after_cli: int | None = None
    """Embedded: rows after one more ``waxell-observe runs --json``."""
    after_next: int | None = None
    """After a next recording process (only run when records were missing)."""
    rss_mb: float | None = None
    notes: list[str] = field(default_factory=list)


def _child_env(case: str, tmp: Path, sink: str, total_calls: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAXELL_", "LANGFUSE_", "OTEL_"))}
    env.update(
        WAXELL_DB=str(tmp / "observe.db"),
        WAXELL_JOURNAL_DIR=str(tmp / "journal"),
        WAXELL_SPOOL_DIR=str(tmp / "spool"),
        WAXELL_CONFIG_FILE=str(tmp / "no-config"),
        PYTHONUNBUFFERED="1",
    )
    if case == "remote":
        env.update(WAXELL_API_URL=sink, WAXELL_API_KEY="wax_bench_fake_key")
    if case == "langfuse":
        env.update(
            LANGFUSE_PUBLIC_KEY="pk-lf-bench",
            LANGFUSE_SECRET_KEY="sk-lf-bench",
            LANGFUSE_HOST=sink,
            LANGFUSE_BASE_URL=sink,
            OTEL_BSP_MAX_QUEUE_SIZE=str(max(2048, total_calls + 64)),
        )
    return env


def _run_process(
    cmd: list[str], env: dict[str, str], timeout: float
) -> tuple[int | None, str, str, float, Any]:
    """Run ``cmd``; returns (exit code or None if it hung and was killed, stdout, stderr, the
    ``time.time()`` at which it exited, its rusage)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunks: dict[str, bytes] = {}

    def read(name: str, stream: Any) -> None:
        chunks[name] = stream.read()

    readers = [
        threading.Thread(target=read, args=(n, s), daemon=True)
        for n, s in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for reader in readers:
        reader.start()
    waited: dict[str, Any] = {}

    def wait() -> None:
        _pid, status, usage = os.wait4(proc.pid, 0)
        waited.update(at=time.time(), status=status, usage=usage)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    waiter.join(timeout)
    hung = waiter.is_alive()
    if hung:
        proc.kill()  # our own child, by its pid
        waiter.join(30)
    for reader in readers:
        reader.join(30)
    code = os.waitstatus_to_exitcode(waited["status"]) if "status" in waited else -9
    proc.returncode = code  # reaped by wait4 above
    out = chunks.get("out", b"").decode(errors="replace")
    err = chunks.get("err", b"").decode(errors="replace")
    return (None if hung else code), out, err, waited.get("at", time.time()), waited.get("usage")


def _store_rows(db: Path) -> tuple[int, dict[str, int]]:
    if not db.exists():
        return 0, {}
    counts = {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        for table in STORE_TABLES:
            try:
                counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            except sqlite3.Error:
                counts[table] = 0
    conn.close()
    return sum(counts.values()), counts


def _next_process(row: Row, cmd: list[str], env: dict[str, str], tmp: Path, args: argparse.Namespace) -> None:
    """Records are missing: start a next process of the same configuration (one run of its own,
    then it stays alive) and watch the destination until everything landed, nothing more
    arrives for ``--settle`` seconds after its own flush returned, or ``--linger`` seconds pass."""
    if row.case == "remote":

        def count():
            return TALLY.wire - 2
    else:

        def count():
            return _store_rows(tmp / "observe.db")[0] - 1

    stop_file = tmp / "stop-next-process"
    restart = cmd[:3] + ["restart"] + cmd[4:] + ["--stop-file", str(stop_file), "--linger", str(args.linger)]
    done: dict[str, Any] = {}
    runner = threading.Thread(
        target=lambda: done.update(r=_run_process(restart, env, args.linger + 60)), daemon=True
    )
    started = time.monotonic()
    runner.start()
    ready = stop_file.with_name(stop_file.name + ".ready")
    last, last_change = -1, started
    while runner.is_alive():
        time.sleep(0.25)
        try:
            now_count = count()
        except sqlite3.Error:
            continue
        if now_count != last or not ready.exists():  # the settle clock starts once it has flushed
            last, last_change = now_count, time.monotonic()
        if now_count >= (row.sent or 0) or time.monotonic() - last_change > args.settle:
            break
    landed_after = time.monotonic() - started
    stop_file.touch()
    runner.join(args.linger + 90)
    code2, _out2, err2, _at, _usage = done.get("r", (None, "", "", 0.0, None))
    row.after_next = max(count(), 0)
    row.notes.append(
        f"a next process (records 1 run, flushes, stays alive) brought the destination to {row.after_next:,} "
        f"(+{row.after_next - max(row.after_cli or 0, row.delivered or 0):,}) within {landed_after:.1f} s"
        + ("" if code2 == 0 else f"; it exited {code2}: {_tail(err2)}")
    )


def _dir_files(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("waxell-observe")
    if script.exists():
        return [str(script)]
    found = shutil.which("waxell-observe")
    return [found] if found else [sys.executable, "-c", "from waxell_observe.cli import main; main()"]


def _tail(text: str, lines: int = 3) -> str:
    return " / ".join(line.strip() for line in text.strip().splitlines()[-lines:])[:300]


def run_case(case: str, args: argparse.Namespace, sink: str) -> Row:
    row = Row(case)
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-agent-cost-{case}-"))
    try:
        calls, rounds = _shape(case, args)
        env = _child_env(case, tmp, sink, WARMUP + calls * rounds)
        cmd = _child_command(case, args, sink)
        TALLY.reset()
        code, out, err, exited_at, usage = _run_process(cmd, env, args.timeout)
        if _read_child(row, args, code, out, err, usage) == "skipped":
            return row
        _read_timing(row, code, exited_at, usage)
        _count_delivered(row, case, tmp)
        if case in ("otel", "langfuse", "remote"):
            _sink_notes(row, case)
        if case in WAXELL_CASES:
            left = {d: _dir_files(tmp / d) for d in ("journal", "spool")}
            if any(left.values()):
                row.notes.append(
                    "files left after exit: " + ", ".join(f"{d} {n}" for d, n in left.items() if n)
                )
        if case in EMBEDDED_CASES and code is not None:
            _read_back_with_cli(row, env, tmp, args)
        if case in ("remote", *EMBEDDED_CASES) and code is not None and row.sent is not None:
            landed = row.after_cli if row.after_cli is not None else row.delivered
            if landed is not None and landed < row.sent:
                _next_process(row, cmd, env, tmp, args)
        return row
    finally:
        if not args.keep_temp:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            row.notes.append(f"kept {tmp}")


def _child_command(case: str, args: argparse.Namespace, sink: str) -> list[str]:
    return [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        case,
        "--calls",
        str(args.calls),
        "--repeat",
        str(args.repeat),
        "--fast-multiplier",
        str(args.fast_multiplier),
        "--sink",
        sink,
        "--flush-timeout",
        str(args.flush_timeout),
    ] + (["--exit-without-flush"] if args.exit_without_flush else [])


def _read_child(row: Row, args: argparse.Namespace, code: int | None, out: str, err: str, usage: Any) -> str:
    """The child's result line and exit into ``row``; "skipped" when the case was skipped."""
    results = [line[len(RESULT_MARK) :] for line in out.splitlines() if line.startswith(RESULT_MARK)]
    if results:
        row.result = json.loads(results[-1])
    if usage is not None:
        row.rss_mb = usage.ru_maxrss / 1024
    if code is None:
        row.status = f"HUNG (killed after {args.timeout:.0f} s)"
    elif "skip" in row.result:
        row.status = "skipped: " + row.result["skip"]
        return "skipped"
    elif not results:
        row.status = f"CRASHED (exit {code}): {_tail(err)}"
    elif code != 0:
        row.notes.append(f"exit code {code}: {_tail(err)}")
    if err.strip() and code == 0:
        row.notes.append(f"stderr: {_tail(err, 2)}")
    return "ran"


def _read_timing(row: Row, code: int | None, exited_at: float, usage: Any) -> None:
    """CPU per call, exit time and records sent, from the child's result."""
    res = row.result
    if "loop_end" not in res:
        return
    row.exit_s = None if code is None else exited_at - res["loop_end"]
    if "cpu_us" in res:
        row.cpu_us = res["cpu_us"]
    elif usage is not None and code is not None:  # --exit-without-flush: everything up to exit
        measured = res["calls"] * res["rounds"]
        row.cpu_us = (usage.ru_utime + usage.ru_stime - res["cpu_start"]) / measured * 1e6
    row.sent = res.get("sent", 0)
    if res.get("report"):
        row.notes.append(f"SDK flush: {res['report']}")


def _count_delivered(row: Row, case: str, tmp: Path) -> None:
    """What arrived, counted at the destination."""
    if case in ("otel", "langfuse"):
        row.delivered = TALLY.spans
    elif case == "remote":
        row.delivered = TALLY.wire
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(TALLY.wire_kinds.items()))
        row.notes.append(f"stub received: {kinds or 'nothing'}")
        if TALLY.batch_keys:
            row.notes.append(f"batch run keys: {sorted(TALLY.batch_keys)}")
    elif case in WAXELL_CASES:
        row.delivered, per_table = _store_rows(tmp / "observe.db")
        if row.delivered:
            row.notes.append("rows at exit: " + ", ".join(f"{t} {n}" for t, n in per_table.items() if n))


def _sink_notes(row: Row, case: str) -> None:
    """What the stub sink saw besides the records: duplicates, lost replies, requests, errors."""
    received = TALLY.spans_received if case != "remote" else TALLY.wire_received
    unique = TALLY.spans if case != "remote" else TALLY.wire
    if received != unique:
        row.notes.append(
            f"the sink received {received:,} records, {received - unique:,} of them twice "
            "(counted once in `delivered`)"
        )
    if TALLY.replies_lost:
        row.notes.append(f"{TALLY.replies_lost} sink replies not read (the client had gone)")
    requests = ", ".join(f"{k} x{v}" for k, v in sorted(TALLY.requests.items()))
    row.notes.append(f"requests: {requests or 'none'}")
    if TALLY.errors:
        row.notes.append(f"sink errors ({len(TALLY.errors)}): {TALLY.errors[0]}")


def _read_back_with_cli(row: Row, env: dict[str, str], tmp: Path, args: argparse.Namespace) -> None:
    """Run ``waxell-observe runs --json`` on the store (it adopts what the child left) and count again."""
    code2, _out2, err2, _at, _usage = _run_process(_cli() + ["runs", "--json"], env, args.timeout)
    row.after_cli, per_table = _store_rows(tmp / "observe.db")
    if code2 != 0:
        row.notes.append(f"`waxell-observe runs --json` exit {code2}: {_tail(err2)}")
    if row.after_cli != row.delivered:
        row.notes.append(
            "rows after `runs --json`: " + ", ".join(f"{t} {n}" for t, n in per_table.items() if n)
        )


# ================================================================================================
# Report.
# ================================================================================================


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if value is None else fmt.format(value)


def _ratio(value: float | None, base: float | None) -> str:
    return "–" if value is None or not base else f"{value / base:.2f}x"


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    span = next((r for r in rows if r.case == "otel" and r.status == "ok"), None)
    base_thread = span.result.get("thread_us") if span else None
    base_cpu = span.cpu_us if span else None
    header = [
        "case",
        "agent µs",
        "vs span",
        "process CPU µs",
        "vs span",
        "wall µs",
        "sent",
        "delivered",
        "after `runs --json`",
        "after a next process",
        "drain s",
        "exit s",
        "max RSS MB",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        res = row.result
        if row.status != "ok" and "thread_us" not in res:
            print(f"| {LABELS[row.case]} | {row.status} |" + " |" * (len(header) - 2))
            continue
        label = LABELS[row.case] + ("" if row.status == "ok" else f" ({row.status})")
        cells = [
            label,
            _num(res.get("thread_us")),
            _ratio(res.get("thread_us"), base_thread),
            _num(row.cpu_us),
            _ratio(row.cpu_us, base_cpu),
            _num(res.get("wall_us")),
            "–"
            if not row.sent and row.case in ("plain", "wraps")
            else f"{row.sent:,} {res.get('unit', '')}".strip(),
            "–" if row.delivered is None else f"{row.delivered:,}",
            "–" if row.after_cli is None else f"{row.after_cli:,}",
            "–" if row.after_next is None else f"{row.after_next:,}",
            _num(res.get("drain_s"), "{:.3f}"),
            _num(row.exit_s, "{:.3f}"),
            _num(row.rss_mb, "{:.0f}"),
        ]
        print("| " + " | ".join(cells) + " |")
    print()
    fast, fast_rounds = _shape(FAST_CASES[0], args)
    print(
        f"calls per round: {args.calls:,}, best of {args.repeat} "
        f"rounds ({fast:,}, best of {fast_rounds}, for {', '.join(FAST_CASES)}); "
        f"sent/delivered include {WARMUP} warm-up calls and every round; "
        f"{'NO explicit flush (atexit path)' if args.exit_without_flush else 'flushed before exit'}"
    )
    notes = [(r.case, n) for r in rows for n in r.notes]
    if notes:
        print("\nnotes:")
        for case, note in notes:
            print(f"  {case}: {note}")


def print_targets(rows: list[Row]) -> None:
    by_case = {r.case: r for r in rows if "thread_us" in r.result}
    span = by_case.get("otel")
    print("\ntargets (PASS/FAIL is informational; this script always exits 0):")

    def verdict(ok: bool | None, text: str) -> None:
        print(f"  {'n/a ' if ok is None else 'PASS' if ok else 'FAIL'}  {text}")

    for case in EMBEDDED_CASES:
        row = by_case.get(case)
        if row is None or span is None:
            verdict(None, f"{LABELS[case]}: agent µs <= 0.3x the OTel span's (case not measured)")
            continue
        ratio = row.result["thread_us"] / span.result["thread_us"]
        verdict(
            ratio <= 0.3,
            f"{LABELS[case]}: agent µs {row.result['thread_us']:.2f} = {ratio:.2f}x the span's "
            f"{span.result['thread_us']:.2f} (target <= 0.3x)",
        )
    for case in (*EMBEDDED_CASES, "remote"):
        row = by_case.get(case)
        if row is None or span is None or row.cpu_us is None or span.cpu_us is None:
            verdict(None, f"{LABELS[case]}: process CPU <= the OTel span's (not measured)")
            continue
        verdict(
            row.cpu_us <= span.cpu_us,
            f"{LABELS[case]}: process CPU {row.cpu_us:.2f} µs vs the span's "
            f"{span.cpu_us:.2f} µs ({row.cpu_us / span.cpu_us:.2f}x, target <= 1x)",
        )
    wraps, disabled = by_case.get("wraps"), by_case.get("disabled")
    if wraps and disabled:
        ratio = disabled.result["thread_us"] / wraps.result["thread_us"]
        verdict(
            ratio <= 1.5,
            f"disabled: agent µs {disabled.result['thread_us']:.3f} = {ratio:.2f}x functools.wraps' "
            f"{wraps.result['thread_us']:.3f} (target <= 1.5x)",
        )
    else:
        verdict(None, "disabled <= 1.5x functools.wraps (not measured)")
    for row in rows:
        if row.case in ("plain", "wraps") or row.sent is None or row.delivered is None:
            continue
        text = f"{LABELS[row.case]}: delivered {row.delivered:,} at exit"
        if row.after_cli is not None:
            text += f", {row.after_cli:,} after `runs --json`"
        if row.after_next is not None:
            text += f", {row.after_next:,} after a next process"
        final = next(n for n in (row.after_next, row.after_cli, row.delivered) if n is not None)
        verdict(final == row.sent, f"{text} == sent {row.sent:,}")
    for row in rows:
        if row.case in WAXELL_CASES and row.case in by_case:
            if row.exit_s is None:
                verdict(False, f"{LABELS[row.case]}: exit <= 2 s (did not exit: {row.status})")
            else:
                drain = row.result.get("drain_s")
                of_which = "" if drain is None else f", {drain:.3f} s of it in the explicit flush"
                verdict(
                    row.exit_s <= 2.0,
                    f"{LABELS[row.case]}: exit {row.exit_s:.3f} s after the loop{of_which} (target <= 2 s)",
                )


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False
    ).stdout.strip()


def _commit(origin: str) -> str:
    """The repository's commit, flagged when the imported waxell_observe is this repository's
    working tree and it has uncommitted changes under src/."""
    try:
        root = Path(__file__).resolve().parent.parent
        sha = _git(root, "rev-parse", "--short", "HEAD")
        if not Path(origin).resolve().is_relative_to(root):
            return f"{sha} (waxell_observe imported from outside the repository)"
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no", "src")
        return sha + (" (+ uncommitted changes under src/)" if dirty else "")
    except Exception:  # noqa: BLE001
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls per round (default 20000)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds per child; µs figures are the best round"
    )
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma list of: {', '.join(CASES)}")
    parser.add_argument(
        "--fast-multiplier",
        type=int,
        default=10,
        help="calls multiplier for the cases that record nothing (default 10)",
    )
    parser.add_argument(
        "--flush-timeout", type=float, default=120.0, help="seconds the case's flush may take"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a child is killed")
    parser.add_argument(
        "--exit-without-flush",
        action="store_true",
        help="skip the flush: exit via atexit alone (process CPU from the child's rusage)",
    )
    parser.add_argument(
        "--linger",
        type=float,
        default=60.0,
        help="most seconds a next process stays alive to deliver what an earlier one left",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="stop watching a next process once nothing arrived for this long",
    )
    parser.add_argument("--keep-temp", action="store_true", help="keep each case's temp directory")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--sink", default="", help=argparse.SUPPRESS)
    parser.add_argument("--stop-file", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {', '.join(CASES)}")
    server, sink = start_sink()
    import importlib.util

    spec = importlib.util.find_spec("waxell_observe")  # where the children import it from (not imported here)
    origin = str(Path(spec.origin).parent) if spec and spec.origin else "not installed"
    print(
        f"bench_agent_cost: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, "
        f"repo HEAD {_commit(origin)}, waxell_observe "
        f"from {origin}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}; stub sink {sink}",
        flush=True,
    )
    rows = []
    for case in cases:
        started = time.monotonic()
        try:
            row = run_case(case, args, sink)
        except Exception as exc:  # noqa: BLE001 - the table prints whatever happens
            row = Row(case, status=f"ERROR in the parent: {type(exc).__name__}: {exc}")
        rows.append(row)
        print(f"  {case}: {row.status} ({time.monotonic() - started:.1f} s)", file=sys.stderr, flush=True)
    server.shutdown()
    print()
    print_table(rows, args)
    print_targets(rows)
    print(
        f"\nload average at the end: {os.getloadavg()[0]:.2f} (other work on the machine moves every figure)"
    )


if __name__ == "__main__":
    main()
