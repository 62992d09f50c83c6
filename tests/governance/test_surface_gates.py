"""The surface gates in embedded mode: each surface fires through its real entry point (the recorders,
the top-level gates, the decorators), with an independent policy in the test's store; what a gate does
(block, warn, redact) is read back from the run as stored.

The OpenAI client paths (``llm.before`` before the request leaves, the tool calls of a response) are in
``tests/integrations/openai/test_openai_gates.py``; the control-plane paths (manifest cache, fail-open and
fail-closed, the batched surface call) in ``tests/remote/test_surface_gates_remote.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import waxell_observe
from waxell_observe import (
    ApprovalDecision,
    WaxellContext,
    auto_approve,
    auto_deny,
    extract_block_metadata,
    gate_memory_delete,
    gate_tool,
    tool,
)
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating import GateOutcome, evaluate_surface, forget
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.initialization import _reset_for_tests, init
from waxell_observe.instrumentation import gate_mcp_call
from waxell_observe.store import get_store
from waxell_observe.store.aggregates import list_audit
from waxell_observe.vocabulary.gates import GATE_TIME_METADATA_KEY

Reader = Callable[[str], dict[str, Any]]


@pytest.fixture(autouse=True)
def _fresh_gates(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("WAXELL_SURFACE_GATE", "WAXELL_GATE_FAIL_CLOSED", "WAXELL_AGENT_NAME", "WAXELL_WORKFLOW"):
        monkeypatch.delenv(name, raising=False)
    forget()
    yield
    forget()


def add(text: str) -> None:
    add_policies(get_store(get_config().db_url), load_policies(text))


def gate_spans(run: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(surface, policy, action, reason) of the run's policy spans made by gates."""
    return [
        (
            s["attributes"]["metadata"]["surface"],
            s["name"],
            s["attributes"]["action"],
            s["attributes"]["reason"],
        )
        for s in run["spans"]
        if s["kind"] == "policy" and "surface" in (s["attributes"].get("metadata") or {})
    ]


# -- tool.before ----------------------------------------------------------------------------------------


def test_gate_tool_blocks_a_refused_tool_and_returns_the_arguments_of_others(read_run: Reader) -> None:
    add("policies:\n  - {name: no-rm, category: tool-allowlist, rules: {blocked_tools: [rm_rf]}}\n")
    with pytest.raises(PolicyViolationError) as refused, WaxellContext(agent_name="gate-tool") as ctx:
        assert gate_tool("ls", {"path": "/tmp"}) == {"path": "/tmp"}
        assert gate_tool("ls", "just text") == "just text"
        gate_tool("rm_rf", {"path": "/"})
    assert str(refused.value) == "Tool 'rm_rf' is blocked"
    assert refused.value.run_id == ctx.run_id
    run = read_run(ctx.run_id)
    assert run["status"] == "blocked"
    assert gate_spans(run) == [("tool.before", "no-rm", "block", "Tool 'rm_rf' is blocked")]


def test_tool_decorator_does_not_call_a_refused_tool(read_run: Reader) -> None:
    add("policies:\n  - {name: no-shell, category: tool-allowlist, rules: {blocked_tools: [shell]}}\n")
    calls: list[str] = []

    @tool(name="shell")
    def shell(command: str) -> str:
        calls.append(command)
        return "done"

    @tool(name="echo")
    def echo(text: str) -> str:
        calls.append(text)
        return text

    with WaxellContext(agent_name="gate-decorator") as ctx:
        assert echo("hi") == "hi"
        with pytest.raises(PolicyViolationError, match="Tool 'shell' is blocked"):
            shell("rm -rf /")
        assert ctx.should_stop() and ctx.stop_reason == "Tool 'shell' is blocked"
    assert calls == ["hi"]
    run = read_run(ctx.run_id)
    assert [s["name"] for s in run["spans"] if s["kind"] == "tool"] == ["echo"]
    assert run["status"] == "blocked"


def test_after_a_refusal_each_later_gate_is_asked_on_its_merits(read_run: Reader) -> None:
    """Spec §2.4: preventive gates are evaluated every time. A program that caught a refusal and goes on
    (as reference programs do) gets an allowed tool's arguments back; the run still completes blocked."""
    add("policies:\n  - {name: no-rm, category: tool-allowlist, rules: {blocked_tools: [rm_rf]}}\n")
    with WaxellContext(agent_name="gate-after-refusal") as ctx:
        with pytest.raises(PolicyViolationError, match="Tool 'rm_rf' is blocked"):
            gate_tool("rm_rf")
        assert gate_tool("ls", {"path": "/tmp"}) == {"path": "/tmp"}
        with pytest.raises(PolicyViolationError, match="Tool 'rm_rf' is blocked"):
            gate_tool("rm_rf", {"path": "/"})
        assert (ctx.should_stop(), ctx.stop_reason) == (True, "Tool 'rm_rf' is blocked")
    run = read_run(ctx.run_id)
    assert (run["status"], run["error"]) == ("blocked", "Tool 'rm_rf' is blocked")
    assert [s[:3] for s in gate_spans(run)] == [("tool.before", "no-rm", "block")] * 2


def test_with_mid_execution_governance_a_blocked_run_is_refused_at_every_gate(read_run: Reader) -> None:
    """What the reference's mid-execution flush (made before each gate) does to a blocked run."""
    add("policies:\n  - {name: no-rm, category: tool-allowlist, rules: {blocked_tools: [rm_rf]}}\n")
    with WaxellContext(agent_name="gate-mid-exec", mid_execution_governance=True) as ctx:
        with pytest.raises(PolicyViolationError, match="Tool 'rm_rf' is blocked"):
            gate_tool("rm_rf")
        with pytest.raises(PolicyViolationError, match="Tool 'rm_rf' is blocked") as again:
            gate_tool("ls")
    assert again.value.run_id == ctx.run_id
    assert [s[:3] for s in gate_spans(read_run(ctx.run_id))] == [("tool.before", "no-rm", "block")]


def test_check_tool_before_execution_and_pending_tool_calls_are_gated() -> None:
    add("policies:\n  - {name: no-wire, category: tool-allowlist, rules: {blocked_tools: [wire_money]}}\n")
    with WaxellContext(agent_name="gate-pending") as ctx:
        ctx.check_tool_before_execution("lookup")
        ctx.record_pending_action(kind="tool_call", tool="lookup", args={"q": 1})
        ctx.record_pending_action(kind="message", tool="wire_money")  # not a tool call: not gated
        with pytest.raises(PolicyViolationError, match="Tool 'wire_money' is blocked"):
            ctx.record_pending_action(kind="tool_call", tool="wire_money", args={"amount": 5})
    with (
        WaxellContext(agent_name="gate-pending-2") as ctx,
        pytest.raises(PolicyViolationError, match="Tool 'wire_money' is blocked"),
    ):
        ctx.check_tool_before_execution("wire_money")


def test_scope_tools_limits_a_policy_to_some_tools() -> None:
    add("""
policies:
  - {name: db-only, category: tool-allowlist, rules: {blocked_tools: ["*"], scope_tools: ["db_*"]}}
""")
    with WaxellContext(agent_name="gate-scope"):
        assert gate_tool("search", {"q": 1}) == {"q": 1}
        with pytest.raises(PolicyViolationError, match="db_drop"):
            gate_tool("db_drop", {"table": "users"})


# -- llm.after / step.mid -------------------------------------------------------------------------------


def test_llm_after_marks_the_run_blocked_once(read_run: Reader) -> None:
    add("policies:\n  - {name: models, category: llm, rules: {blocked_models: [gpt-bad]}}\n")
    with WaxellContext(agent_name="gate-llm-after") as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=5, tokens_out=5)
        assert not ctx.should_stop()
        ctx.record_llm_call(model="gpt-bad", tokens_in=5, tokens_out=5)  # recorded; the run is marked
        assert ctx.should_stop()
        ctx.record_llm_call(model="gpt-bad", tokens_in=1, tokens_out=1)  # not evaluated again
        with pytest.raises(PolicyViolationError, match="gpt-bad"):
            gate_tool("anything")  # a block nobody was told of is raised at the next preventive gate
        assert gate_tool("anything", {"a": 1}) == {"a": 1}  # once told, later gates answer on their merits
    run = read_run(ctx.run_id)
    assert run["status"] == "blocked" and "gpt-bad" in run["error"]
    assert [s[:3] for s in gate_spans(run)] == [("llm.after", "models", "block")]
    assert len(run["llm_calls"]) == 3


def test_step_mid_warns_into_the_feedback_queue(read_run: Reader) -> None:
    add("policies:\n  - {name: steps, category: safety, rules: {max_steps: 2}}\n")
    with WaxellContext(agent_name="gate-step") as ctx:
        ctx.record_step("one")
        assert ctx.take_feedback() == []
        ctx.record_step("two")  # position 2 reaches max_steps 2
        feedback = ctx.take_feedback()
    assert [(f["surface"], f["policy"], f["category"]) for f in feedback] == [("step.mid", "steps", "safety")]
    run = read_run(ctx.run_id)
    assert run["status"] == "success"
    assert [s[:3] for s in gate_spans(run)] == [("step.mid", "steps", "warn")]


def test_step_mid_is_not_gated_without_enforce_policy() -> None:
    add("policies:\n  - {name: steps, category: safety, rules: {max_steps: 1}}\n")
    with WaxellContext(agent_name="gate-step-off", enforce_policy=False) as ctx:
        ctx.record_step("one")
        assert ctx.take_feedback() == []


# -- tool.after / retrieval.after (detective) ----------------------------------------------------------


def test_tool_after_blocks_after_the_call_is_recorded(read_run: Reader) -> None:
    add("policies:\n  - {name: egress, category: output-egress-format, rules: {block_data_uri: true}}\n")
    with pytest.raises(PolicyViolationError), WaxellContext(agent_name="gate-tool-after") as ctx:
        ctx.record_tool_call(name="render", input={"q": 1}, output="plain text")
        ctx.record_tool_call(name="render", input={"q": 2}, output="data:image/png;base64,iVBORw0KGgo=")
    run = read_run(ctx.run_id)
    assert [s["name"] for s in run["spans"] if s["kind"] == "tool"] == ["render", "render"]
    assert [s[:3] for s in gate_spans(run)] == [("tool.after", "egress", "block")]
    assert run["status"] == "blocked"


def test_retrieval_after_warns_once_per_run(read_run: Reader) -> None:
    add("policies:\n  - {name: relevance, category: retrieval, rules: {min_relevance_score: 0.5}}\n")
    with WaxellContext(agent_name="gate-retrieval") as ctx:
        ctx.record_retrieval(query="q", documents=[{"id": "a"}], scores=[0.9])
        assert ctx.take_feedback() == []
        ctx.record_retrieval(query="q", documents=[{"id": "a"}], scores=[0.2])
        ctx.record_retrieval(query="q", documents=[{"id": "b"}], scores=[0.1])  # acted once: skipped
        feedback = ctx.take_feedback()
    assert [(f["surface"], f["policy"]) for f in feedback] == [("retrieval.after", "relevance")]
    assert [s[:3] for s in gate_spans(read_run(ctx.run_id))] == [("retrieval.after", "relevance", "warn")]


# -- memory --------------------------------------------------------------------------------------------


def test_memory_write_and_read_are_gated(read_run: Reader) -> None:
    add("policies:\n  - {name: mem, category: memory, rules: {forbidden_memory_types: [secrets, vault]}}\n")
    with WaxellContext(agent_name="gate-memory") as ctx:
        ctx.record_memory_write(memory_type="episodic", content="likes tea")
        with pytest.raises(PolicyViolationError):
            ctx.record_memory_write(memory_type="secrets", content="pin 1234")
    with WaxellContext(agent_name="gate-memory-read") as reader:
        reader.record_memory_recall(query="tea", tier="episodic", results_count=1)
        with pytest.raises(PolicyViolationError):
            reader.record_memory_recall(query="pin", tier="vault", results_count=1)
    assert [s[:3] for s in gate_spans(read_run(ctx.run_id))] == [("memory.write", "mem", "block")]
    assert [s[:3] for s in gate_spans(read_run(reader.run_id))] == [("memory.read", "mem", "block")]


def test_gate_memory_delete_with_no_policy_there_allows() -> None:
    add("policies:\n  - {name: no-rm, category: tool-allowlist, rules: {blocked_tools: [rm_rf]}}\n")
    with WaxellContext(agent_name="gate-delete"):
        outcome = gate_memory_delete(ids=["m1", "m2"], store="facts")
    assert outcome == GateOutcome(surface="memory.delete")
    assert not outcome.is_block and not outcome.should_act


def test_gate_memory_delete_refuses_a_protected_store_and_a_bulk_delete(read_run: Reader) -> None:
    add("""
policies:
  - name: keep-facts
    category: memory
    rules: {protected_stores: [prod-*], max_deletes_per_call: 2}
""")
    with WaxellContext(agent_name="gate-delete-memory") as ctx:
        allowed = gate_memory_delete(ids=["m1", "m2"], query="stale", store="scratch")
        assert (allowed.action, allowed.is_block) == ("allow", False)
        with pytest.raises(PolicyViolationError) as protected:
            gate_memory_delete(ids=["m1"], store="prod-facts")
        with pytest.raises(PolicyViolationError) as bulk:
            gate_memory_delete(ids=["a", "b", "c"], store="scratch")
    assert str(protected.value) == "Memory store 'prod-facts' is protected"
    assert str(bulk.value) == "Deleting 3 memories at once exceeds 2 (store=scratch)"
    run = read_run(ctx.run_id)
    assert run["status"] == "blocked"
    assert gate_spans(run) == [
        ("memory.delete", "keep-facts", "block", "Memory store 'prod-facts' is protected"),
        ("memory.delete", "keep-facts", "block", "Deleting 3 memories at once exceeds 2 (store=scratch)"),
    ]


def test_an_approval_policy_asks_its_approvers_before_a_run_or_a_tool(read_run: Reader) -> None:
    add("""
policies:
  - name: pay
    category: approval
    scope: {agents: [payer]}
    rules: {tools: [wire_*], approvers: [cfo], timeout_minutes: 30, action_type: payment}
  - name: deploys
    category: approval
    scope: {agents: [deployer]}
    rules: {approvers: [sre, cto]}
""")
    asked: list[dict[str, Any]] = []

    def approver(name: str) -> Callable[[PolicyViolationError], ApprovalDecision]:
        def handler(error: PolicyViolationError) -> ApprovalDecision:
            asked.append(extract_block_metadata(error))
            return ApprovalDecision(approved=True, approver=name)

        return handler

    ran: list[int] = []

    @waxell_observe.observe(agent_name="payer", on_policy_block=approver("cfo"))
    def pay(amount: int) -> str:
        assert gate_tool("lookup", {"id": 1}) == {"id": 1}  # not a tool needing approval
        gate_tool("wire_money", {"amount": amount})
        ran.append(amount)
        return "paid"

    assert pay(5) == "paid"
    assert ran == [5]  # after the approval, in the re-run
    with WaxellContext(
        agent_name="deployer", workflow_name="release", on_policy_block=approver("sre")
    ) as ctx:
        pass  # approved at entry: the run goes on
    assert asked == [
        {"reason": "Tool 'wire_money' needs approval", "action_type": "payment", "approvers": ["cfo"],
         "timeout_minutes": 30.0},
        {"reason": "Policy block: 'release' needs approval", "action_type": "release",
         "approvers": ["sre", "cto"], "timeout_minutes": None},
    ]  # fmt: skip
    run = read_run(ctx.run_id)
    assert run["status"] == "success"
    assert [(s["name"], s["attributes"]["action"]) for s in run["spans"] if s["kind"] == "policy"] == [
        ("deploys", "block"),
        ("approval:release", "approval_requested"),
        ("approval:release", "approval_granted"),
    ]


# -- network, MCP, spawn, code ------------------------------------------------------------------------------


def test_network_mcp_and_spawn_are_gated(read_run: Reader) -> None:
    add("""
policies:
  - {name: hosts, category: network, rules: {blocked_domains: [evil.example]}}
  - {name: mcp, category: mcp-server-allowlist, rules: {blocked_servers: [shady]}}
  - {name: spawn, category: delegation, rules: {blocked_delegates: [rogue-agent]}}
""")
    with WaxellContext(agent_name="gate-actions") as ctx:
        ctx.record_network_request(url="https://api.good.example/v1")
        with pytest.raises(PolicyViolationError, match=r"evil\.example"):
            ctx.record_network_request(url="https://cdn.evil.example/x")
    with WaxellContext(agent_name="gate-mcp") as mcp:
        assert gate_mcp_call("files", "read", {"path": "a"}) is not None
        with pytest.raises(PolicyViolationError, match="shady"):
            gate_mcp_call("shady", "read")
    with WaxellContext(agent_name="gate-spawn") as spawn:
        spawn.record_delegation(delegate="helper")
        with pytest.raises(PolicyViolationError, match="rogue-agent"):
            spawn.record_delegation(delegate="rogue-agent")
    assert [s[:3] for s in gate_spans(read_run(ctx.run_id))] == [("network.before", "hosts", "block")]
    assert [s[:3] for s in gate_spans(read_run(mcp.run_id))] == [("mcp.before", "mcp", "block")]
    assert [s[:3] for s in gate_spans(read_run(spawn.run_id))] == [("spawn.before", "spawn", "block")]


def test_code_exec_blocks_before_anything_is_recorded(read_run: Reader) -> None:
    add("policies:\n  - {name: code, category: code-execution, rules: {blocked_languages: [bash]}}\n")
    with WaxellContext(agent_name="gate-code") as ctx:
        ctx.record_code_execution(language="python", code="print(1)")
        with pytest.raises(PolicyViolationError, match="bash"):
            ctx.record_code_execution(language="bash", code="rm -rf /")
    run = read_run(ctx.run_id)
    assert [s["name"] for s in run["spans"] if s["kind"] == "tool"] == ["code_exec:python"]
    assert [s[:3] for s in gate_spans(run)] == [("code.exec", "code", "block")]


def test_code_review_asks_the_on_policy_block_handler(read_run: Reader) -> None:
    add("policies:\n  - {name: review, category: code-execution, rules: {require_review: true}}\n")
    with WaxellContext(agent_name="gate-review", on_policy_block=auto_approve) as approved:
        approved.record_code_execution(language="python", code="print(2)")
    with (
        WaxellContext(agent_name="gate-review-no", on_policy_block=auto_deny) as denied,
        pytest.raises(PolicyViolationError) as refused,
    ):
        denied.record_code_execution(language="python", code="import os")
    assert str(refused.value) == "Code execution denied by reviewer (python)"
    with WaxellContext(agent_name="gate-review-nobody") as nobody:  # no handler: nobody to ask
        nobody.record_code_execution(language="python", code="print(3)")
    ran = read_run(approved.run_id)
    assert [s["name"] for s in ran["spans"] if s["kind"] == "tool"] == ["code_exec:python"]
    events = [s["attributes"].get("action") for s in ran["spans"] if s["kind"] == "policy"]
    assert events == ["approval_requested", "approval_granted"]
    refused_run = read_run(denied.run_id)
    assert [s["name"] for s in refused_run["spans"] if s["kind"] == "tool"] == []
    assert [s["attributes"].get("action") for s in refused_run["spans"] if s["kind"] == "policy"] == [
        "approval_requested",
        "approval_denied",
    ]


# -- gate switch, identity, reporting, gate time -----------------------------------------------------------


def test_gates_off_and_enforce_policy_off_allow(monkeypatch: pytest.MonkeyPatch) -> None:
    add("policies:\n  - {name: no-rm, category: tool-allowlist, rules: {blocked_tools: [rm_rf]}}\n")
    with WaxellContext(agent_name="gate-off-1", enforce_policy=False):
        assert gate_tool("rm_rf", {"x": 1}) == {"x": 1}  # an approved re-run is not refused again
    monkeypatch.setenv("WAXELL_SURFACE_GATE", "off")
    with WaxellContext(agent_name="gate-off-2"):
        assert gate_tool("rm_rf") is None


def test_gate_tool_without_a_context_uses_the_process_identity() -> None:
    add("""
policies:
  - name: only-proc
    category: tool-allowlist
    scope: {agents: [proc-agent]}
    rules: {blocked_tools: [rm_rf]}
""")
    assert gate_tool("rm_rf") is None  # no identity at all: allowed (one warning)
    _reset_for_tests()
    init(agent_name="proc-agent")
    try:
        with pytest.raises(PolicyViolationError, match="rm_rf"):
            gate_tool("rm_rf")
    finally:
        _reset_for_tests()
    waxell_observe.flush_sync(timeout=30)
    with get_store(get_config().db_url).read() as conn:
        events, _ = list_audit(conn, limit=100)
    refused = [e for e in events if e["policy_name"] == "only-proc"]
    assert [(e["agent_name"], e["action"], e["metadata"]["surface"]) for e in refused] == [
        ("proc-agent", "block", "tool.before")
    ]


def test_gate_time_is_kept_on_the_stored_run(read_run: Reader) -> None:
    add("policies:\n  - {name: no-rm, category: tool-allowlist, rules: {blocked_tools: [rm_rf]}}\n")
    with WaxellContext(agent_name="gate-time") as ctx:
        for name in ("a", "b", "c"):
            gate_tool(name)
        ctx.record_network_request(url="https://x.example")  # no policy there: not counted
    gates = read_run(ctx.run_id)["metadata"][GATE_TIME_METADATA_KEY]
    assert gates["gate_calls"] == 3
    assert list(gates["surfaces"]) == ["tool.before"]
    assert gates["surfaces"]["tool.before"]["calls"] == 3
    assert gates["surfaces"]["tool.before"]["ms"] > 0
    assert gates["overhead_ms"] == gates["surfaces"]["tool.before"]["ms"]


def test_no_policies_no_gate_time(read_run: Reader) -> None:
    with WaxellContext(agent_name="gate-none") as ctx:
        gate_tool("rm_rf")
        ctx.record_tool_call(name="t", output="x")
    assert GATE_TIME_METADATA_KEY not in read_run(ctx.run_id)["metadata"]


def test_unknown_surface_and_bad_signal_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown gate surface 'tool.during'"):
        evaluate_surface("tool.during", {})
    with pytest.raises(ValueError, match="a gate signal must be a mapping"):
        evaluate_surface("tool.before", ["x"])  # type: ignore[arg-type]


# -- run.start / run.complete: the context's own checks ----------------------------------------------------


def test_run_start_and_run_complete_are_the_context_checks(read_run: Reader) -> None:
    add("""
policies:
  - {name: small-inputs, category: input-validation, rules: {max_input_size_kb: 1}}
  - {name: long-answers, category: quality, rules: {min_response_chars: 20}}
""")
    with (
        pytest.raises(PolicyViolationError),
        WaxellContext(agent_name="gate-start", inputs={"q": "x" * 2000}),
    ):
        pass
    with WaxellContext(agent_name="gate-complete") as ctx:
        ctx.set_result({"output": "short"})
    assert ctx.governance is not None and ctx.governance.action == "warn"
    phases = [s["attributes"]["phase"] for s in read_run(ctx.run_id)["spans"] if s["kind"] == "policy"]
    assert phases == ["post_execution"]


# -- run.error: the content-scanning categories decide on a failed run's error ------------------------------

RUN_ERROR_POLICIES = """
policies:
  - name: no-secrets
    category: content
    rules: {pii_detection: false, credential_detection: {enabled: true, action: block},
            prompt_injection_guard: false}
  - {name: leaks, category: safety, rules: {content_filters: ["(?i)internal host db-[0-9]+"]}}
  - {name: blobs, category: output-egress-format, rules: {block_base64: true}}
  - {name: tools, category: tool-allowlist, rules: {blocked_tools: [rm_rf]}}
"""


def test_run_error_lets_the_content_categories_decide_on_the_error(read_run: Reader) -> None:
    add(RUN_ERROR_POLICIES)
    with (
        pytest.raises(RuntimeError, match="refused the key"),
        WaxellContext(agent_name="gate-run-error") as ctx,
    ):
        raise RuntimeError("upstream refused the key sk-proj-4f9aB7cD2eF8gH1iJ6kL3mN0 at internal host db-7")
    run = read_run(ctx.run_id)
    assert (run["status"], run["error_type"]) == ("error", "RuntimeError")  # the error stays the run's answer
    assert sorted(gate_spans(run)) == [
        ("run.error", "leaks", "warn", "Content filter matched: /(?i)internal host db-[0-9]+/"),
        ("run.error", "no-secrets", "block", "Credential detected: api_key"),
    ]
    policy = [s for s in run["spans"] if s["kind"] == "policy"]
    assert {s["attributes"]["phase"] for s in policy} == {"post_execution"}


def test_run_error_reads_the_output_the_run_had_set(read_run: Reader) -> None:
    add(RUN_ERROR_POLICIES)
    with pytest.raises(TimeoutError), WaxellContext(agent_name="gate-run-error-output") as ctx:
        blob = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xt" * 2
        ctx.set_result({"partial": "draft with " + blob})
        raise TimeoutError("the model took too long")
    run = read_run(ctx.run_id)
    assert run["status"] == "error"
    assert [s[:3] for s in gate_spans(run)] == [("run.error", "blobs", "block")]


def test_run_error_with_a_harmless_error_or_no_error_decides_nothing(read_run: Reader) -> None:
    add(RUN_ERROR_POLICIES)
    with pytest.raises(ValueError, match="no such city"), WaxellContext(agent_name="gate-run-err-ok") as ctx:
        raise ValueError("no such city: Atlantis")
    run = read_run(ctx.run_id)
    assert (run["status"], gate_spans(run)) == ("error", [])
    with WaxellContext(agent_name="gate-run-error-none") as fine:
        fine.set_result({"output": "done"})
    assert gate_spans(read_run(fine.run_id)) == []


def test_run_error_is_a_surface_of_the_content_scanning_categories_only() -> None:
    add(RUN_ERROR_POLICIES)
    with WaxellContext(agent_name="gate-run-error-surface"):
        blob = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODk="
        outcome = evaluate_surface("run.error", {"error_type": "E", "error": blob, "text": blob})
        assert [(d["policy"], d["action"]) for d in outcome.decisions] == [("blobs", "block")]
        # tool-allowlist does not act at run.error, even on a signal naming a tool it blocks
        signal = {"error_type": "E", "text": "rm_rf failed", "tool_name": "rm_rf"}
        named = evaluate_surface("run.error", signal)
        assert (named.action, named.decisions) == ("allow", [])
