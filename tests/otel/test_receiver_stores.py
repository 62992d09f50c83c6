"""The receiver on both stores (SQLite and PostgreSQL), fed with spans the SDK really made."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from rollup_check import assert_rollups_exact

from waxell_observe import WaxellContext
from waxell_observe.config import db_url_from

from .conftest import finished_spans


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def receiver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A ``TestClient`` over the control plane on a fresh SQLite file or PostgreSQL database."""
    from fastapi.testclient import TestClient
    from waxell_observe_server.app import create_app

    if request.param == "sqlite":
        url = db_url_from(str(tmp_path / "receiver.db"))
    else:
        url = db_url_from(request.getfixturevalue("postgres_url"))
    with TestClient(create_app(url, key_cache_seconds=0)) as client:
        yield client


def post(client: Any, spans: list[Any]) -> None:
    body = encode_spans(spans).SerializeToString()
    response = client.post("/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"})
    assert response.status_code == 200, response.text


def picked(stored: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: stored[k] for k in keys}


def read(client: Any, run_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/read/runs/{run_id}/")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_sdk_spans_rebuild_the_run_once_however_often_delivered(receiver: Any, memory_exporter: Any) -> None:
    with WaxellContext(agent_name="batch-processor", session_id="s-1", enforce_policy=False) as ctx:
        ctx.set_tag("pipeline", "rag-v2")
        ctx.record_llm_call(model="gpt-4o-mini", tokens_in=50, tokens_out=30)
        ctx.record_step("process", output={"items": 42})
        ctx.record_decision(name="route", options=["a", "b"], chosen="b", confidence=0.5)
        ctx.record_score("thumbs_up", True, data_type="boolean")
    spans = finished_spans(memory_exporter)
    children = [s for s in spans if s.attributes["waxell.record"] != "run"]
    run_span = [s for s in spans if s.attributes["waxell.record"] == "run"]
    post(receiver, children)  # the children first: stored, the run appears with its span
    assert receiver.get(f"/api/v1/read/runs/{ctx.run_id}/").status_code == 404
    post(receiver, run_span)
    post(receiver, spans)  # and everything again
    stored = read(receiver, ctx.run_id)
    assert picked(
        stored,
        "agent_name",
        "session_id",
        "tags",
        "tokens_in",
        "tokens_out",
        "llm_call_count",
        "step_count",
        "span_count",
        "source",
        "status",
    ) == {
        "agent_name": "batch-processor",
        "session_id": "s-1",
        "tags": {"pipeline": "rag-v2"},
        "tokens_in": 50,
        "tokens_out": 30,
        "llm_call_count": 1,
        "step_count": 1,
        "span_count": 1,
        "source": "otlp",
        "status": "success",
    }
    (decision,) = stored["spans"]
    assert (decision["kind"], decision["name"], decision["input"], decision["output"]) == (
        "decision",
        "route",
        {"options": ["a", "b"]},
        {"chosen": "b"},
    )
    assert decision["attributes"] == {"reasoning": "", "confidence": 0.5, "instrumentation_type": "manual"}
    assert [(s["name"], s["value"]) for s in stored["scores"]] == [("thumbs_up", True)]


def test_a_foreign_genai_trace_on_both_stores(receiver: Any) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("handle_request") as root:
        with tracer.start_as_current_span(
            "embeddings text-embedding-3-small",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "embeddings",
                "gen_ai.request.model": "text-embedding-3-small",
                "gen_ai.usage.input_tokens": 1000,
            },
        ):
            pass
        with tracer.start_as_current_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 100,
                "gen_ai.usage.output_tokens": 10,
                "waxell.llm.cost_usd": 0.5,
                "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hello"}]}]',
                "gen_ai.output.messages": '[{"role":"assistant","parts":[{"type":"text","content":"hi"}]}]',
            },
        ):
            pass
    post(receiver, list(exporter.get_finished_spans()))
    trace_id = f"{root.get_span_context().trace_id:032x}"
    stored = read(receiver, trace_id)
    assert (stored["agent_name"], stored["workflow_name"], stored["status"], stored["source"]) == (
        "handle_request",
        "handle_request",
        "success",
        "otel",
    )
    calls = [(c["model"], c["tokens_in"], c["tokens_out"], c["cost"], c["task"]) for c in stored["llm_calls"]]
    assert calls == [
        ("text-embedding-3-small", 1000, 0, 0.00002, "embeddings"),
        ("gpt-4o", 100, 10, 0.5, "chat"),
    ]
    assert (stored["llm_calls"][1]["prompt_preview"], stored["llm_calls"][1]["response_preview"]) == (
        "hello",
        "hi",
    )
    assert (stored["tokens_in"], stored["total_cost"]) == (1100, 0.50002)
    assert [(s["kind"], s["name"]) for s in stored["spans"]] == [("custom", "handle_request")]


def test_hostile_spans_are_stored_or_refused_never_a_server_error(receiver: Any) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    def kv(key: str, value: AnyValue) -> KeyValue:
        return KeyValue(key=key, value=value)

    deep = AnyValue(string_value="leaf")
    for _ in range(20):
        deep = AnyValue(kvlist_value={"values": [KeyValue(key="k", value=deep)]})
    nasty = [
        kv("nul\x00key", AnyValue(string_value="nul\x00value")),
        kv("gen_ai.request.model", AnyValue(string_value="gpt-4o\x00")),
        kv("gen_ai.usage.input_tokens", AnyValue(int_value=2**62)),
        kv("gen_ai.usage.output_tokens", AnyValue(double_value=float("nan"))),
        kv("gen_ai.operation.name", AnyValue(string_value="chat")),
        kv("deep", deep),
        kv("blob", AnyValue(bytes_value=b"\x00\xff" * 10_000)),
        kv("long", AnyValue(string_value="x" * 100_000)),
        kv("gen_ai.input.messages", AnyValue(string_value="[" * 5_000)),
    ]
    waxell_junk = [
        kv("waxell.run_id", AnyValue(string_value="r" * 200)),
        kv("waxell.record", AnyValue(string_value="llm_call")),
        kv("waxell.record.id", AnyValue(string_value="\x00" * 70)),
        kv("waxell.record.position", AnyValue(string_value="first")),
        kv("gen_ai.usage.input_tokens", AnyValue(int_value=-5)),
        kv("waxell.meta.x", AnyValue(string_value='{"a": NaN}')),
    ]
    run_junk = [
        kv("waxell.run_id", AnyValue(string_value="run-\x00-1")),
        kv("waxell.record", AnyValue(string_value="run")),
        kv("waxell.run.status", AnyValue(string_value="exploded")),
        kv("waxell.tag.\x00", AnyValue(int_value=3)),
        kv("waxell.conversation", AnyValue(string_value="[1, 2]")),
    ]
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for index, attributes in enumerate((nasty, waxell_junk, run_junk)):
        span = scope_spans.spans.add()
        span.trace_id = bytes([index + 1]) * 16
        span.span_id = bytes([index + 1]) * 8
        span.parent_span_id = b"\x07" * 3  # a malformed parent id is ignored
        span.name = "\x00" * 3
        span.start_time_unix_nano = 2**63  # far beyond year 9999: the time of receipt is used
        span.end_time_unix_nano = 1
        span.attributes.extend(attributes)
        event = span.events.add()
        event.name = "waxell.score"
        event.attributes.extend([kv("waxell.score.name", AnyValue(string_value="s")),
                                 kv("waxell.score.value", AnyValue(string_value="high"))])  # fmt: skip
    response = receiver.post(
        "/v1/traces", content=request.SerializeToString(), headers={"Content-Type": "application/x-protobuf"}
    )
    assert response.status_code == 200, response.text
    stored = read(receiver, "01" * 16)
    (call,) = stored["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"]) == ("gpt-4o", 0, 0)
    assert stored["status"] == "success"
    junk_run = read(receiver, "run--1")
    assert (junk_run["status"], junk_run["tags"], junk_run["conversation"], junk_run["scores"]) == (
        "success",
        {"": "3"},
        {},
        [],
    )


def test_a_policy_span_stored_first_by_the_receiver_is_audited_once(
    receiver: Any, memory_exporter: Any
) -> None:
    # The SDK sends a run's records through the wire protocol and, with the OTel plugin, as OTLP
    # spans: whichever arrives first stores the policy span, and that one writes its audit row.
    with WaxellContext(agent_name="audited-agent", workflow_name="wf", enforce_policy=False) as ctx:
        ctx.record_policy_check(
            policy_name="tools", action="block", category="safety", reason="Blocked tool used: shell",
            phase="mid_execution",
        )  # fmt: skip
    spans = finished_spans(memory_exporter)
    post(receiver, spans)
    post(receiver, spans)  # delivered again: stored once, audited once
    response = receiver.get("/api/v1/read/audit/", params={"run_id": ctx.run_id})
    assert response.status_code == 200, response.text
    events = response.json()["events"]
    assert [
        (e["agent_name"], e["workflow_name"], e["policy_name"], e["action"], e["phase"], e["reason"])
        for e in events
    ] == [("audited-agent", "wf", "tools", "block", "mid_execution", "Blocked tool used: shell")]


@pytest.mark.parametrize("wire", ["batch", "per-run"])
def test_the_sdk_delivery_fills_a_run_its_run_span_created_first(
    receiver: Any, memory_exporter: Any, wire: str
) -> None:
    """The exporter and the SDK's own delivery race: when the run span arrives first (the run is
    created from it, without the inputs spans do not carry), the SDK's start and completion that
    follow still fill the run — they are not taken for a retry of it."""
    with WaxellContext(agent_name="greeter", inputs={"name": "x"}, enforce_policy=False) as ctx:
        ctx.record_llm_call(model="gpt-4o-mini", tokens_in=5, tokens_out=3)
        ctx.set_result({"output": "?"})
    spans = finished_spans(memory_exporter)
    (run_span,) = [s for s in spans if s.attributes["waxell.record"] == "run"]
    post(receiver, spans)  # the LLM call is stored from its span; the SDK's delivery below omits it
    created = read(receiver, ctx.run_id)
    assert (created["source"], created["inputs"], created["result"], created["llm_call_count"]) == (
        "otlp",
        {},
        {},
        1,
    )
    started_at, ended_at = created["started_at"], created["ended_at"]
    start = {
        "run_id": ctx.run_id,
        "agent_name": "greeter",
        "inputs": {"name": "x"},
        "session_id": "s-9",
        "user_id": "u-1",
        "metadata": {"tier": "gold"},
        "tags": {"env": "ci"},
        "started_at": run_span.start_time / 1e9,
    }
    complete = {
        "result": {"output": "?"},
        "status": "success",
        "metadata": {"done": True},
        "ended_at": run_span.end_time / 1e9,
    }
    api = "/api/v1/observe"
    if wire == "batch":
        answer = receiver.post(f"{api}/runs/batch/", json={"runs": [{"run_id": ctx.run_id, "start": start}]})
        assert answer.status_code == 200, answer.text
        assert [r["status"] for r in answer.json()["runs"]] == [201]
    else:
        answer = receiver.post(f"{api}/runs/start/", json=start)
        assert answer.status_code == 201, answer.text
    taken = read(receiver, ctx.run_id)  # the start alone: the run is the SDK's, its stored call counted
    assert (
        taken["source"],
        taken["inputs"],
        taken["status"],
        taken["llm_call_count"],
        taken["tokens_in"],
    ) == (
        "sdk",
        {"name": "x"},
        "running",
        1,
        5,
    )
    if wire == "batch":
        entry = {"run_id": ctx.run_id, "complete": complete}
        answer = receiver.post(f"{api}/runs/batch/", json={"runs": [entry]})
        assert [r["status"] for r in answer.json()["runs"]] == [200]
    else:
        answer = receiver.post(f"{api}/runs/{ctx.run_id}/complete/", json=complete)
        assert answer.status_code == 200, answer.text
    stored = read(receiver, ctx.run_id)
    assert picked(
        stored,
        "source",
        "inputs",
        "result",
        "session_id",
        "user_id",
        "metadata",
        "tags",
        "status",
        "started_at",
        "ended_at",
        "llm_call_count",
        "tokens_in",
        "tokens_out",
    ) == {
        "source": "sdk",
        "inputs": {"name": "x"},
        "result": {"output": "?"},
        "session_id": "s-9",
        "user_id": "u-1",
        "metadata": {"tier": "gold", "done": True},
        "tags": {"env": "ci"},
        "status": "success",
        "started_at": started_at,
        "ended_at": ended_at,
        "llm_call_count": 1,
        "tokens_in": 5,
        "tokens_out": 3,
    }
    assert_rollups_exact(receiver.app.state.store)  # the takeover's upsert moved the run in the rollups
