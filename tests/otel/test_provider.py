"""Living with the application's OpenTelemetry setup, and export that never costs the agent:
an endpoint that is down, hangs, or is named late by the control plane."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient

from .conftest import OtlpServer, StubReceiver, finished_spans, free_port


def app_provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    """What an application does to set up OpenTelemetry: its provider, its exporter, global."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "the-app"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace_api.set_tracer_provider(provider)
    return provider, exporter


def test_the_applications_tracer_provider_is_left_intact() -> None:
    provider, app_exporter = app_provider()
    ours = InMemorySpanExporter()
    WaxellObserveClient.configure(otel_span_exporter=ours)
    tracer = trace_api.get_tracer("the-app")
    with (
        tracer.start_as_current_span("POST /chat") as request_span,
        WaxellContext(agent_name="chat-agent", enforce_policy=False) as ctx,
    ):
        ctx.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=2)
    our_spans = finished_spans(ours)
    assert sorted(s.name for s in our_spans) == ["chat gpt-4o", "invoke_agent chat-agent"]
    # Still the application's provider, still exporting the application's spans, plus ours
    # (made on its provider, with its resource, in its trace).
    assert trace_api.get_tracer_provider() is provider
    assert sorted(s.name for s in app_exporter.get_finished_spans()) == [
        "POST /chat",
        "chat gpt-4o",
        "invoke_agent chat-agent",
    ]
    run_span = next(s for s in our_spans if s.name == "invoke_agent chat-agent")
    assert run_span.resource.attributes["service.name"] == "the-app"
    assert run_span.context.trace_id == request_span.get_span_context().trace_id
    assert ctx.run.plugin_state["otel"]["trace_id"] == f"{request_span.get_span_context().trace_id:032x}"

    # shutdown() stops our processor only: the application keeps tracing and exporting.
    waxell_observe.shutdown(timeout=5)
    with tracer.start_as_current_span("POST /after"):
        pass
    assert [s.name for s in app_exporter.get_finished_spans()][-1] == "POST /after"
    assert "POST /after" not in [s.name for s in ours.get_finished_spans()]


def test_our_provider_is_not_made_global_unless_asked() -> None:
    ours = InMemorySpanExporter()
    WaxellObserveClient.configure(otel_span_exporter=ours)
    with WaxellContext(agent_name="quiet", enforce_policy=False):
        pass
    assert [s.name for s in finished_spans(ours)] == ["invoke_agent quiet"]
    assert isinstance(trace_api.get_tracer_provider(), trace_api.ProxyTracerProvider)


def test_otel_set_global_makes_our_provider_the_global_one() -> None:
    ours = InMemorySpanExporter()
    WaxellObserveClient.configure(
        otel_span_exporter=ours, otel_set_global=True, resource_attributes={"service.name": "agents"}
    )
    with WaxellContext(agent_name="global", enforce_policy=False):
        pass
    assert [s.name for s in finished_spans(ours)] == ["invoke_agent global"]
    provider = trace_api.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes["service.name"] == "agents"
    # The application's own spans now go through it too.
    with trace_api.get_tracer("the-app").start_as_current_span("app work"):
        pass
    assert sorted(s.name for s in finished_spans(ours)) == ["app work", "invoke_agent global"]


def test_an_application_provider_set_up_later_is_joined() -> None:
    ours = InMemorySpanExporter()
    WaxellObserveClient.configure(otel_span_exporter=ours)
    with WaxellContext(agent_name="before", enforce_policy=False):
        pass
    assert [s.name for s in finished_spans(ours)] == ["invoke_agent before"]
    _provider, app_exporter = app_provider()
    with WaxellContext(agent_name="after", enforce_policy=False):
        pass
    assert sorted(s.name for s in finished_spans(ours)) == ["invoke_agent after", "invoke_agent before"]
    assert [s.name for s in app_exporter.get_finished_spans()] == ["invoke_agent after"]


# -- an endpoint that is down or hangs -------------------------------------------------------


@pytest.mark.delivery_problems
@pytest.mark.usefixtures("fast_retries")
def test_an_unreachable_endpoint_costs_the_agent_nothing_and_keeps_everything_journaled() -> None:
    receiver = StubReceiver()  # its port is chosen; it is not listening yet
    WaxellObserveClient.configure(otlp_endpoint=receiver.url, otel_export_timeout=0.5)
    results = []
    for index in range(3):
        with WaxellContext(agent_name="offline", enforce_policy=False) as ctx:
            ctx.record_step("work", output={"i": index})
            ctx.set_result({"i": index})
        results.append(ctx.run.status)
    assert results == ["success", "success", "success"]
    report = waxell_observe.flush_sync(timeout=1).sinks["otlp"]
    # Nothing dropped: the 9 records (start, step, end of each run) wait in the journal.
    assert (report.sent, report.dropped, report.journaled) == (0, 0, 9)
    assert report.errors and "unreachable" in report.errors[0]
    receiver.start()  # the receiver comes up: the same process delivers everything
    try:
        assert receiver.wait_for(6, timeout=30) == 6  # a run span and a step span per run
        report = waxell_observe.flush_sync(timeout=10).sinks["otlp"]
        assert (report.sent, report.dropped, report.journaled) == (9, 0, 0)
        assert sorted(receiver.spans.values()) == ["invoke_agent offline"] * 3 + ["step work"] * 3
    finally:
        receiver.stop()


@pytest.fixture
def hung_endpoint() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.mark.delivery_problems
def test_a_hung_endpoint_leaves_flush_bounded_with_records_journaled(hung_endpoint: str) -> None:
    WaxellObserveClient.configure(otlp_endpoint=hung_endpoint, otel_export_timeout=2.0)
    with WaxellContext(agent_name="stuck", enforce_policy=False) as ctx:
        ctx.record_step("work")
    assert ctx.run.status == "success"
    started = time.monotonic()
    report = waxell_observe.flush_sync(timeout=0.3).sinks["otlp"]
    assert time.monotonic() - started < 1.5
    assert (report.sent, report.dropped, report.journaled) == (0, 0, 3)


def test_shutdown_then_new_runs_are_exported_again(otlp_server: OtlpServer) -> None:
    WaxellObserveClient.configure(otlp_endpoint=otlp_server.base_url)
    with WaxellContext(agent_name="first", enforce_policy=False) as first:
        pass
    report = waxell_observe.shutdown(timeout=10).sinks["otlp"]
    assert (report.sent, report.dropped, report.pending) == (2, 0, 0)  # the run's start and end
    with WaxellContext(agent_name="second", enforce_policy=False) as second:
        pass
    assert waxell_observe.flush_sync(timeout=10).sinks["otlp"].sent == 4
    assert otlp_server.run(first.run_id)["agent_name"] == "first"
    assert otlp_server.run(second.run_id)["agent_name"] == "second"


# -- the control plane names the endpoint -----------------------------------------------------


def test_in_remote_mode_the_control_plane_names_the_endpoint(otlp_server: OtlpServer) -> None:
    import httpx

    config = httpx.get(f"{otlp_server.base_url}/api/v1/observe/config/").json()
    assert config["otel_endpoint"] == otlp_server.base_url
    WaxellObserveClient.configure(api_url=otlp_server.base_url)
    with WaxellContext(agent_name="remote-agent", enforce_policy=False) as ctx:
        ctx.set_tag("environment", "production")
        ctx.record_llm_call(model="gpt-4o", tokens_in=3, tokens_out=1)
    assert ctx.run.plugin_state["otel"]["traceparent"] == f"00-{ctx.run_id}-{ctx.run_id[16:]}-01"
    report = waxell_observe.flush_sync(timeout=20).sinks["otlp"]
    assert (report.sent, report.pending) == (3, 0)  # start, LLM call, end
    stored = otlp_server.run(ctx.run_id)
    assert (stored["trace_id"], stored["tags"], stored["llm_call_count"]) == (
        ctx.run_id,
        {"environment": "production"},
        1,
    )


def test_a_control_plane_that_cannot_answer_is_asked_again_later(otlp_server: OtlpServer) -> None:
    from waxell_observe_otel.remote_config import ask_otel_endpoint

    from waxell_observe.pipeline.destination import RetryLater

    with pytest.raises(RetryLater, match="cannot ask"):
        ask_otel_endpoint(f"http://127.0.0.1:{free_port()}", "", timeout=1)
    assert ask_otel_endpoint(otlp_server.base_url, "") == otlp_server.base_url


def test_a_control_plane_that_names_no_endpoint_means_no_export(stub_receiver: StubReceiver) -> None:
    from waxell_observe_otel.remote_config import ask_otel_endpoint

    # The stub answers every request with an empty 200: no JSON, no otel_endpoint.
    assert ask_otel_endpoint(stub_receiver.url, "") == ""


@pytest.fixture
def slow_control_plane(otlp_server: OtlpServer) -> Iterator[tuple[str, threading.Event]]:
    """A control plane whose ``config/`` answers (naming ``otlp_server``) only once released."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, body: dict[str, Any], status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.endswith("/config/"):
                release.wait(30)
                self._reply({"otel_endpoint": otlp_server.base_url, "tenant_id": "t", "tenant_slug": "t"})
            else:
                self._reply({})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path.endswith("/runs/start/"):
                self._reply({"run_id": body.get("run_id", ""), "workflow_id": "w", "started_at": "now"}, 201)
            else:
                self._reply({"action": "allow", "reason": "", "metadata": {}, "evaluations": []})

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", release
    release.set()
    server.shutdown()
    server.server_close()


@pytest.mark.delivery_problems  # the control plane's config/ times out until it is released
@pytest.mark.usefixtures("fast_retries")
def test_runs_recorded_before_the_control_plane_answers_are_exported_after(
    otlp_server: OtlpServer, slow_control_plane: tuple[str, threading.Event]
) -> None:
    api_url, release = slow_control_plane
    WaxellObserveClient.configure(api_url=api_url)
    with WaxellContext(agent_name="early-bird", enforce_policy=False) as ctx:
        ctx.record_step("before the answer")
    # Neither the agent nor a flush waits for the control plane: the records wait in the journal.
    report = waxell_observe.flush_sync(timeout=0.5).sinks["otlp"]
    assert (report.sent, report.journaled) == (0, 3)
    release.set()
    for _ in range(200):
        report = waxell_observe.flush_sync(timeout=5).sinks["otlp"]
        if report.sent == 3:
            break
        time.sleep(0.05)
    assert (report.sent, report.pending, report.dropped) == (3, 0, 0)
    stored = otlp_server.run(ctx.run_id)
    assert (stored["agent_name"], stored["step_count"], stored["source"]) == ("early-bird", 1, "otlp")
