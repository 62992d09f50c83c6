"""Issue 12: an approval round, human turns and a pause recorded in remote mode, delivered to our real
server (``waxell-observe serve``, SQLite and PostgreSQL) and read back through its read API: the spans,
the audit rows with the approval events, and the active / paused time."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import waxell_observe
from waxell_observe import (
    ApprovalDecision,
    PolicyViolationError,
    WaxellContext,
    WaxellObserveClient,
    hookimpl,
)
from waxell_observe.governance.results import PolicyCheckResult, PolicyEvaluation

META = {"action_type": "deploy", "approvers": ["sre"], "timeout_minutes": 30}


class BlockOnEntry:
    def __init__(self, agent: str) -> None:
        self.agent = agent

    @hookimpl
    def on_policy_check(self, run: Any, phase: str, surface: str) -> PolicyCheckResult | None:
        if phase != "pre_execution" or run.agent_name != self.agent:
            return None
        evaluation = PolicyEvaluation(
            "prod-deploys", "approval", "block", "prod deploys", 0.0, dict(META), phase
        )
        return PolicyCheckResult("block", reason="prod deploys", evaluations=[evaluation])


def _audit(server: Any, run_id: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    reply = httpx.get(f"{server.url}/api/v1/read/audit/", params={"run_id": run_id, "limit": 50}, timeout=10)
    assert reply.status_code == 200, reply.text
    return [
        (e["event"], e["action"], e["policy_name"], e["metadata"]) for e in reversed(reply.json()["events"])
    ]


def test_approval_round_human_turn_and_pause_reach_the_server(
    shared_server: Any, register_plugin: Callable[[object], object]
) -> None:
    agent = f"i12-remote-{uuid.uuid4().hex[:8]}"
    register_plugin(BlockOnEntry(agent))
    WaxellObserveClient.configure(api_url=shared_server.url, api_key="")

    def approve(error: PolicyViolationError) -> ApprovalDecision:
        return ApprovalDecision(approved=True, approver="sre-on-call", elapsed_seconds=2.0)

    with WaxellContext(agent_name=agent, on_policy_block=approve) as ctx:
        with ctx.pause("awaiting_change_window"):
            time.sleep(0.1)
        ctx.record_human_interaction(prompt="Deploy now?", response="go", channel="pager", elapsed_ms=800)
    report = waxell_observe.flush_sync(timeout=30)
    assert report.pending == 0, report
    run = shared_server.read_run(ctx.run_id)
    assert run["status"] == "success"
    assert [
        (s["kind"], s["name"], s["attributes"].get("action", s["attributes"].get("io.action", "")))
        for s in run["spans"]
    ] == [
        ("policy", "prod-deploys", "block"),
        ("policy", "approval:deploy", "approval_requested"),
        ("io", "human_turn:approval", "approval"),
        ("policy", "approval:deploy", "approval_granted"),
        ("io", "paused", ""),
        ("io", "human_turn", ""),
    ]
    request, response = run["spans"][1]["attributes"], run["spans"][3]["attributes"]
    assert (request["metadata"], request["approval.action_type"]) == (META, "deploy")
    assert response["metadata"] == {
        "action_type": "deploy",
        "decision": "approved",
        "approver": "sre-on-call",
        "elapsed_seconds": 2.0,
    }
    assert run["spans"][5]["duration_ms"] == 800.0
    pause = run["spans"][4]
    assert pause["duration_ms"] >= 100.0
    assert run["paused_ms"] == pytest.approx(pause["duration_ms"], abs=0.002)
    assert run["active_ms"] == pytest.approx(run["duration_ms"] - run["paused_ms"], abs=0.002)
    assert [s["name"] for s in run["steps"]] == ["io:human_turn:approval", "io:human_turn"]
    events = [(e, a, p) for e, a, p, _ in _audit(shared_server, ctx.run_id)]
    assert events == [
        ("policy_decision", "block", "prod-deploys"),
        ("approval_requested", "requested", "approval"),
        ("approval_granted", "granted", "approval"),
    ]
