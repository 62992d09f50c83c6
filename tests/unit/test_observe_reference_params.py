"""``@observe`` parameters of the reference SDK (issue 14, §5.2): ``end_user_id``, ``auto_grounding``,
``on_policy_block`` and the call-time overrides ``end_user_id``, ``inputs``, ``metadata``,
``workflow_name``, ``on_policy_block``. Read back through the store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import waxell_observe
from waxell_observe import ApprovalDecision, observe
from waxell_observe.errors import PolicyViolationError
from waxell_observe.governance.results import PolicyCheckResult
from waxell_observe.plugins import hookimpl
from waxell_observe.policy_block import set_default_handler

ReadRun = Callable[[str], dict[str, Any]]
ReadRuns = Callable[..., list[dict[str, Any]]]


class BlockOnEntry:
    """Blocks every run on entry (pre-execution); remembers the agents it was asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    @hookimpl
    def on_policy_check(self, run: Any, phase: str, surface: str) -> PolicyCheckResult | None:
        if phase != "pre_execution":
            return None
        self.asked.append(run.agent_name)
        return PolicyCheckResult("block", reason="needs approval")


@pytest.fixture(autouse=True)
def _no_default_handler() -> Iterator[None]:
    yield
    set_default_handler(None)


def _runs_by_status(read_runs: ReadRuns, read_run: ReadRun) -> list[tuple[str, dict[str, Any], Any]]:
    return sorted(
        (
            (run["status"], run["metadata"], run["result"])
            for run in (read_run(r["run_id"]) for r in read_runs())
        ),
        key=repr,
    )


def test_end_user_id_becomes_metadata_tenant_sub_user_id(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe(end_user_id="eu-1", metadata={"plan": "pro"})
    def agent(q: str) -> str:
        return q.upper()

    agent("a")
    agent("b", end_user_id="eu-2")  # per call
    agent("c", metadata={"tenant_sub_user_id": "kept"}, end_user_id="eu-3")  # metadata wins (setdefault)
    got = sorted((r["inputs"]["q"], r["metadata"]) for r in (read_run(x["run_id"]) for x in read_runs()))
    assert got == [
        ("a", {"plan": "pro", "tenant_sub_user_id": "eu-1"}),
        ("b", {"plan": "pro", "tenant_sub_user_id": "eu-2"}),
        ("c", {"tenant_sub_user_id": "kept"}),
    ]


def test_call_time_inputs_metadata_workflow_and_auto_grounding(read_run: ReadRun) -> None:
    @observe(workflow_name="wf-default", auto_grounding=True)
    def agent(q: str, waxell_ctx: Any = None) -> str:
        return waxell_ctx.run_id  # type: ignore[no-any-return]

    run_id = agent(
        "hello", inputs={"query": "given"}, metadata={"k": "v"}, workflow_name="wf-call", auto_grounding=False
    )
    run = read_run(run_id)
    assert (run["workflow_name"], run["inputs"], run["metadata"]) == (
        "wf-call",
        {"query": "given"},
        {"k": "v"},
    )
    default_id = agent("again")
    assert read_run(default_id)["workflow_name"] == "wf-default"
    assert read_run(default_id)["inputs"] == {"q": "again"}


def test_a_declared_parameter_receives_its_value_instead(read_run: ReadRun) -> None:
    @observe
    def agent(metadata: dict[str, Any], waxell_ctx: Any = None) -> str:
        assert metadata == {"mine": True}
        return waxell_ctx.run_id  # type: ignore[no-any-return]

    run = read_run(agent(metadata={"mine": True}))
    assert run["metadata"] == {}
    assert run["inputs"] == {"metadata": {"mine": True}}


def test_on_policy_block_approved_runs_the_function_again_without_policy(
    register_plugin: Callable[[object], object], read_runs: ReadRuns, read_run: ReadRun
) -> None:
    policy = BlockOnEntry()
    register_plugin(policy)
    seen: list[str] = []
    calls: list[str] = []

    def approve(error: PolicyViolationError) -> ApprovalDecision:
        seen.append(str(error))
        return ApprovalDecision(approved=True, approver="ops")

    @observe(on_policy_block=approve)
    def transfer(amount: int) -> str:
        calls.append("ran")
        return f"sent {amount}"

    assert transfer(5) == "sent 5"
    assert seen == ["Policy block: needs approval"] and calls == ["ran"]
    assert policy.asked == ["transfer"]  # the second run skipped the policy check
    # with a handler the refused run is recorded (blocked, with its approval round), then the retry
    assert sorted((s, r) for s, _, r in _runs_by_status(read_runs, read_run)) == [
        ("blocked", {"blocked_by": "needs approval"}),
        ("success", {"output": "sent 5"}),
    ]


def test_on_policy_block_denied_reraises_and_per_call_beats_decorator_beats_init(
    register_plugin: Callable[[object], object], read_runs: ReadRuns, read_run: ReadRun
) -> None:
    register_plugin(BlockOnEntry())
    asked: list[str] = []
    set_default_handler(lambda error: asked.append("init") or True)

    @observe(on_policy_block=lambda error: asked.append("decorator") or False)
    def guarded() -> str:
        return "done"

    with pytest.raises(PolicyViolationError, match="needs approval"):
        guarded()
    assert guarded(on_policy_block=lambda error: asked.append("call") or True) == "done"

    @observe
    def plain() -> str:
        return "plain"

    assert plain() == "plain"  # init's default approved at the context's entry: the run went on
    assert asked == ["decorator", "call", "init"]
    statuses = sorted(status for status, _, _ in _runs_by_status(read_runs, read_run))
    # denied (blocked), approved per call (blocked + its retry), approved by init's default (one run)
    assert statuses == ["blocked", "blocked", "success", "success"]


def test_on_policy_block_async_handler_and_async_function(
    register_plugin: Callable[[object], object], read_runs: ReadRuns, read_run: ReadRun
) -> None:
    register_plugin(BlockOnEntry())

    async def approve(error: PolicyViolationError) -> ApprovalDecision:
        await asyncio.sleep(0)
        return ApprovalDecision(approved=True)

    @observe(on_policy_block=approve)
    async def agent(waxell_ctx: Any = None) -> str:
        return "ok"

    assert asyncio.run(agent()) == "ok"
    assert sorted((s, r) for s, _, r in _runs_by_status(read_runs, read_run)) == [
        ("blocked", {"blocked_by": "needs approval"}),
        ("success", {"output": "ok"}),
    ]

    @observe(on_policy_block=approve)
    def sync_agent() -> str:
        return "sync ok"

    assert sync_agent() == "sync ok"  # an async handler from sync code (no running loop)


def test_observe_rejects_bad_reference_params() -> None:
    with pytest.raises(ValueError, match="on_policy_block must be callable"):
        observe(on_policy_block="approve")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="end_user_id must be a string"):
        observe(end_user_id=3)  # type: ignore[arg-type]
    assert waxell_observe.waxell_agent is observe
