"""Issue 12, "how it will be checked": a program written for the reference SDK (waxell-observe 0.1.10)
that uses approvals, surface gates, human turns and memory — only names and parameters of
``reference-api.md`` §1.5, §1.6, §2.5 — runs unchanged in its own process against our real server
(``waxell-observe serve``), with policies the server holds. What it did is read back through the read
API: the refused runs, the approved re-runs, the approval rounds, the gate decisions, the human turns and
pause, and the memory the server kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store

PROGRAM = textwrap.dedent(
    """
    import asyncio
    import json
    import sys

    import waxell_observe as waxell
    from waxell_observe import ApprovalDecision, PolicyViolationError, WaxellContext

    SUFFIX = sys.argv[1]
    OPS, REFUND = "ops-" + SUFFIX, "refund-" + SUFFIX
    EMBEDDING = [0.25] * 1536
    out = {}
    asked = []
    ran = []

    waxell.init(agent_name=OPS, workflow_name="ops", instrument=[], on_policy_block=waxell.auto_deny)


    def lead(error):
        info = waxell.extract_block_metadata(error)
        asked.append([info["reason"], info["action_type"], info["approvers"], info["timeout_minutes"]])
        return ApprovalDecision(approved=True, approver="lead")


    async def async_lead(error):
        await asyncio.sleep(0)
        return ApprovalDecision(approved=True, approver="async-lead", elapsed_seconds=1.5)


    @waxell.observe(agent_name=REFUND, workflow_name="refunds", on_policy_block=lead)
    def refund(amount, waxell_ctx=None):
        ran.append(amount)
        return {"refunded": amount, "run_id": waxell_ctx.run_id}


    @waxell.waxell_agent(agent_name=REFUND, workflow_name="refunds")
    def refund_with_the_default(amount):
        ran.append(amount)
        return {"refunded": amount}


    # approvals: decorator handler, the init() default, a per-call handler
    out["approved"] = refund(700)
    try:
        refund_with_the_default(5)
    except PolicyViolationError as error:
        out["denied"] = str(error)
    out["per_call"] = refund_with_the_default(6, on_policy_block=waxell.auto_approve)


    # a context: its own async handler; a nested context inherits its parent's handler
    async def in_a_context():
        async with WaxellContext(
            agent_name=REFUND, workflow_name="refunds", on_policy_block=async_lead
        ) as ctx:
            ctx.set_result({"ok": True})
            return ctx.run_id


    out["async_context"] = asyncio.run(in_a_context())


    # an approval policy at a tool: the refusal names who approves and for how long
    @waxell.observe(agent_name="pay-" + SUFFIX, workflow_name="payments", on_policy_block=lead)
    def pay(amount):
        waxell.gate_tool("wire_money", {"amount": amount})
        ran.append(amount)
        return "paid"


    out["paid"] = pay(12)
    with WaxellContext(agent_name=OPS, workflow_name="ops", on_policy_block=lead) as outer:
        with WaxellContext(agent_name=REFUND, workflow_name="refunds") as inner:
            out["nested"] = inner.run_id
        out["outer"] = outer.run_id


    # gates, feedback, stops, people and memory in one run
    @waxell.observe(agent_name=OPS, workflow_name="ops")
    def maintain(waxell_ctx=None):
        ctx = waxell_ctx
        seen = {"run_id": ctx.run_id}
        seen["search_args"] = waxell.gate_tool("search", {"q": "tea"})
        seen["text_args"] = waxell.gate_tool("search", "tea")
        seen["shell_args"] = waxell.gate_tool("shell", None)  # a warning, not a refusal
        seen["feedback"] = ctx.take_feedback()
        waxell.gate_tool("shell", {"cmd": "ls"})
        seen["feedback_text"] = ctx.feedback_text()
        outcome = waxell.gate_memory_delete(ids=["m1"], query="old", store="scratch")
        seen["delete"] = [outcome.action, outcome.surface, outcome.is_block, outcome.should_act]
        try:
            waxell.gate_memory_delete(ids=["m9"], store="prod-facts")
        except PolicyViolationError as error:
            seen["protected"] = str(error)
        ctx.check_tool_before_execution("search")
        ctx.record_pending_action(kind="tool_call", tool="search", args={"q": "tea"})
        ctx.record_network_request(url="https://api.good.example/v1")
        try:
            ctx.record_network_request(url="https://cdn.evil.example/x")
        except PolicyViolationError as error:
            seen["network"] = str(error)
        ctx.record_delegation(delegate="helper", depth=1)
        ctx.record_code_execution(language="python", code="print(2)", execution_time=0.25, output="2")
        try:
            ctx.record_code_execution(language="bash", code="rm -rf /tmp/x")
        except PolicyViolationError as error:
            seen["code"] = str(error)

        waxell.approval_request("wire_transfer", approvers=["cfo"], timeout_minutes=5, reason="over limit")
        waxell.approval_response("wire_transfer", decision="approved", approver="cfo", elapsed_seconds=2.0)
        with waxell.human_turn(prompt="Which account?", channel="slack", action="clarify") as turn:
            turn.set_response("savings")
        waxell.human_interaction(prompt="Confirm?", response="yes", action="confirm", elapsed_seconds=0.75)
        with waxell.pause("awaiting_user", ticket="T-1"):
            pass
        waxell.mark_resumed(from_run_id="run-before", payload={"answer": "yes"})
        seen["typed"] = waxell.input("Proceed? ")

        ctx.set_memory_state(memory_item_count=1, cross_session_loaded=True)
        waxell.remember_episodic("prefs", {"drink": "tea"}, max_items=3)
        waxell.remember_semantic("facts", "user is vegan", fact_key="diet", content_embedding=EMBEDDING)
        waxell.recall("drinks", results=[{"drink": "tea"}], top_score=0.9, store="server")

        try:
            waxell.gate_tool("drop_table", {"table": "users"})
        except PolicyViolationError as error:
            seen["drop_table"] = str(error)
        seen["should_stop"] = ctx.should_stop()
        seen["stop_reason"] = ctx.stop_reason
        return seen


    out["maintain"] = maintain()
    out["asked"] = asked
    out["ran"] = ran
    out["outside"] = [waxell.gate_tool("search", {"q": 1}), waxell.get_context() is None]
    waxell.flush_sync()
    print()  # after input()'s prompt
    print(json.dumps(out))
    """
)

POLICIES = """
policies:
  - name: refund-freeze-{suffix}
    category: kill-switch
    scope: {{agents: [refund-{suffix}]}}
    rules: {{killed: true}}
  - name: no-drop-{suffix}
    category: tool-allowlist
    scope: {{agents: [ops-{suffix}]}}
    rules: {{blocked_tools: [drop_table]}}
  - name: shell-warning-{suffix}
    category: safety
    scope: {{agents: [ops-{suffix}]}}
    rules: {{blocked_tools: [shell]}}
  - name: hosts-{suffix}
    category: network
    scope: {{agents: [ops-{suffix}]}}
    rules: {{blocked_domains: [evil.example]}}
  - name: keep-{suffix}
    category: memory
    scope: {{agents: [ops-{suffix}]}}
    rules: {{protected_stores: [prod-*]}}
  - name: payments-{suffix}
    category: approval
    scope: {{agents: [pay-{suffix}]}}
    rules: {{tools: [wire_*], approvers: [cfo], timeout_minutes: 30, action_type: payment}}
  - name: sandbox-{suffix}
    category: code-execution
    scope: {{agents: [ops-{suffix}]}}
    rules: {{blocked_languages: [bash]}}
"""


def _wait_for_the_manifest(server: Any, agent: str, policies: int) -> None:
    """The server reads the policies' version at most once a second: wait until it lists ours."""
    deadline = time.monotonic() + 15
    while True:
        reply = httpx.get(
            f"{server.url}/api/v1/observe/policy-manifest/", params={"agent_name": agent}, timeout=10
        )
        assert reply.status_code == 200, reply.text
        names = [p["name"] for p in reply.json()["policies"]]
        if len([n for n in names if n.endswith(agent.split("-", 1)[1])]) == policies:
            return
        assert time.monotonic() < deadline, names
        time.sleep(0.2)


def _run(server: Any, suffix: str, tmp_path: Path) -> dict[str, Any]:
    script = tmp_path / "reference_hitl_program.py"
    script.write_text(PROGRAM, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    env.update(
        WAXELL_API_URL=server.url,
        WAXELL_API_KEY="",
        WAXELL_JOURNAL_DIR=str(tmp_path / "journal"),
        WAXELL_CONFIG_FILE=str(tmp_path / "no-config"),
        WAXELL_DISABLE_PLUGINS="all",
        OPENAI_API_KEY="",
    )
    done = subprocess.run(
        [sys.executable, str(script), suffix],
        input="yes please\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _runs_of(server: Any, agent: str) -> list[dict[str, Any]]:
    listed = server.list_runs(agent_name=agent)["runs"]
    return [server.read_run(r["run_id"]) for r in sorted(listed, key=lambda r: r["started_at"])]


def _approval_events(run: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (s["attributes"]["action"], s["attributes"].get("approval.approver", ""))
        for s in run["spans"]
        if s["kind"] == "policy" and s["attributes"].get("category") == "approval"
    ]


def test_a_reference_program_with_approvals_gates_and_memory_runs_unchanged(
    shared_server: Any, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    ops, refund = f"ops-{suffix}", f"refund-{suffix}"
    store = get_store(shared_server.db if "://" in shared_server.db else f"sqlite:///{shared_server.db}")
    add_policies(store, load_policies(POLICIES.format(suffix=suffix)))
    _wait_for_the_manifest(shared_server, ops, 5)
    _wait_for_the_manifest(shared_server, refund, 1)
    _wait_for_the_manifest(shared_server, f"pay-{suffix}", 1)

    out = _run(shared_server, suffix, tmp_path)

    # -- approvals ---------------------------------------------------------------------------------------
    reason = f"Kill switch engaged for policy 'refund-freeze-{suffix}'"
    assert out["denied"] == f"Policy block: {reason}"  # the init() default (auto_deny) re-raised
    assert out["ran"] == [700, 6, 12]  # each approved function ran once, after its approval; the denied never
    assert out["paid"] == "paid"
    assert out["approved"]["refunded"] == 700
    assert out["per_call"] == {"refunded": 6}
    assert out["asked"] == [
        [f"Policy block: {reason}", "unknown", [], None],  # the decorator's handler
        ["Tool 'wire_money' needs approval", "payment", ["cfo"], 30.0],  # the approval policy's metadata
        [f"Policy block: {reason}", "unknown", [], None],  # a nested context, its parent's handler
    ]
    runs = _runs_of(shared_server, refund)
    # the decorator: refused (the approval round on it) + the re-run without the policy check; the
    # init() default: refused; a per-call handler: refused + re-run; a context approved at entry goes on in
    # the same run (its own async handler; a nested one with its parent's handler)
    refused = f"Policy violation: {reason}"
    assert [(r["status"], r["error"], _approval_events(r)) for r in runs] == [
        ("blocked", refused, [("approval_requested", ""), ("approval_granted", "lead")]),
        ("success", "", []),
        ("blocked", refused, [("approval_requested", ""), ("approval_denied", "")]),
        ("blocked", refused, [("approval_requested", ""), ("approval_granted", "auto_approve")]),
        ("success", "", []),
        ("success", "", [("approval_requested", ""), ("approval_granted", "async-lead")]),
        ("success", "", [("approval_requested", ""), ("approval_granted", "lead")]),
    ]
    assert [runs[1]["run_id"], runs[5]["run_id"], runs[6]["run_id"]] == [
        out["approved"]["run_id"],
        out["async_context"],
        out["nested"],
    ]

    # -- gates, feedback and stops --------------------------------------------------------------------------
    seen = out["maintain"]
    assert seen["search_args"] == {"q": "tea"} and seen["text_args"] == "tea" and seen["shell_args"] is None
    assert seen["feedback"] == [
        {
            "surface": "tool.before",
            "reason": "Tool 'shell' is blocked",
            "policy": f"shell-warning-{suffix}",
            "category": "safety",
        }
    ]
    assert seen["feedback_text"] == (
        "Governance feedback on your last step — adjust and continue:\n"
        f"- Tool 'shell' is blocked (policy: shell-warning-{suffix})"
    )
    assert seen["delete"] == ["allow", "memory.delete", False, False]
    assert seen["protected"] == "Memory store 'prod-facts' is protected"
    assert seen["network"] == "Host 'cdn.evil.example' is blocked (matches 'evil.example')"
    assert seen["code"] == "Language 'bash' is blocked"
    assert seen["drop_table"] == "Tool 'drop_table' is blocked"  # asked on its merits after the refusals
    assert (seen["should_stop"], seen["stop_reason"]) == (True, seen["protected"])  # the first block
    assert seen["typed"] == "yes please"
    assert out["outside"] == [{"q": 1}, True]

    run = shared_server.read_run(seen["run_id"])
    assert run["status"] == "blocked"
    gates = [
        ((s["attributes"].get("metadata") or {}).get("surface", ""), s["name"], s["attributes"]["action"])
        for s in run["spans"]
        if s["kind"] == "policy" and s["attributes"].get("category") != "approval"
    ]
    assert gates == [
        ("tool.before", f"shell-warning-{suffix}", "warn"),
        ("tool.before", f"shell-warning-{suffix}", "warn"),
        ("memory.delete", f"keep-{suffix}", "block"),
        ("network.before", f"hosts-{suffix}", "block"),
        ("code.exec", f"sandbox-{suffix}", "block"),
        ("tool.before", f"no-drop-{suffix}", "block"),
    ]
    assert _approval_events(run) == [("approval_requested", ""), ("approval_granted", "cfo")]

    # -- people --------------------------------------------------------------------------------------------
    spans = {s["name"]: s for s in run["spans"]}
    clarify, confirm, typed = (
        spans["human_turn:clarify"],
        spans["human_turn:confirm"],
        spans["human_turn:input"],
    )
    assert (clarify["kind"], clarify["input"], clarify["output"], clarify["attributes"]) == (
        "io",
        {"prompt": "Which account?"},
        {"response": "savings"},
        {"io.direction": "interactive", "io.channel": "slack", "io.action": "clarify"},
    )
    assert (confirm["duration_ms"], confirm["output"]) == (750.0, {"response": "yes"})
    assert (typed["input"], typed["output"]) == ({"prompt": "Proceed?"}, {"response": "yes please"})
    assert spans["paused"]["attributes"] == {
        "_phase": "pause_marker",
        "pause_reason": "awaiting_user",
        "pause.ticket": "T-1",
    }
    assert (spans["resumed"]["input"], spans["resumed"]["output"]) == (
        {"from_run_id": "run-before"},
        {"payload": "{'answer': 'yes'}"},
    )
    assert run["paused_ms"] == spans["paused"]["duration_ms"]
    assert run["active_ms"] == pytest.approx(run["duration_ms"] - run["paused_ms"], abs=0.002)

    # -- memory --------------------------------------------------------------------------------------------
    reply = httpx.get(f"{shared_server.url}/api/v1/read/runs/{seen['run_id']}/memory/", timeout=10)
    assert reply.status_code == 200, reply.text
    memory = reply.json()
    assert memory["state"] == {"cross_session_loaded": True, "memory_item_count": 1}
    assert [(w["memory_type"], w["slot_name"]) for w in memory["writes"]] == [
        ("episodic", "prefs"),
        ("semantic", "facts"),
    ]
    assert [(r["query"], r["hit"], r["results_count"]) for r in memory["recalls"]] == [("drinks", True, 1)]
    assert [(m["tier"], m["slot_name"], m["data"], m["content"]) for m in memory["stored"]] == [
        ("episodic", "prefs", {"drink": "tea"}, ""),
        ("semantic", "facts", None, "user is vegan"),
    ]
    assert {r["run_id"] for r in _runs_of(shared_server, ops)} == {seen["run_id"], out["outer"]}
