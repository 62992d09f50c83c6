"""Remote governance: the control plane decides (pre-execution, mid-execution, post-execution),
with a short timeout, fail-open by default, fail-closed on request, and no second round trip."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from remote_stubs import ProtocolStub, Reply, Seen

import waxell_observe
from waxell_observe import PolicyViolationError, WaxellContext, WaxellObserveClient


def _policy(stub: ProtocolStub) -> list[Seen]:
    return stub.requests("policy-check/")


def test_pre_execution_allow_sends_the_run_identity_once(
    remote: ProtocolStub, engine: Callable[..., Any]
) -> None:
    engine()
    with WaxellContext(agent_name="agent", workflow_name="wf", inputs={"q": "hi"}, metadata={"v": 1},
                       user_id="u1", user_group="free") as ctx:  # fmt: skip
        ctx.record_step("one")
    assert waxell_observe.flush_sync(timeout=10).sinks["remote"].pending == 0
    (check,) = _policy(remote)
    assert check.body == {
        "agent_name": "agent", "workflow_name": "wf", "agent_id": "", "inputs": {"q": "hi"}, "user_id": "u1",
        "user_group": "free", "metadata": {"v": 1}, "run_id": ctx.run_id, "phase": "pre_execution",
    }  # fmt: skip
    assert remote.paths().index("policy-check/") < remote.paths().index("runs/start/")


@pytest.mark.parametrize("action", ["block", "throttle"])
def test_block_and_throttle_stop_the_run_before_it_starts(
    remote: ProtocolStub, engine: Callable[..., Any], action: str
) -> None:
    engine()
    remote.policy_reply = {"action": action, "reason": "daily budget exhausted", "metadata": {},
                           "evaluations": [{"policy_name": "budget", "category": "budget", "action": action,
                                            "reason": "daily budget exhausted"}]}  # fmt: skip
    ran = []
    with pytest.raises(PolicyViolationError) as raised, WaxellContext(agent_name="agent"):
        ran.append(True)
    assert ran == []
    assert raised.value.policy_result.action == action
    assert str(raised.value) == f"Policy {action}: daily budget exhausted"
    waxell_observe.flush_sync(timeout=5)
    assert remote.paths() == ["policy-check/"]


def test_redact_replaces_the_inputs_and_warn_is_recorded(
    remote: ProtocolStub, engine: Callable[..., Any]
) -> None:
    engine()
    remote.policy_reply = {
        "action": "redact", "reason": "PII", "metadata": {"redacted_inputs": {"q": "my ssn is ##SSN##"},
                                                          "admission_id": "adm-1"},
        "evaluations": [{"policy_name": "pii", "category": "content", "action": "redact", "reason": "PII"}],
    }  # fmt: skip
    with WaxellContext(agent_name="agent", inputs={"q": "my ssn is 123-45-6789"}) as ctx:
        pass
    assert waxell_observe.flush_sync(timeout=10).sinks["remote"].pending == 0
    start = remote.runs[ctx.run_id]["start"]
    assert start["inputs"] == {"q": "my ssn is ##SSN##"}
    assert [(e["policy_name"], e["action"]) for e in start["pre_execution_evaluations"]] == [
        ("pii", "redact"),
        ("", "redact"),
    ]
    assert start["pre_execution_evaluations"][1]["metadata"] == {"admission_id": "adm-1"}
    spans = remote.records(ctx.run_id, "spans")
    assert [(s["kind"], s["waxell_kind"], s["attributes"]["action"]) for s in spans] == [
        ("governance", "policy", "redact")
    ]


def test_an_unavailable_control_plane_fails_open_by_default(
    remote: ProtocolStub, engine: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    engine()
    remote.fail(500, path="policy-check/")
    with caplog.at_level(logging.WARNING, logger="waxell_observe"):
        for _ in range(3):
            with WaxellContext(agent_name="agent") as ctx:
                ctx.record_step("ran")
    assert waxell_observe.flush_sync(timeout=10).sinks["remote"].pending == 0
    assert remote.runs[ctx.run_id]["complete"]["status"] == "success"
    assert len([r for r in caplog.records if "fail-open" in r.getMessage()]) == 1


def test_fail_closed_blocks_with_a_clear_reason(
    remote: ProtocolStub, engine: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine()
    monkeypatch.setenv("WAXELL_POLICY_FAIL_CLOSED", "1")
    WaxellObserveClient.configure(api_url=remote.url, api_key="")
    remote.fail(503, path="policy-check/")
    with pytest.raises(PolicyViolationError) as raised, WaxellContext(agent_name="agent"):
        pass
    result = raised.value.policy_result
    assert result.action == "block" and result.metadata["fail_closed"] is True
    assert "WAXELL_POLICY_FAIL_CLOSED" in result.reason and "HTTP 503" in result.reason
    waxell_observe.flush_sync(timeout=5)
    assert not remote.requests("runs/")


def test_the_run_start_is_not_a_second_synchronous_round_trip(
    remote: ProtocolStub, engine: Callable[..., Any]
) -> None:
    engine()
    release = threading.Event()
    answered = threading.Event()

    def slow_start(seen: Seen) -> Reply | None:
        if seen.path == "runs/start/":
            release.wait(10)  # held until the body has run
            answered.set()
        return None

    remote.rules.append(slow_start)
    try:
        with WaxellContext(agent_name="agent") as ctx:
            # the body runs while runs/start/ is still unanswered: a synchronous start would
            # have waited here for the answer (10 s, the stub's hold) before the body ran
            body_ran_before_start_answered = not answered.is_set()
            ctx.record_step("inside")
    finally:
        release.set()
    assert body_ran_before_start_answered
    assert waxell_observe.flush_sync(timeout=10).sinks["remote"].pending == 0
    assert remote.paths()[0] == "policy-check/"
    assert remote.runs[ctx.run_id]["complete"]["status"] == "success"


def test_mid_execution_governance_uses_the_ingest_reply_without_a_second_check(
    remote: ProtocolStub, engine: Callable[..., Any]
) -> None:
    engine()
    with (
        pytest.raises(PolicyViolationError) as raised,
        WaxellContext(agent_name="agent", metadata={"team": "a"}, mid_execution_governance=True) as ctx,
    ):
        ctx.record_user_message("hello")
        ctx.record_step("first")
        remote.ingest_governance = {
            "action": "block",
            "reason": "too many steps",
            "evaluations": [{"policy_name": "safety", "action": "block"}],
        }
        ctx.record_step("second")
        ctx.record_step("never")  # pragma: no cover - the policy stops the run before
    assert raised.value.policy_result.reason == "too many steps"
    assert waxell_observe.flush_sync(timeout=10).sinks["remote"].pending == 0
    # the user message is flushed on its own (spec: record_user_message flushes mid-execution); the
    # replies before "second" said nothing, so the server was asked once; "second": its reply decided
    assert [c.body["phase"] for c in _policy(remote)] == ["pre_execution", "mid_execution"]
    steps_requests = remote.requests(f"runs/{ctx.run_id}/steps/")
    assert [[s["step_name"] for s in r.body["steps"]] for r in steps_requests] == [
        ["io:user_message"], ["first"], ["second"],
    ]  # fmt: skip
    state = steps_requests[0].body["conversation_state"]
    assert (state["user_turns"], state["metadata"]) == (1, {"team": "a"})
    assert remote.runs[ctx.run_id]["complete"]["status"] == "blocked"


def test_mid_execution_checks_the_server_when_ingest_replies_say_nothing(
    remote: ProtocolStub, engine: Callable[..., Any]
) -> None:
    engine()
    with WaxellContext(agent_name="agent", mid_execution_governance=True) as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=100, tokens_out=50)
        ctx.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=5)
        ctx.record_tool_call(name="search")
        ctx.record_step("planned")
    checks = _policy(remote)
    assert [c.body["phase"] for c in checks] == ["pre_execution", "mid_execution"]
    mid = checks[1].body
    assert (mid["run_id"], mid["workflow_id"], mid["step_count"], mid["retries"]) == (
        ctx.run_id,
        ctx.run_id,
        1,
        0,
    )
    assert mid["llm_calls"] == [
        {"model": "gpt-4o", "tokens_in": 110, "tokens_out": 55, "cost": pytest.approx(0.000825)}
    ]
    assert mid["tool_calls"] == [{"name": "search"}]


def test_check_policy_asks_the_server_sync_and_async(
    remote: ProtocolStub, engine: Callable[..., Any]
) -> None:
    engine()
    with WaxellContext(agent_name="agent", enforce_policy=False) as ctx:
        remote.policy_reply = {"action": "warn", "reason": "80% of budget", "metadata": {}, "evaluations": []}
        assert (ctx.check_policy_sync().action, ctx.check_policy_sync().reason) == ("warn", "80% of budget")
        remote.policy_reply = {"action": "block", "reason": "over budget", "metadata": {}, "evaluations": []}
        result = asyncio.run(ctx.check_policy())
        assert (result.blocked, result.reason) == (True, "over budget")
    assert [c.body["phase"] for c in _policy(remote)] == ["mid_execution"] * 3


def test_post_execution_outcome_arrives_with_the_complete_reply(
    remote: ProtocolStub, engine: Callable[..., Any]
) -> None:
    engine()
    remote.complete_governance = {
        "action": "retry",
        "reason": "answer too short",
        "retry_feedback": "add detail",
        "max_retries": 2,
    }
    with WaxellContext(agent_name="agent") as ctx:
        ctx.set_result({"answer": "ok"})
    assert ctx.governance is not None and ctx.governance.action == "allow"  # decided asynchronously
    waxell_observe.flush_sync(timeout=10)
    assert (ctx.governance.action, ctx.governance.reason) == ("retry", "answer too short")
    assert (ctx.governance.retry_feedback, ctx.governance.metadata["max_retries"]) == ("add detail", 2)


def test_the_policy_check_carries_the_agent_type(remote: ProtocolStub, engine: Callable[..., Any]) -> None:
    """Reference §2.1: ``agent_type`` explicit, else (a nested run) the parent's user group; sent with
    the run's policy check (and only when not empty)."""
    engine()
    with (
        WaxellContext(agent_name="planner", agent_type="orchestrator", user_group="gold"),
        WaxellContext(agent_name="worker"),
    ):
        pass
    with WaxellContext(agent_name="plain"):
        pass
    assert waxell_observe.flush_sync(timeout=10).sinks["remote"].pending == 0
    sent = [(c.body["agent_name"], c.body.get("agent_type")) for c in _policy(remote)]
    assert sent == [("planner", "orchestrator"), ("worker", "gold"), ("plain", None)]
