"""Issue 14: the reference SDK's ``WaxellContext`` methods beyond the seed — container spans,
prompt use, activity signals kept in the conversation state, on-demand flush and mid-run
governance — each read back from the store with exact values."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from waxell_observe import WaxellContext
from waxell_observe.context import open_spans
from waxell_observe.errors import PolicyViolationError
from waxell_observe.governance.results import PolicyCheckResult

ReadRun = Callable[[str], dict[str, Any]]

COUNTERS = {
    "user_turns": 0,
    "message_count": 0,
    "assistant_turns": 0,
    "tool_results": 0,
    "tokens_in_context": 0,
    "context_utilization_pct": 0.0,
    "system_prompt_hash": "",
    "tools_used": [],
}


def _context(agent: str, **kwargs: Any) -> WaxellContext:
    return WaxellContext(agent_name=agent, enforce_policy=False, **kwargs)


# -- container spans ----------------------------------------------------------------------------------


def test_enter_and_exit_span_nest_what_is_recorded_inside(read_run: ReadRun) -> None:
    with _context("i14-containers") as ctx:
        outer = ctx.enter_span("plan", kind="agent", attributes={"goal": "x"}, input_data={"q": "weather"})
        ctx.record_tool_call(name="search")
        inner = ctx.enter_span("embed", kind="embedding")
        ctx.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=1)
        ctx.exit_span(inner, exc=ValueError("boom"))
        ctx.exit_span(outer, output_data={"answer": 42})
        ctx.record_tool_call(name="after")
        tool = ctx.enter_span("lookup", kind="tool")
        ctx.exit_span(tool, status="error", error="not found")
        ctx.exit_span({})  # an empty handle is ignored
        assert open_spans.innermost(ctx.run_id) == ""
    run = read_run(ctx.run_id)
    spans = {s["name"]: s for s in run["spans"]}
    plan, embed = spans["plan"], spans["embed"]
    assert (plan["kind"], plan["status"], plan["parent_span_id"], plan["position"]) == ("agent", "ok", "", 1)
    assert plan["attributes"] == {"goal": "x", "openinference.span.kind": "AGENT"}
    assert (plan["input"], plan["output"]) == ({"q": "weather"}, {"answer": 42})
    assert plan["duration_ms"] is not None and plan["duration_ms"] >= 0
    assert spans["search"]["parent_span_id"] == plan["id"]
    assert (embed["kind"], embed["status"], embed["parent_span_id"]) == ("custom", "error", plan["id"])
    assert embed["error"] == "ValueError: boom"
    assert embed["attributes"] == {
        "span.kind": "embedding",
        "openinference.span.kind": "EMBEDDING",
        "error.type": "ValueError",
        "error.message": "boom",
        "exception.stacktrace": "ValueError: boom\n",
    }
    assert run["llm_calls"][0]["parent_span_id"] == embed["id"]
    assert spans["after"]["parent_span_id"] == ""
    lookup = spans["lookup"]
    assert (lookup["status"], lookup["error"], lookup["attributes"]) == (
        "error",
        "not found",
        {"openinference.span.kind": "TOOL", "error": "not found"},
    )
    assert run["conversation"]["tools_used"] == ["lookup"]


def test_containers_follow_the_context_and_never_leak_into_another_run(read_run: ReadRun) -> None:
    async def main() -> tuple[str, str, str]:
        with _context("i14-containers-tasks") as ctx:
            handle = ctx.enter_span("outer")
            in_thread = await asyncio.to_thread(open_spans.innermost, ctx.run_id)  # a copied context
            other_task = await asyncio.create_task(_fresh_context_innermost(ctx.run_id))
            here = open_spans.innermost(ctx.run_id)
            ctx.exit_span(handle)
            return here, in_thread, other_task

    here, in_thread, other_task = asyncio.run(main())
    assert here and in_thread == here and other_task == here  # tasks and to_thread copy the context
    # a container left open when its run ends is not the parent of the next run's records
    with _context("i14-left-open") as first:
        first.enter_span("never exited")
    with _context("i14-after") as second:
        second.record_tool_call(name="t")
    assert read_run(second.run_id)["spans"][0]["parent_span_id"] == ""


async def _fresh_context_innermost(run_id: str) -> str:
    return open_spans.innermost(run_id)


# -- prompts ------------------------------------------------------------------------------------------


def test_record_prompt_use_and_set_prompt_name(read_run: ReadRun) -> None:
    with _context("i14-prompts") as ctx:
        ctx.record_prompt_use(name="greet", version=3, label="production", content_hash="abc123")
        ctx.record_prompt_use(name="bare")
        ctx.record_prompt_use(name="")  # never raises
        ctx.set_prompt_name("greet")
    run = read_run(ctx.run_id)
    assert [
        (s["kind"], s["name"], s["duration_ms"], s["attributes"], s["input"], s["output"])
        for s in run["spans"]
    ] == [
        (
            "prompt",
            "prompt.use:greet",
            0.0,
            {"name": "greet", "version": 3, "label": "production", "content_hash": "abc123"},
            {"name": "greet", "version": 3, "label": "production", "content_hash": "abc123"},
            {"version": 3},
        ),
        (
            "prompt",
            "prompt.use:bare",
            0.0,
            {"name": "bare"},
            {"name": "bare", "version": 0, "label": "", "content_hash": ""},
            {"version": 0},
        ),
    ]
    # prompt_name alone does not make a conversation state worth storing (as in the reference)
    assert run["conversation"] == {}


# -- activity signals ---------------------------------------------------------------------------------


def test_activity_signals_are_kept_in_the_conversation_state(read_run: ReadRun) -> None:
    with _context("i14-signals") as ctx:
        ctx.record_communication(channel="email", recipient="ops@example.com", body="Done.", subject="Report")
        ctx.record_data_access(source="crm", operation="write", records=3)
        ctx.record_scope_impact(records_modified=2, transaction_total=9.5)
        ctx.record_scope_impact(records_modified=1, api_writes=4)
        ctx.record_grounding(grounding_scores=[0.8, 0.9], citations=["doc-1"], unsupported_claims=["x"])
        ctx.record_retrieval_result(relevance_score=0.5, source="kb", collection="faq", age_days=3)
        ctx.record_retrieval_result(relevance_score=0.7, source="kb")
        ctx.record_retrieval_result(source="kb")  # no relevance: no score
        ctx.record_bias_flag(flag="gender")
        ctx.set_privacy_context(execution_region="eu-west-1", data_purpose="support")
        ctx.record_intermediate_output(output="draft")
        ctx.set_output_text(text="final")
        ctx.set_prompt_name("triage")
        ctx.record_domain_intent(domain_name="billing", action_name="refund")
        ctx.record_emitted_signal(signal_name="ticket.closed")
        ctx.record_breach_signal(signal="exfiltration", event_at="2026-12-01T00:00:00Z")
        ctx.record_erasure_request(subject_id="user-9", requested_at="2026-12-02")
        ctx.record_erasure_request(subject_id="user-10")
    run = read_run(ctx.run_id)
    assert run["conversation"] == {
        **COUNTERS,
        "communications": [
            {"channel": "email", "recipient": "ops@example.com", "body": "Done.", "subject": "Report"}
        ],
        "data_accesses": [{"source": "crm", "operation": "write", "records": 3}],
        "scope_impacts": {
            "records_modified": 3,
            "records_deleted": 0,
            "files_changed": 0,
            "transaction_total": 9.5,
            "api_writes": 4,
        },
        "grounding_data": [
            {"grounding_scores": [0.8, 0.9], "citations": ["doc-1"], "unsupported_claims": ["x"]}
        ],
        "retrieval_results": [
            {"relevance_score": 0.5, "source": "kb", "collection": "faq", "age_days": 3},
            {"relevance_score": 0.7, "source": "kb", "collection": "", "age_days": 0},
            {"relevance_score": 0.0, "source": "kb", "collection": "", "age_days": 0},
        ],
        "reasoning_data": {"decisions": [], "reasoning_depth": 0, "bias_flags": ["gender"]},
        "privacy_context": {"execution_region": "eu-west-1", "data_purpose": "support"},
        "identity_context": {"intermediate_outputs": ["draft"], "output_text": "final"},
        "prompt_name": "triage",
        "domain_intents": [{"domain_name": "billing", "action_name": "refund"}],
        "emitted_signals": ["ticket.closed"],
    }
    assert run["metadata"] == {
        "breach_signal": "exfiltration",
        "breach_event_at": "2026-12-01T00:00:00Z",
        "erasure_requests": [
            {"sub_user_id": "user-9", "requested_at": "2026-12-02"},
            {"sub_user_id": "user-10", "requested_at": ""},
        ],
    }
    assert [(s["name"], s["position"], s["output"]) for s in run["steps"]] == [
        (
            "comm:email",
            1,
            {
                "_kind": "communication",
                "channel": "email",
                "recipient": "ops@example.com",
                "preview": "Done.",
            },
        ),
        (
            "grounding_check",
            2,
            {
                "_kind": "grounding_data",
                "grounding_scores": [0.8, 0.9],
                "citation_count": 1,
                "output_confidence": None,
            },
        ),
    ]
    (comm,) = run["spans"]
    assert (comm["kind"], comm["name"], comm["duration_ms"]) == ("tool", "comm:email", 0.0)
    assert comm["attributes"] == {
        "tool_type": "communication",
        "io.direction": "outbound",
        "io.channel": "email",
    }
    assert comm["input"] == {
        "channel": "email",
        "recipient": "ops@example.com",
        "subject": "Report",
        "body": "Done.",
    }
    assert [(s["name"], s["value"], s["comment"]) for s in run["scores"]] == [
        ("grounding_score", 0.85, "Avg of 2 claims"),
        ("citation_count", 1.0, ""),
        ("unsupported_claims", 1.0, ""),
        ("retrieval_relevance", 0.5, "Avg across 1 documents"),
        ("retrieval_relevance", 0.6, "Avg across 2 documents"),
    ]


def test_content_in_signals_is_cut_to_the_preview_length(read_run: ReadRun) -> None:
    long = "x" * 2000
    with _context("i14-signal-privacy") as ctx:
        ctx.record_communication(channel="sms", body=long)
        ctx.set_output_text(text=long)
    conversation = read_run(ctx.run_id)["conversation"]
    assert len(conversation["communications"][0]["body"]) == 500
    assert len(conversation["identity_context"]["output_text"]) == 500


def test_update_conversation_state_overwrites_the_counters(read_run: ReadRun) -> None:
    with _context("i14-update-state") as ctx:
        ctx.record_llm_call(
            model="gpt-4o", tokens_in=10, tokens_out=1, messages=[{"role": "system", "content": "s"}]
        )
        ctx.update_conversation_state(
            user_turns=3, message_count=7, tokens_in_context=1200, context_utilization_pct=0.9
        )
        assert (ctx.conversation_turns, ctx.message_count, ctx.context_utilization) == (3, 7, 0.9)
        with pytest.raises(ValueError, match="user_turns"):
            ctx.update_conversation_state(user_turns=-1, message_count=0)
    conversation = read_run(ctx.run_id)["conversation"]
    assert {k: conversation[k] for k in COUNTERS if k not in ("system_prompt_hash", "tools_used")} == {
        "user_turns": 3,
        "message_count": 7,
        "assistant_turns": 0,
        "tool_results": 0,
        "tokens_in_context": 1200,
        "context_utilization_pct": 0.9,
    }
    assert len(conversation["system_prompt_hash"]) == 12  # kept: none given


def test_signal_arguments_are_checked() -> None:
    with _context("i14-signal-checks") as ctx:
        with pytest.raises(ValueError, match="channel"):
            ctx.record_communication(channel="")
        with pytest.raises(ValueError, match="records"):
            ctx.record_data_access(source="crm", records=-1)
        with pytest.raises(ValueError, match="grounding score"):
            ctx.record_grounding(grounding_scores=[float("nan")])
        with pytest.raises(ValueError, match="citations"):
            ctx.record_grounding(citations="doc-1")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="flag"):
            ctx.record_bias_flag(flag="")


# -- flush and governance -----------------------------------------------------------------------------


def _block_mid_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every mid-run flush and mid-execution check answers block (as a control plane would);
    returns what was asked, in order (``flush`` / ``check``)."""
    from waxell_observe import policy_gate

    asked: list[str] = []
    block = PolicyCheckResult("block", reason="stop now")

    def flush_run(run: Any) -> PolicyCheckResult:
        asked.append("flush")
        return block

    def check(run: Any, phase: str, surface: str) -> PolicyCheckResult:
        if phase != "mid_execution":
            return PolicyCheckResult("allow")
        asked.append("check")
        return block

    async def acheck(run: Any, phase: str, surface: str) -> PolicyCheckResult:
        return check(run, phase, surface)

    monkeypatch.setattr(policy_gate, "flush_run", flush_run)
    monkeypatch.setattr(policy_gate, "check", check)
    monkeypatch.setattr(policy_gate, "acheck", acheck)
    return asked


def test_signals_flush_with_mid_execution_governance(
    read_run: ReadRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _block_mid_run(monkeypatch)
    with (
        pytest.raises(PolicyViolationError, match="stop now"),
        _context("i14-signal-gate", mid_execution_governance=True) as ctx,
    ):
        ctx.record_data_access(source="crm")
    assert asked == ["flush"]  # the reference's mid-run flush: the sinks' answer, no check of its own
    run = read_run(ctx.run_id)
    assert run["status"] == "blocked"
    assert run["conversation"]["data_accesses"] == [{"source": "crm", "operation": "read", "records": 0}]
    assert [(s["kind"], s["attributes"]["phase"]) for s in run["spans"]] == [("policy", "mid_execution")]


def test_messages_flush_mid_run_when_governed(read_run: ReadRun, monkeypatch: pytest.MonkeyPatch) -> None:
    with _context("i14-message-ungoverned") as off:
        off.record_user_message("hello")
        off.record_agent_response("hi")
    assert read_run(off.run_id)["status"] == "success"
    asked = _block_mid_run(monkeypatch)
    with (
        pytest.raises(PolicyViolationError, match="stop now"),
        _context("i14-message-gate", mid_execution_governance=True) as ctx,
    ):
        ctx.record_user_message("refund me twice")
    assert asked == ["flush"]
    run = read_run(ctx.run_id)
    assert run["status"] == "blocked"
    assert [(s["kind"], s["name"]) for s in run["spans"] if s["kind"] == "io"] == [("io", "user_message")]
    assert run["conversation"]["user_turns"] == 1
    with (
        pytest.raises(PolicyViolationError, match="stop now"),
        _context("i14-response-gate", mid_execution_governance=True) as answered,
    ):
        answered.record_agent_response("done")
    assert asked == ["flush", "flush"]
    assert read_run(answered.run_id)["status"] == "blocked"


def test_check_tool_before_execution(read_run: ReadRun, monkeypatch: pytest.MonkeyPatch) -> None:
    with _context("i14-tool-before-off") as off:
        off.check_tool_before_execution("search")  # without mid-execution governance: nothing
    assert read_run(off.run_id)["conversation"] == {}
    _block_mid_run(monkeypatch)
    with (
        pytest.raises(PolicyViolationError),
        _context("i14-tool-before", mid_execution_governance=True) as ctx,
    ):
        ctx.check_tool_before_execution("search")
    assert read_run(ctx.run_id)["conversation"]["tools_used"] == ["search"]


def test_flush_sync_and_flush_deliver_now(read_run: ReadRun) -> None:
    async def body() -> str:
        async with _context("i14-flush") as ctx:
            ctx.record_step("one")
            ctx.flush_sync()
            ctx.record_step("two")
            await ctx.flush()
            await ctx.aflush_governance()  # off: nothing
            await ctx.check_governance()  # no conversation state: nothing
            return ctx.run_id

    run_id = asyncio.run(body())
    assert [s["name"] for s in read_run(run_id)["steps"]] == ["one", "two"]
    outside = _context("i14-flush-outside")
    outside.flush_sync()  # before entry: no-op


def test_check_governance_and_aflush_governance_raise_on_block(
    read_run: ReadRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    _block_mid_run(monkeypatch)

    async def body(mode: str) -> str:
        ctx = WaxellContext(
            agent_name=f"i14-agov-{mode}",
            enforce_policy=mode == "check",
            mid_execution_governance=mode == "aflush",
        )
        with pytest.raises(PolicyViolationError, match="stop now"):
            async with ctx:
                ctx.record_user_message("hi")
                if mode == "check":
                    await ctx.check_governance()
                else:
                    await ctx.aflush_governance()
        return ctx.run_id

    for mode in ("check", "aflush"):
        run = read_run(asyncio.run(body(mode)))
        assert run["status"] == "blocked"


def test_decisions_and_reasoning_feed_reasoning_data(read_run: ReadRun) -> None:
    with _context("i14-reasoning-data") as ctx:
        ctx.record_decision(name="route", options=["a", "b"], chosen="b", reasoning="cheaper", confidence=0.9)
        ctx.record_reasoning(step="weigh", thought="b is cheaper")
        ctx.record_reasoning(step="check", thought="b is allowed")
        ctx.record_bias_flag(flag="recency")
    assert read_run(ctx.run_id)["conversation"]["reasoning_data"] == {
        "decisions": [
            {"name": "route", "options": ["a", "b"], "chosen": "b", "reasoning": "cheaper", "confidence": 0.9}
        ],
        "reasoning_depth": 2,
        "bias_flags": ["recency"],
    }


def test_show_lists_the_activity_signals_under_the_conversation(read_run: ReadRun) -> None:
    from click.testing import CliRunner

    from waxell_observe.cli import main

    with _context("i14-show") as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=3600, tokens_out=10)
        ctx.record_data_access(source="crm", records=2)
        ctx.set_prompt_name("triage")
        ctx.record_prompt_use(name="triage", version=2)
    read_run(ctx.run_id)  # flushed
    result = CliRunner().invoke(main, ["show", ctx.run_id])
    assert result.exit_code == 0, result.output
    lines = [line.strip(" │├└─") for line in result.output.splitlines()]
    assert "PROMPT prompt.use:triage  0.0ms" in lines
    assert "conversation: 0 user turn(s), 0 message(s), 2.8% of the context window" in lines
    assert 'data_accesses: [{"source":"crm","operation":"read","records":2}]' in lines
    assert "prompt_name: triage" in lines


def test_tool_calls_and_retrievals_flush_with_mid_execution_governance(
    read_run: ReadRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _block_mid_run(monkeypatch)
    with _context("i14-tool-gate", mid_execution_governance=True) as ctx:
        ctx.record_tool_call(
            name="quiet", _skip_flush=True, _skip_otel=True, _skip_step=True, _skip_gate=True
        )
        assert asked == []
        with pytest.raises(PolicyViolationError, match="stop now"):
            ctx.record_tool_call(name="search", output="3 hits")
        with pytest.raises(PolicyViolationError, match="stop now"):
            ctx.record_retrieval(query="q", documents=[{"id": 1}], source="kb")
    assert asked == ["flush", "flush"]
    spans = [(s["kind"], s["name"]) for s in read_run(ctx.run_id)["spans"]]
    assert spans == [
        ("tool", "quiet"),
        ("tool", "search"),
        ("policy", "policy"),
        ("retrieval", "kb"),
        ("policy", "policy"),
    ]
