"""Issue 12: human turns, pauses, resumes and approval rounds exported over OTLP (the approval spans'
``waxell.policy.*`` and ``waxell.approval.*`` attributes) and read back through our receiver."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient
from waxell_observe.vocabulary import attributes as names

from .conftest import OtlpServer

Spans = Callable[[], list[ReadableSpan]]


def _record_everything(agent: str) -> WaxellContext:
    with WaxellContext(agent_name=agent, enforce_policy=False) as ctx:
        ctx.record_approval_request(
            action_type="wire_transfer", approvers=["cfo"], timeout_minutes=5, reason="over $10k"
        )
        ctx.record_human_interaction(
            prompt="Approve?", response="approved", action="approval", elapsed_ms=1234.4
        )
        ctx.record_approval_response(
            action_type="wire_transfer", decision="approved", approver="cfo", elapsed_seconds=1.2
        )
        with ctx.pause("awaiting_webhook", hook="stripe"):
            pass
        ctx.mark_resumed(from_run_id="run-before", payload={"ok": 1})
    return ctx


def test_approval_and_human_spans_carry_their_attributes(spans_of: Spans) -> None:
    _record_everything("i12-otel")
    spans = spans_of()
    by_name: dict[str, list[Any]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(dict(span.attributes or {}))
    request, response = by_name["policy approval:wire_transfer"]
    assert request[names.SPAN_KIND] == "policy"
    assert (request["waxell.policy.action"], request["waxell.policy.category"]) == (
        "approval_requested",
        "approval",
    )
    assert (request[names.APPROVAL_REASON], request[names.APPROVAL_ACTION_TYPE]) == (
        "over $10k",
        "wire_transfer",
    )
    assert json.loads(request["waxell.policy.metadata"]) == {
        "action_type": "wire_transfer",
        "approvers": ["cfo"],
        "timeout_minutes": 5,
    }
    assert (response["waxell.policy.action"], response[names.APPROVAL_PHASE]) == (
        "approval_granted",
        "decision",
    )
    assert (response[names.APPROVAL_APPROVER], response[names.APPROVAL_ELAPSED_SECONDS]) == ("cfo", 1.2)
    assert not any(key.startswith("waxell.policy.approval.") for key in request | response)
    (turn,) = by_name["human_turn:approval"]
    assert (turn["waxell.io.io.direction"], turn["waxell.io.io.action"]) == ("interactive", "approval")
    (paused,) = by_name["paused"]
    assert (paused["waxell.io._phase"], paused["waxell.io.pause_reason"], paused["waxell.io.pause.hook"]) == (
        "pause_marker",
        "awaiting_webhook",
        "stripe",
    )
    (resumed,) = by_name["resumed"]
    assert (resumed["waxell.io._phase"], resumed["waxell.io.resumed_from_run_id"]) == (
        "post_resume",
        "run-before",
    )


def test_human_records_round_trip_through_our_receiver(otlp_server: OtlpServer) -> None:
    WaxellObserveClient.configure(otlp_endpoint=otlp_server.base_url)
    ctx = _record_everything("i12-otlp-roundtrip")
    report = waxell_observe.flush_sync(timeout=20)
    assert report.sinks["otlp"].pending == 0 and report.sinks["otlp"].dropped == 0, report
    stored = otlp_server.run(ctx.run_id)
    spans = [(s["kind"], s["name"], s["status"], s["attributes"]) for s in stored["spans"]]
    assert spans == [
        (
            "policy",
            "approval:wire_transfer",
            "ok",
            {
                "policy_name": "approval",
                "action": "approval_requested",
                "category": "approval",
                "reason": "over $10k",
                "phase": "mid_execution",
                "priority": 100,
                "metadata": {"action_type": "wire_transfer", "approvers": ["cfo"], "timeout_minutes": 5},
                "approval.reason": "over $10k",
                "approval.action_type": "wire_transfer",
                "approval.phase": "request",
            },
        ),
        (
            "io",
            "human_turn:approval",
            "ok",
            {"io.direction": "interactive", "io.channel": "terminal", "io.action": "approval"},
        ),
        (
            "policy",
            "approval:wire_transfer",
            "ok",
            {
                "policy_name": "approval",
                "action": "approval_granted",
                "category": "approval",
                "reason": "",
                "phase": "mid_execution",
                "priority": 100,
                "metadata": {
                    "action_type": "wire_transfer",
                    "decision": "approved",
                    "approver": "cfo",
                    "elapsed_seconds": 1.2,
                },
                "approval.action_type": "wire_transfer",
                "approval.phase": "decision",
                "approval.approver": "cfo",
                "approval.elapsed_seconds": 1.2,
            },
        ),
        (
            "io",
            "paused",
            "ok",
            {"_phase": "pause_marker", "pause_reason": "awaiting_webhook", "pause.hook": "stripe"},
        ),
        ("io", "resumed", "ok", {"_phase": "post_resume", "resumed_from_run_id": "run-before"}),
    ]
    turn = stored["spans"][1]
    assert turn["duration_ms"] == 1234.0
    assert [s["name"] for s in stored["steps"]] == ["io:human_turn:approval"]
    assert stored["steps"][0]["output"] == {"_kind": "human_interaction", "preview": "approved"}
