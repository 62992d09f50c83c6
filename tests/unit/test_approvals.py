"""Issue 12: approvals (reference §1.5) end to end through the embedded store — every path of
``on_policy_block`` on ``WaxellContext`` and ``@observe`` (approved, denied, timeout, handler raising,
async handlers, nested contexts inheriting the handler), ``handle_policy_block`` and its sync twin,
``extract_block_metadata``, and the audit rows an approval round leaves."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import waxell_observe
from waxell_observe import ApprovalDecision, PolicyViolationError, WaxellContext, hookimpl, observe
from waxell_observe.approval import (
    auto_approve,
    auto_deny,
    extract_block_metadata,
    handle_policy_block,
    handle_policy_block_sync,
)
from waxell_observe.config import get_config
from waxell_observe.governance.results import PolicyCheckResult, PolicyEvaluation
from waxell_observe.policy_block import set_default_handler
from waxell_observe.store import get_store
from waxell_observe.store.aggregates import list_audit

ReadRun = Callable[[str], dict[str, Any]]
ReadRuns = Callable[..., list[dict[str, Any]]]

REASON = "Transfers over $10k need approval"
APPROVAL_META = {"action_type": "wire_transfer", "approvers": ["cfo", "ops"], "timeout_minutes": 5}


def _block(phase: str) -> PolicyCheckResult:
    evaluation = PolicyEvaluation(
        "big-transfers", "approval", "block", REASON, 0.0, dict(APPROVAL_META), phase
    )
    return PolicyCheckResult("block", reason=REASON, evaluations=[evaluation])


class Gate:
    """Blocks chosen agents at a phase (``times`` blocks each, then allows); remembers each check."""

    def __init__(self, agents: set[str], phase: str = "pre_execution", times: int = 1_000) -> None:
        self.agents, self.phase, self.left = agents, phase, times
        self.asked: list[tuple[str, str]] = []

    @hookimpl
    def on_policy_check(self, run: Any, phase: str, surface: str) -> PolicyCheckResult | None:
        self.asked.append((run.agent_name, phase))
        if phase != self.phase or run.agent_name not in self.agents or self.left <= 0:
            return None
        self.left -= 1
        return _block(phase)


@pytest.fixture(autouse=True)
def _no_default_handler() -> Iterator[None]:
    yield
    set_default_handler(None)


@pytest.fixture
def gate(register_plugin: Callable[[object], object]) -> Callable[..., Gate]:
    def make(agents: set[str], phase: str = "pre_execution", times: int = 1_000) -> Gate:
        made = Gate(agents, phase, times)
        register_plugin(made)
        return made

    return make


def _people(run: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(kind, name, action or response)`` of the policy and io spans, in the run's order."""
    rows = []
    for span in run["spans"]:
        attributes = span["attributes"]
        if span["kind"] == "policy":
            rows.append(("policy", span["name"], attributes["action"]))
        elif span["kind"] == "io":
            rows.append(("io", span["name"], (span["output"] or {}).get("response", "")))
    return rows


def _audit(run_id: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    waxell_observe.flush_sync(timeout=30)
    with get_store(get_config().db_url).read() as conn:
        events, _ = list_audit(conn, limit=1000)
    return [
        (e["event"], e["action"], e["policy_name"], e["metadata"])
        for e in reversed(events)
        if e["run_id"] == run_id
    ]


APPROVED_ROUND = [
    ("policy", "big-transfers", "block"),
    ("policy", "approval:wire_transfer", "approval_requested"),
    ("io", "human_turn:approval", "approved"),
    ("policy", "approval:wire_transfer", "approval_granted"),
]


# -- extract_block_metadata and the ready-made handlers ---------------------------------------------


def test_extract_block_metadata_merges_the_approval_evaluation_over_the_result() -> None:
    result = _block("pre_execution")
    result.metadata.update({"action_type": "ignored", "approvers": ["nobody"], "extra": 1})
    error = PolicyViolationError("Policy block: x", result)
    assert extract_block_metadata(error) == {
        "reason": "Policy block: x",
        "action_type": "wire_transfer",
        "approvers": ["cfo", "ops"],
        "timeout_minutes": 5.0,
    }
    workflow = PolicyCheckResult("block", metadata={"workflow_type": "refund", "action_type": "no"})
    assert extract_block_metadata(PolicyViolationError("r", workflow))["action_type"] == "refund"
    assert extract_block_metadata(PolicyViolationError("plain")) == {
        "reason": "plain",
        "action_type": "unknown",
        "approvers": [],
        "timeout_minutes": None,
    }


def test_auto_handlers() -> None:
    error = PolicyViolationError("x")
    assert auto_approve(error) == ApprovalDecision(
        approved=True, approver="auto_approve", elapsed_seconds=0.0
    )
    assert auto_deny(error) == ApprovalDecision(approved=False, elapsed_seconds=0.0)


# -- WaxellContext(on_policy_block=...) ---------------------------------------------------------------


def test_context_approved_goes_on_without_policy_in_the_same_run(
    gate: Callable[..., Gate], read_run: ReadRun, read_runs: ReadRuns
) -> None:
    checks = gate({"payments"})
    seen: list[str] = []

    def approve(error: PolicyViolationError) -> ApprovalDecision:
        seen.append(error.run_id)
        return ApprovalDecision(approved=True, approver="cfo")

    with WaxellContext(agent_name="payments", on_policy_block=approve) as ctx:
        assert ctx.enforce_policy is False
        ctx.record_step("transfer")
    assert seen == [ctx.run_id]  # the handler sees the run that waits
    assert checks.asked == [("payments", "pre_execution")]  # no post-execution check after approval
    run = read_run(ctx.run_id)
    assert (run["status"], run["error"]) == ("success", "")
    assert [r["run_id"] for r in read_runs()] == [ctx.run_id]
    assert _people(run) == APPROVED_ROUND
    request, turn, response = (s for s in run["spans"] if s["name"] != "big-transfers")
    assert request["attributes"]["metadata"] == APPROVAL_META
    assert (request["attributes"]["reason"], request["attributes"]["phase"]) == (
        f"Policy block: {REASON}",
        "pre_execution",
    )
    assert turn["input"] == {"prompt": f"Policy block: {REASON}"}
    assert turn["attributes"] == {
        "io.direction": "interactive",
        "io.channel": "terminal",
        "io.action": "approval",
        "operation": "wire_transfer",
    }
    metadata = response["attributes"]["metadata"]
    assert metadata["elapsed_seconds"] >= 0.0  # filled by the round (wall time since the request)
    assert {k: v for k, v in metadata.items() if k != "elapsed_seconds"} == {
        "action_type": "wire_transfer",
        "decision": "approved",
        "approver": "cfo",
    }
    assert [s["name"] for s in run["steps"]] == ["io:human_turn:approval", "transfer"]
    events = _audit(ctx.run_id)
    assert [(e, a, p) for e, a, p, _ in events] == [
        ("policy_decision", "block", "big-transfers"),
        ("approval_requested", "requested", "approval"),
        ("approval_granted", "granted", "approval"),
    ]
    assert events[1][3] == APPROVAL_META


def test_context_denied_records_the_blocked_run_and_raises(
    gate: Callable[..., Gate], read_run: ReadRun, read_runs: ReadRuns
) -> None:
    gate({"payments"})
    ran: list[str] = []
    with pytest.raises(PolicyViolationError) as caught, WaxellContext("payments", on_policy_block=auto_deny):
        ran.append("body")
    assert ran == []
    error = caught.value
    assert str(error) == f"Policy block: {REASON}"
    assert error.approval_decision == ApprovalDecision(approved=False, elapsed_seconds=0.0)
    [stored] = read_runs()
    assert stored["run_id"] == error.run_id
    run = read_run(error.run_id)
    assert (run["status"], run["error"], run["error_type"], run["result"]) == (
        "blocked",
        f"Policy violation: {REASON}",
        "PolicyViolationError",
        {"blocked_by": REASON},
    )
    assert _people(run) == [
        ("policy", "big-transfers", "block"),
        ("policy", "approval:wire_transfer", "approval_requested"),
        ("io", "human_turn:approval", "denied"),
        ("policy", "approval:wire_transfer", "approval_denied"),
    ]
    assert [e for e, *_ in _audit(error.run_id)] == [
        "policy_decision",
        "approval_requested",
        "approval_denied",
    ]


def test_context_timeout_is_recorded_as_such(gate: Callable[..., Gate], read_run: ReadRun) -> None:
    gate({"payments"})
    with (
        pytest.raises(PolicyViolationError) as caught,
        WaxellContext(
            agent_name="payments",
            on_policy_block=lambda e: ApprovalDecision(approved=False, timed_out=True, elapsed_seconds=300.0),
        ),
    ):
        pass
    run = read_run(caught.value.run_id)
    assert run["status"] == "blocked"
    assert _people(run)[2:] == [
        ("io", "human_turn:approval", "timeout"),
        ("policy", "approval:wire_transfer", "approval_timeout"),
    ]
    response = run["spans"][-1]["attributes"]
    assert response["metadata"] == {
        "action_type": "wire_transfer",
        "decision": "timeout",
        "elapsed_seconds": 300.0,
    }


def test_a_raising_handler_propagates_and_the_run_is_blocked(
    gate: Callable[..., Gate], read_runs: ReadRuns, read_run: ReadRun
) -> None:
    gate({"payments"})

    def broken(error: PolicyViolationError) -> ApprovalDecision:
        raise RuntimeError("approval service down")

    with (
        pytest.raises(RuntimeError, match="approval service down"),
        WaxellContext(agent_name="payments", on_policy_block=broken),
    ):
        pytest.fail("the body must not run")
    [stored] = read_runs()
    run = read_run(stored["run_id"])
    assert (run["status"], run["result"]) == ("blocked", {"blocked_by": REASON})
    # the request and the turn (response "error") are recorded; no response: nobody answered
    assert _people(run) == [
        ("policy", "big-transfers", "block"),
        ("policy", "approval:wire_transfer", "approval_requested"),
        ("io", "human_turn:approval", "error"),
    ]


def test_a_non_decision_answer_is_read_as_a_bool(gate: Callable[..., Gate], read_run: ReadRun) -> None:
    gate({"payments"})
    with WaxellContext(agent_name="payments", on_policy_block=lambda e: "yes") as ctx:
        pass
    assert _people(read_run(ctx.run_id))[-1] == ("policy", "approval:wire_transfer", "approval_granted")


def test_async_handler_in_async_and_sync_contexts(gate: Callable[..., Gate], read_run: ReadRun) -> None:
    gate({"payments"})

    async def approve(error: PolicyViolationError) -> ApprovalDecision:
        await asyncio.sleep(0)
        return ApprovalDecision(approved=True, approver="async-cfo")

    async def in_async() -> str:
        async with WaxellContext(agent_name="payments", on_policy_block=approve) as ctx:
            assert ctx.enforce_policy is False
        return ctx.run_id

    async_run = read_run(asyncio.run(in_async()))
    with WaxellContext(agent_name="payments", on_policy_block=approve) as ctx:  # no loop: a loop of its own
        pass
    sync_run = read_run(ctx.run_id)

    async def sync_context_inside_a_loop() -> str:
        with WaxellContext(agent_name="payments", on_policy_block=approve) as inner:  # a helper thread
            pass
        return inner.run_id

    in_loop_run = read_run(asyncio.run(sync_context_inside_a_loop()))
    for run in (async_run, sync_run, in_loop_run):
        assert run["status"] == "success"
        assert _people(run) == APPROVED_ROUND
        assert run["spans"][-1]["attributes"]["approval.approver"] == "async-cfo"


def test_nested_contexts_inherit_the_handler_explicit_beats_parent_beats_init(
    gate: Callable[..., Gate], read_runs: ReadRuns
) -> None:
    gate({"child", "grandchild", "own"})
    asked: list[str] = []

    def by(name: str, answer: bool) -> Callable[[PolicyViolationError], bool]:
        def handler(error: PolicyViolationError) -> bool:
            asked.append(f"{name}:{error.agent_name}")
            return answer

        return handler

    set_default_handler(by("init", False))
    with WaxellContext(agent_name="parent", on_policy_block=by("parent", True)):
        # the child inherits the parent's handler, the grandchild the parent's through the child
        with WaxellContext(agent_name="child"), WaxellContext(agent_name="grandchild"):
            pass
        with WaxellContext(agent_name="own", on_policy_block=by("own", True)):
            pass
    with pytest.raises(PolicyViolationError), WaxellContext(agent_name="child"):  # init()'s default denies
        pass
    assert asked == ["parent:child", "parent:grandchild", "own:own", "init:child"]
    statuses = sorted((r["agent_name"], r["status"]) for r in read_runs())
    assert statuses == [
        ("child", "blocked"),
        ("child", "success"),
        ("grandchild", "success"),
        ("own", "success"),
        ("parent", "success"),
    ]


def test_without_a_handler_a_refused_run_is_not_a_run(gate: Callable[..., Gate], read_runs: ReadRuns) -> None:
    gate({"payments"})
    with pytest.raises(PolicyViolationError) as caught, WaxellContext(agent_name="payments"):
        pass
    assert caught.value.approval_decision is None
    assert read_runs() == []


# -- @observe(on_policy_block=...) --------------------------------------------------------------------


def test_observe_entry_block_approved_runs_again_without_policy(
    gate: Callable[..., Gate], read_runs: ReadRuns, read_run: ReadRun
) -> None:
    checks = gate({"transfer"})
    calls: list[int] = []

    @observe(on_policy_block=auto_approve)
    def transfer(amount: int, waxell_ctx: Any = None) -> str:
        calls.append(amount)
        assert waxell_ctx is not None and waxell_ctx.enforce_policy is False
        return f"sent {amount}"

    assert transfer(5) == "sent 5"
    assert calls == [5]  # the body ran once: in the retry
    assert checks.asked == [("transfer", "pre_execution")]  # the retry was not checked
    runs = sorted((r["status"], r["run_id"]) for r in read_runs())
    assert [status for status, _ in runs] == ["blocked", "success"]
    blocked, retried = (read_run(run_id) for _, run_id in runs)
    assert _people(blocked) == [
        ("policy", "big-transfers", "block"),
        ("policy", "approval:wire_transfer", "approval_requested"),
        ("io", "human_turn:approval", "approved"),
        ("policy", "approval:wire_transfer", "approval_granted"),
    ]
    assert (blocked["result"], retried["result"]) == ({"blocked_by": REASON}, {"output": "sent 5"})
    assert _people(retried) == []


def test_observe_entry_block_denied_reraises(gate: Callable[..., Gate], read_runs: ReadRuns) -> None:
    gate({"transfer"})

    @observe(on_policy_block=auto_deny)
    def transfer() -> str:
        pytest.fail("the body must not run")

    with pytest.raises(PolicyViolationError, match=re.escape(REASON)):
        transfer()
    assert [r["status"] for r in read_runs()] == ["blocked"]


def test_observe_mid_run_block_is_asked_on_the_open_run_then_retried(
    gate: Callable[..., Gate], read_runs: ReadRuns, read_run: ReadRun
) -> None:
    gate({"agent"}, phase="mid_execution", times=1)
    calls: list[str] = []

    @observe(mid_execution_governance=True)
    def agent(waxell_ctx: Any = None) -> str:
        calls.append(waxell_ctx.run_id)
        waxell_ctx.record_step("work")
        return "done"

    assert agent(on_policy_block=auto_approve) == "done"  # per call
    assert len(calls) == 2
    first, second = read_run(calls[0]), read_run(calls[1])
    assert (first["status"], second["status"]) == ("blocked", "success")
    assert _people(first) == [
        ("policy", "big-transfers", "block"),
        ("policy", "approval:wire_transfer", "approval_requested"),
        ("io", "human_turn:approval", "approved"),
        ("policy", "approval:wire_transfer", "approval_granted"),
    ]
    assert first["spans"][1]["attributes"]["phase"] == "mid_execution"
    assert len(read_runs()) == 2


def test_observe_handler_order_per_call_then_decorator_then_init(
    gate: Callable[..., Gate], read_runs: ReadRuns
) -> None:
    gate({"transfer"})
    asked: list[str] = []

    def by(name: str, answer: bool) -> Callable[[PolicyViolationError], bool]:
        def handler(error: PolicyViolationError) -> bool:
            asked.append(name)
            return answer

        return handler

    set_default_handler(by("init", False))

    @observe(agent_name="transfer", on_policy_block=by("decorator", False))
    def with_a_handler() -> str:
        return "sent"

    @observe(agent_name="transfer")
    def without() -> str:
        return "sent"

    assert with_a_handler(on_policy_block=by("per-call", True)) == "sent"
    with pytest.raises(PolicyViolationError, match=re.escape(REASON)):
        with_a_handler()
    with pytest.raises(PolicyViolationError, match=re.escape(REASON)):
        without()
    assert asked == ["per-call", "decorator", "init"]
    assert sorted(r["status"] for r in read_runs()) == ["blocked", "blocked", "blocked", "success"]


def test_observe_post_run_block_is_asked_then_the_function_runs_again(
    gate: Callable[..., Gate], read_runs: ReadRuns, read_run: ReadRun
) -> None:
    checks = gate({"writer"}, phase="post_execution", times=1)
    contexts: list[Any] = []

    @observe(agent_name="writer", on_policy_block=auto_approve)
    def writer(topic: str, waxell_ctx: Any = None) -> str:
        contexts.append(waxell_ctx)
        return f"essay on {topic}"

    assert writer("tea") == "essay on tea"
    assert [c.enforce_policy for c in contexts] == [True, False]  # the retry is not checked again
    assert contexts[0] is not contexts[1]
    assert checks.asked == [("writer", "pre_execution"), ("writer", "post_execution")]
    first, second = (read_run(c.run_id) for c in contexts)
    assert (first["status"], second["status"]) == ("blocked", "success")
    assert _people(first) == APPROVED_ROUND
    assert first["spans"][1]["attributes"]["phase"] == "post_execution"
    assert len(read_runs()) == 2


def test_observe_async_post_run_block_with_init_handler_and_a_denial(
    gate: Callable[..., Gate], read_runs: ReadRuns, read_run: ReadRun
) -> None:
    gate({"writer"}, phase="post_execution", times=1)
    set_default_handler(auto_approve)  # init()'s handler: asked at completion too
    run_ids: list[str] = []

    @observe(agent_name="writer")
    async def writer(waxell_ctx: Any = None) -> str:
        run_ids.append(waxell_ctx.run_id)
        return "draft"

    assert asyncio.run(writer()) == "draft"
    assert len(run_ids) == 2
    assert _people(read_run(run_ids[0]))[1:] == [
        ("policy", "approval:wire_transfer", "approval_requested"),
        ("io", "human_turn:approval", "approved"),
        ("policy", "approval:wire_transfer", "approval_granted"),
    ]
    assert read_run(run_ids[0])["spans"][3]["attributes"]["approval.approver"] == "auto_approve"

    gate({"editor"}, phase="post_execution", times=1)

    @observe(agent_name="editor", on_policy_block=auto_deny)
    async def editor() -> str:
        return "edited"

    with pytest.raises(PolicyViolationError, match=re.escape(REASON)) as refused:
        asyncio.run(editor())
    assert refused.value.approval_decision == ApprovalDecision(approved=False, elapsed_seconds=0.0)
    [denied] = [r for r in read_runs() if r["agent_name"] == "editor"]
    assert (denied["status"], denied["error"]) == ("blocked", REASON)
    assert _people(read_run(denied["run_id"]))[-1] == ("policy", "approval:wire_transfer", "approval_denied")


def test_observe_async_function_and_handler(gate: Callable[..., Gate], read_runs: ReadRuns) -> None:
    gate({"agent"})

    async def approve(error: PolicyViolationError) -> ApprovalDecision:
        await asyncio.sleep(0)
        return ApprovalDecision(approved=True, approver="bot")

    @observe(on_policy_block=approve)
    async def agent() -> str:
        return "ok"

    assert asyncio.run(agent()) == "ok"
    assert sorted(r["status"] for r in read_runs()) == ["blocked", "success"]


def test_a_nested_denial_is_not_asked_again_by_the_outer_decorator(
    gate: Callable[..., Gate], read_runs: ReadRuns
) -> None:
    gate({"inner"})
    asked: list[str] = []

    def deny(error: PolicyViolationError) -> bool:
        asked.append(error.agent_name)
        return False

    @observe(on_policy_block=deny)
    def outer() -> None:
        with WaxellContext(agent_name="inner"):  # inherits the decorator's handler: asked here, once
            pass

    with pytest.raises(PolicyViolationError):
        outer()
    assert asked == ["inner"]
    assert sorted((r["agent_name"], r["status"]) for r in read_runs()) == [
        ("inner", "blocked"),
        ("outer", "blocked"),  # a policy error ended it too
    ]


# -- handle_policy_block ------------------------------------------------------------------------------


def test_handle_policy_block_records_on_the_current_run(read_run: ReadRun) -> None:
    error = PolicyViolationError("Policy block: send email?", _block("mid_execution"))
    with WaxellContext(agent_name="mailer", enforce_policy=False) as ctx:
        decision = handle_policy_block_sync(lambda e: ApprovalDecision(approved=True, approver="me"), error)
        later = asyncio.run(handle_policy_block(auto_deny, error))
    assert (decision.approved, decision.approver) == (True, "me")
    assert decision.elapsed_seconds is not None and decision.elapsed_seconds >= 0.0
    assert later == ApprovalDecision(approved=False, elapsed_seconds=0.0)
    assert [a for _, _, a in _people(read_run(ctx.run_id))] == [
        "approval_requested",
        "approved",
        "approval_granted",
        "approval_requested",
        "denied",
        "approval_denied",
    ]


def test_handle_policy_block_outside_a_run_just_asks() -> None:
    assert handle_policy_block_sync(lambda e: 1, PolicyViolationError("x")).approved is True
    assert asyncio.run(handle_policy_block(lambda e: 0, PolicyViolationError("x"))).approved is False


def test_handle_policy_block_sync_refuses_async_handlers() -> None:
    async def approve(error: PolicyViolationError) -> bool:
        return True

    with pytest.raises(TypeError, match="cannot call an async handler"):
        handle_policy_block_sync(approve, PolicyViolationError("x"))
    with pytest.raises(TypeError, match="must be callable"):
        handle_policy_block_sync("yes", PolicyViolationError("x"))  # type: ignore[arg-type]


def test_context_rejects_a_handler_that_is_not_callable() -> None:
    with pytest.raises(ValueError, match="on_policy_block must be callable or None, got str"):
        WaxellContext(agent_name="a", on_policy_block="yes")
