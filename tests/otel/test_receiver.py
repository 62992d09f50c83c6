"""The control plane's OTLP receiver, over a real server on 127.0.0.1.

SDK → OTLP/HTTP → ``POST /v1/traces`` → store → read API; a plain OpenTelemetry program's
GenAI traces; OpenInference and OpenLLMetry attribute sets over OTLP/JSON; enrichment of a
run delivered through the wire protocol; encodings, errors and authentication.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient
from waxell_observe.records import new_id

from .conftest import OtlpServer

HERE = Path(__file__).parent


def iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat()


def export_to(server: OtlpServer, **options: Any) -> None:
    WaxellObserveClient.configure(otlp_endpoint=server.base_url, **options)


def flush_otel() -> None:
    report = waxell_observe.flush_sync(timeout=20)
    otlp = report.sinks["otlp"]
    assert otlp.pending == 0 and otlp.dropped == 0, report


# -- SDK → OTLP → server -------------------------------------------------------------------


def test_round_trip_sdk_to_receiver_to_read_api(otlp_server: OtlpServer) -> None:
    export_to(otlp_server)
    with WaxellContext(
        agent_name="research-agent",
        workflow_name="deep-research",
        session_id="session-abc-123",
        user_id="user-456",
        user_group="enterprise",
        metadata={"version": "2.1"},
        enforce_policy=False,
    ) as ctx:
        ctx.set_tag("environment", "production")
        ctx.set_metadata("retrieval_count", 5)
        ctx.set_metadata("config", {"k": [1, 2]})
        first = ctx.record_llm_call(
            model="gpt-4o", tokens_in=300, tokens_out=150, task="plan", duration_ms=350, finish_reason="stop"
        )
        step = ctx.record_step("research", output={"sources": 5})
        tool = ctx.record_tool_call(
            name="web_search", input={"q": "x"}, output="r", duration_ms=250, tool_type="api"
        )
        second = ctx.record_llm_call(model="claude-sonnet-4", tokens_in=2000, tokens_out=500, duration_ms=900)
        ctx.record_score("relevance", 0.92, comment="Highly relevant")
        ctx.record_score("tone", "professional", data_type="categorical")
        ctx.record_score("contains_hallucination", False, data_type="boolean")
        with WaxellContext(agent_name="summarizer", enforce_policy=False) as child:
            child.record_llm_call(model="gpt-4o-mini", tokens_in=200, tokens_out=10, duration_ms=80)
        ctx.set_result({"answer": "42"})
    assert first and step and tool and second
    flush_otel()
    run = ctx.run
    stored = otlp_server.run(ctx.run_id)
    assert {
        k: stored[k]
        for k in (
            "agent_name",
            "workflow_name",
            "status",
            "error",
            "session_id",
            "user_id",
            "user_group",
            "parent_run_id",
            "tags",
            "metadata",
            "tokens_in",
            "tokens_out",
            "total_cost",
            "llm_call_count",
            "step_count",
            "span_count",
            "trace_id",
            "source",
            "interaction_mode",
            "started_at",
            "ended_at",
        )
    } == {
        "agent_name": "research-agent",
        "workflow_name": "deep-research",
        "status": "success",
        "error": "",
        "session_id": "session-abc-123",
        "user_id": "user-456",
        "user_group": "enterprise",
        "parent_run_id": "",
        "tags": {"environment": "production"},
        "metadata": {"version": "2.1", "retrieval_count": 5, "config": {"k": [1, 2]}},
        "tokens_in": 2300,
        "tokens_out": 650,
        "total_cost": 0.01575,
        "llm_call_count": 2,
        "step_count": 2,
        "span_count": 1,
        "trace_id": ctx.run_id,
        "source": "otlp",
        "interaction_mode": "interactive",
        "started_at": iso(run.started_at),
        "ended_at": iso(run.ended_at),
    }
    assert [
        {
            k: c[k]
            for k in (
                "id",
                "position",
                "model",
                "provider",
                "tokens_in",
                "tokens_out",
                "cost",
                "task",
                "duration_ms",
                "status",
                "started_at",
                "attributes",
            )
        }
        for c in stored["llm_calls"]
    ] == [
        {
            "id": first.id,
            "position": 1,
            "model": "gpt-4o",
            "provider": "openai",
            "tokens_in": 300,
            "tokens_out": 150,
            "cost": 0.00225,
            "task": "plan",
            "duration_ms": 350.0,
            "status": "ok",
            "started_at": iso(first.started_at),
            "attributes": {"finish_reason": "stop"},
        },
        {
            "id": second.id,
            "position": 4,
            "model": "claude-sonnet-4",
            "provider": "anthropic",
            "tokens_in": 2000,
            "tokens_out": 500,
            "cost": 0.0135,
            "task": "",
            "duration_ms": 900.0,
            "status": "ok",
            "started_at": iso(second.started_at),
            "attributes": {},
        },
    ]
    assert [(s["name"], s["position"], s["output"]) for s in stored["steps"]] == [
        ("research", 1, {"sources": 5}),
        (
            "delegate:summarizer",
            2,
            {"_kind": "delegation", "child_run_id": child.run_id, "child_agent": "summarizer"},
        ),
    ]
    assert [
        {
            k: s[k]
            for k in (
                "id",
                "kind",
                "name",
                "status",
                "duration_ms",
                "started_at",
                "attributes",
                "input",
                "output",
            )
        }
        for s in stored["spans"]
    ] == [
        {
            "id": tool.id,
            "kind": "tool",
            "name": "web_search",
            "status": "ok",
            "duration_ms": 250.0,
            "started_at": iso(tool.started_at),
            "attributes": {"tool_type": "api"},
            "input": None,
            "output": None,
        },
    ]
    assert sorted((s["name"], s["data_type"], s["value"], s["comment"]) for s in stored["scores"]) == [
        ("contains_hallucination", "boolean", False, ""),
        ("relevance", "numeric", 0.92, "Highly relevant"),
        ("tone", "categorical", "professional", ""),
    ]
    assert [c["run_id"] for c in stored["children"]] == [child.run_id]
    stored_child = otlp_server.run(child.run_id)
    assert (stored_child["agent_name"], stored_child["parent_run_id"], stored_child["root_run_id"]) == (
        "summarizer",
        ctx.run_id,
        ctx.run_id,
    )
    assert (stored_child["tokens_in"], stored_child["total_cost"], stored_child["trace_id"]) == (
        200,
        0.000036,
        ctx.run_id,
    )
    # Tags are queryable on the server too.
    listed = otlp_server.runs(tag="environment:production", agent_name="research-agent")
    assert [r["run_id"] for r in listed["runs"]] == [ctx.run_id]


def test_a_failed_run_round_trips_with_its_error(otlp_server: OtlpServer) -> None:
    export_to(otlp_server)
    with pytest.raises(RuntimeError), WaxellContext(agent_name="crasher", enforce_policy=False) as ctx:
        raise RuntimeError("disk full")
    flush_otel()
    stored = otlp_server.run(ctx.run_id)
    assert (stored["status"], stored["error"], stored["error_type"]) == ("error", "disk full", "RuntimeError")
    assert stored["traceback"].rstrip().endswith("RuntimeError: disk full")


def test_spans_enrich_a_run_the_wire_protocol_delivered(otlp_server: OtlpServer) -> None:
    export_to(otlp_server)
    with WaxellContext(agent_name="dual-path", enforce_policy=False) as ctx:
        call = ctx.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=5)
        ctx.set_tag("environment", "production")
        ctx.set_metadata("from_otel", True)
        assert call is not None
        # The same run, delivered first through the wire protocol (as the remote sink does) while
        # it goes on: its run span is exported when it ends (its records may arrive earlier).
        observe = f"{otlp_server.base_url}/api/v1/observe"
        started = httpx.post(
            f"{observe}/runs/start/",
            json={
                "agent_name": "dual-path",
                "workflow_name": "default",
                "run_id": ctx.run_id,
                "tags": {"team": "search"},
            },
        )
        assert started.status_code in (200, 201), started.text
        assert started.json()["run_id"] == ctx.run_id
        calls = httpx.post(
            f"{observe}/runs/{ctx.run_id}/llm-calls/",
            json={
                "calls": [{"id": call.id, "model": "gpt-4o", "tokens_in": 10, "tokens_out": 5, "position": 1}]
            },
        )
        assert calls.status_code == 200, calls.text
        before = otlp_server.run(ctx.run_id)
        assert (before["trace_id"], before["tags"], before["source"]) == ("", {"team": "search"}, "sdk")
    flush_otel()
    after = otlp_server.run(ctx.run_id)
    assert after["tags"] == {"team": "search", "environment": "production"}
    assert after["metadata"] == {"from_otel": True}
    assert after["trace_id"] == ctx.run_id
    assert after["source"] == "sdk"
    assert (after["llm_call_count"], after["tokens_in"]) == (1, 10)  # the call is not stored twice
    assert after["ended_at"] == iso(ctx.run.ended_at)
    assert after["status"] == "success"


# -- other applications ---------------------------------------------------------------------


def test_a_plain_opentelemetry_program_becomes_a_run(otlp_server: OtlpServer) -> None:
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_server.base_url}
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        env.pop(name, None)
    finished = subprocess.run(
        [sys.executable, str(HERE / "foreign_genai_app.py")],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    trace_id = finished.stdout.strip()
    stored = otlp_server.run(trace_id)
    assert {k: stored[k] for k in (
        "agent_name", "workflow_name", "status", "session_id", "user_id", "tags", "tokens_in", "tokens_out",
        "total_cost", "llm_call_count", "trace_id", "source", "interaction_mode",
    )} == {
        "agent_name": "support-bot",
        "workflow_name": "invoke_agent support-bot",
        "status": "success",
        "session_id": "conv-42",
        "user_id": "customer-7",
        "tags": {"service": "support-bot"},
        "tokens_in": 170,
        "tokens_out": 30,
        "total_cost": 0.00075,
        "llm_call_count": 2,
        "trace_id": trace_id,
        "source": "otel",
        "interaction_mode": "interactive",
    }  # fmt: skip
    calls = stored["llm_calls"]
    assert [
        (c["model"], c["provider"], c["tokens_in"], c["tokens_out"], c["cost"], c["status"]) for c in calls
    ] == [
        ("gpt-4o-2024-08-06", "openai", 120, 30, 0.0006, "ok"),
        ("claude-sonnet-4", "anthropic", 50, 0, 0.00015, "error"),
    ]
    assert calls[0]["attributes"]["finish_reason"] == "tool_calls"
    assert calls[0]["duration_ms"] >= 10.0
    assert (calls[1]["error_type"], calls[1]["error_message"]) == ("OverloadedError", "overloaded")
    spans = {s["name"]: s for s in stored["spans"]}
    assert sorted(spans) == ["get_weather", "support-bot"]  # tool and agent spans are named after them
    assert spans["get_weather"]["kind"] == "tool"
    assert spans["support-bot"]["kind"] == "agent"
    assert spans["support-bot"]["attributes"]["otel.span_name"] == "invoke_agent support-bot"
    root_id = spans["support-bot"]["id"]
    assert spans["get_weather"]["parent_span_id"] == root_id
    assert {c["parent_span_id"] for c in calls} == {root_id}


def _json_span(
    trace_id: str,
    span_id: str,
    name: str,
    attributes: dict[str, Any],
    *,
    parent: str = "",
    error: bool = False,
    start: int = 1_700_000_000_000_000_000,
    end: int = 1_700_000_000_500_000_000,
) -> dict[str, Any]:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        if isinstance(v, list):
            return {"arrayValue": {"values": [value(x) for x in v]}}
        return {"stringValue": v}

    span: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(end),
        "attributes": [{"key": k, "value": value(v)} for k, v in attributes.items()],
        "status": {"code": 2, "message": "failed"} if error else {},
    }
    if parent:
        span["parentSpanId"] = parent
    return span


def _json_request(spans: list[dict[str, Any]], service: str = "rag-app") -> bytes:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                    "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
                }
            ]
        }
    ).encode()


def test_openinference_spans_over_otlp_json(otlp_server: OtlpServer) -> None:
    trace_id = new_id()
    root, llm = new_id()[:16], new_id()[:16]
    body = _json_request(
        [
            _json_span(
                trace_id, root, "RAG query", {"openinference.span.kind": "CHAIN", "session.id": "s-9"}
            ),
            _json_span(
                trace_id,
                llm,
                "ChatCompletion",
                {
                    "openinference.span.kind": "LLM",
                    "llm.model_name": "gpt-4o-mini",
                    "llm.provider": "openai",
                    "llm.token_count.prompt": 1000,
                    "llm.token_count.completion": 100,
                    "llm.input_messages.0.message.role": "system",
                    "llm.input_messages.0.message.content": "You answer briefly.",
                    "llm.input_messages.1.message.role": "user",
                    "llm.input_messages.1.message.content": "What is RAG?",
                    "llm.output_messages.0.message.role": "assistant",
                    "llm.output_messages.0.message.content": "Retrieval-augmented generation.",
                },
                parent=root,
                start=1_700_000_000_100_000_000,
                end=1_700_000_000_350_000_000,
            ),
        ]
    )
    response = otlp_server.post_traces(body, "application/json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    stored = otlp_server.run(trace_id)
    assert (stored["agent_name"], stored["workflow_name"], stored["session_id"], stored["status"]) == (
        "rag-app",
        "RAG query",
        "s-9",
        "success",
    )
    assert (stored["started_at"], stored["ended_at"], stored["duration_ms"]) == (
        "2023-11-14T22:13:20+00:00",
        "2023-11-14T22:13:20.500000+00:00",
        500.0,
    )
    (call,) = stored["llm_calls"]
    assert {
        k: call[k]
        for k in (
            "model",
            "provider",
            "tokens_in",
            "tokens_out",
            "cost",
            "prompt_preview",
            "response_preview",
            "duration_ms",
        )
    } == {
        "model": "gpt-4o-mini",
        "provider": "openai",
        "tokens_in": 1000,
        "tokens_out": 100,
        "cost": 0.00021,
        "prompt_preview": "What is RAG?",
        "response_preview": "Retrieval-augmented generation.",
        "duration_ms": 250.0,
    }
    assert [(s["kind"], s["name"]) for s in stored["spans"]] == [("chain", "RAG query")]


def test_openllmetry_spans_in_two_batches_complete_the_run(otlp_server: OtlpServer) -> None:
    trace_id = new_id()
    root, llm = new_id()[:16], new_id()[:16]
    child = _json_span(
        trace_id,
        llm,
        "anthropic.chat",
        {
            "llm.request.type": "chat",
            "gen_ai.system": "Anthropic",
            "gen_ai.request.model": "claude-sonnet-4",
            "gen_ai.usage.prompt_tokens": 400,
            "gen_ai.usage.completion_tokens": 50,
            "llm.usage.total_tokens": 450,
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "Summarise the ticket",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "The customer wants a refund.",
            "traceloop.association.properties.user_id": "u-1",
        },
        parent=root,
        start=1_700_000_000_100_000_000,
        end=1_700_000_000_300_000_000,
    )
    # BatchSpanProcessors export children first: the run exists, still running.
    compressed = gzip.compress(_json_request([child], service="ticket-bot"))
    response = otlp_server.post_traces(compressed, "application/json", **{"Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    running = otlp_server.run(trace_id)
    assert (running["status"], running["ended_at"], running["agent_name"], running["user_id"]) == (
        "running",
        None,
        "ticket-bot",
        "u-1",
    )
    root_span = _json_span(
        trace_id, root, "summarise_ticket.workflow", {"traceloop.span.kind": "workflow"}, error=True
    )
    response = otlp_server.post_traces(_json_request([root_span], service="ticket-bot"), "application/json")
    assert response.status_code == 200, response.text
    # Delivered again (an exporter retry): nothing is stored twice.
    assert (
        otlp_server.post_traces(compressed, "application/json", **{"Content-Encoding": "gzip"}).status_code
        == 200
    )
    done = otlp_server.run(trace_id)
    assert (done["status"], done["error"], done["workflow_name"], done["duration_ms"]) == (
        "error",
        "failed",
        "summarise_ticket.workflow",
        500.0,
    )
    (call,) = done["llm_calls"]
    assert (call["model"], call["provider"], call["tokens_in"], call["tokens_out"], call["cost"]) == (
        "claude-sonnet-4",
        "anthropic",
        400,
        50,
        0.00195,
    )
    assert (call["prompt_preview"], call["response_preview"]) == (
        "Summarise the ticket",
        "The customer wants a refund.",
    )
    assert [(s["kind"], s["name"], s["status"]) for s in done["spans"]] == [
        ("chain", "summarise_ticket.workflow", "error")
    ]


def test_protobuf_replies_and_partial_success(otlp_server: OtlpServer) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    good = scope_spans.spans.add()
    good.trace_id = bytes.fromhex(new_id())
    good.span_id = bytes.fromhex(new_id()[:16])
    good.name = "job"
    good.start_time_unix_nano = 1_700_000_000_000_000_000
    good.end_time_unix_nano = 1_700_000_001_000_000_000
    bad = scope_spans.spans.add()
    bad.trace_id = b"\x00" * 16
    bad.span_id = b"\x01" * 8
    bad.name = "no trace id"
    response = otlp_server.post_traces(request.SerializeToString(), "application/x-protobuf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    reply = ExportTraceServiceResponse.FromString(response.content)
    assert reply.partial_success.rejected_spans == 1
    assert "trace_id" in reply.partial_success.error_message
    stored = otlp_server.run(good.trace_id.hex())
    assert (stored["agent_name"], stored["workflow_name"], stored["llm_call_count"]) == ("job", "job", 0)


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status", "detail"),
    [
        (b"{}", "text/plain", {}, 415, "unsupported Content-Type 'text/plain'"),
        (b"\xff\xfe garbage", "application/x-protobuf", {}, 400, "not an OTLP protobuf"),
        (b"[1, 2]", "application/json", {}, 400, "must be a JSON object"),
        (b"{not json", "application/json", {}, 400, "not valid JSON"),
        (b'{"resourceSpans": 7}', "application/json", {}, 400, "not an OTLP/JSON"),
        (b"{}", "application/json", {"Content-Encoding": "br"}, 415, "unsupported Content-Encoding 'br'"),
        (b"not gzip", "application/json", {"Content-Encoding": "gzip"}, 400, "not valid gzip data"),
    ],
)
def test_bad_requests_get_clear_4xx_answers(
    otlp_server: OtlpServer, body: bytes, content_type: str, headers: dict[str, str], status: int, detail: str
) -> None:
    response = otlp_server.post_traces(body, content_type, **headers)
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]


def test_the_receiver_needs_a_key_once_keys_exist(tmp_store_url: str) -> None:
    from fastapi.testclient import TestClient
    from waxell_observe_server.app import create_app

    from waxell_observe.store import get_store
    from waxell_observe.store.keys import create_key

    key, _record = create_key(get_store(tmp_store_url), "exporter")
    body = _json_request([_json_span(new_id(), new_id()[:16], "job", {})])
    with TestClient(create_app(tmp_store_url, key_cache_seconds=0)) as client:
        refused = client.post("/v1/traces", content=body, headers={"Content-Type": "application/json"})
        assert refused.status_code == 401
        assert "missing API key" in refused.json()["detail"]
        wrong = client.post(
            "/v1/traces", content=body, headers={"Content-Type": "application/json", "X-Wax-Key": "x"}
        )
        assert wrong.status_code == 401
        for header in ({"X-Wax-Key": key}, {"Authorization": f"Bearer {key}"}):
            accepted = client.post(
                "/v1/traces", content=body, headers={"Content-Type": "application/json", **header}
            )
            assert accepted.status_code == 200, accepted.text


def test_a_program_that_exits_without_flushing_still_exports_its_runs(
    otlp_server: OtlpServer, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "WAXELL_OTLP_ENDPOINT": otlp_server.base_url,
        "WAXELL_DB": str(tmp_path / "program.db"),
    }
    finished = subprocess.run(
        [sys.executable, str(HERE / "seed_program.py")],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    assert "dropped" not in finished.stderr, finished.stderr
    run_ids = finished.stdout.split()
    assert len(run_ids) == 2
    # What the exit budget (2 s) did not export stayed journaled: the next process to start (here
    # this one) adopts the journal and exports it.
    from waxell_observe.pipeline.pipeline import recover

    report = recover(timeout=60)
    assert report.dropped == 0, report
    for run_id, priority in zip(run_ids, ("high", "low"), strict=True):
        stored = otlp_server.run(run_id)
        assert (stored["tags"], stored["llm_call_count"], stored["step_count"], stored["total_cost"]) == (
            {"priority": priority},
            2,
            2,
            0.003286,
        )
        assert [s["name"] for s in stored["scores"]] == ["response_quality"]
