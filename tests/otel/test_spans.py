"""The span tree and attributes of runs, exported to an in-memory exporter."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import SpanKind, StatusCode
from waxell_observe_otel.ids import span_id_for, trace_id_for
from waxell_observe_otel.propagation import traceparent_for
from waxell_observe_otel.spans import _ns

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient
from waxell_observe.records import new_id

from .conftest import span_tree

Spans = Callable[[], list[ReadableSpan]]


def ns(seconds: float) -> int:
    """What the exporter sends for a timestamp: nanoseconds at the microsecond the store keeps."""
    return _ns(seconds)


def by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = by_name(spans, name)
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


# -- the seed examples ------------------------------------------------------------------------


def process_tickets(tickets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sync full example of the seed page (LLM calls stand in for the model)."""
    results = []
    for ticket in tickets:
        with WaxellContext(
            agent_name="ticket-processor",
            workflow_name="support-pipeline",
            inputs={"ticket_id": ticket["id"], "subject": ticket["subject"]},
            enforce_policy=True,
        ) as ctx:
            ctx.set_tag("priority", ticket["priority"])
            ctx.record_llm_call(model="gpt-4o-mini", tokens_in=200, tokens_out=10, task="classify")
            ctx.record_step("classify", output={"category": "billing"})
            ctx.record_llm_call(model="gpt-4o", tokens_in=500, tokens_out=200, task="respond")
            ctx.record_step("respond", output={"length": 42})
            policy = ctx.check_policy_sync()
            assert not policy.blocked
            ctx.record_score("response_quality", 0.9)
            result = {"ticket_id": ticket["id"], "category": "billing"}
            ctx.set_result(result)
            results.append({"run": ctx.run, "result": result})
    return results


def test_seed_sync_example_span_tree_and_attributes(spans_of: Spans) -> None:
    done = process_tickets(
        [
            {"id": "T-1", "subject": "Refund please", "priority": "high"},
            {"id": "T-2", "subject": "Password", "priority": "low"},
        ]
    )
    spans = spans_of()
    one_run = [
        (0, "invoke_agent ticket-processor"),
        (1, "chat gpt-4o-mini"),
        (1, "step classify"),
        (1, "chat gpt-4o"),
        (1, "step respond"),
    ]
    assert span_tree(spans) == one_run + one_run
    runs = [item["run"] for item in done]
    run_spans = by_name(spans, "invoke_agent ticket-processor")
    assert [s.attributes["waxell.run_id"] for s in run_spans] == [r.run_id for r in runs]
    for run, run_span, priority in zip(runs, run_spans, ("high", "low"), strict=True):
        assert dict(run_span.attributes) == {
            "waxell.record": "run",
            "waxell.run_id": run.run_id,
            "waxell.agent.name": "ticket-processor",
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "ticket-processor",
            "waxell.workflow.name": "support-pipeline",
            "waxell.interaction_mode": "autonomous",
            "waxell.run.status": "success",
            "gen_ai.usage.input_tokens": 700,
            "gen_ai.usage.output_tokens": 210,
            "waxell.run.cost_usd": 0.003286,
            "waxell.run.llm_call_count": 2,
            "waxell.run.step_count": 2,
            "waxell.run.span_count": 0,
            "waxell.tag.priority": priority,
            "waxell.score.response_quality": 0.9,
            "waxell.governance.action": "allow",  # the post-execution policy outcome
            # LLM calls recorded by hand feed the context state: the last one's 500 tokens of gpt-4o
            "waxell.conversation": '{"user_turns":0,"message_count":0,"assistant_turns":0,"tool_results":0,'
            '"tokens_in_context":500,"context_utilization_pct":0.4,"system_prompt_hash":"","tools_used":[]}',
        }
        # One trace per root run; its ids are derived from the run id.
        assert run_span.context.trace_id == trace_id_for(run.run_id)
        assert run_span.context.span_id == span_id_for(run.run_id)
        assert run_span.parent is None
        assert run_span.kind == SpanKind.INTERNAL
        assert run_span.status.status_code == StatusCode.UNSET
        # Real times: the run span covers the run exactly.
        assert run_span.start_time == ns(run.started_at)
        assert run_span.end_time == ns(run.ended_at)
        children = [s for s in spans if s.parent is not None and s.parent.span_id == run_span.context.span_id]
        assert len(children) == 4
        assert {s.context.trace_id for s in children} == {run_span.context.trace_id}
        for child in children:
            assert run_span.start_time <= child.start_time <= child.end_time <= run_span.end_time
        (event,) = run_span.events
        assert event.name == "waxell.score"
        assert dict(event.attributes) == {
            "waxell.score.id": event.attributes["waxell.score.id"],
            "waxell.score.name": "response_quality",
            "waxell.score.value": 0.9,
            "waxell.score.data_type": "numeric",
        }
    mini = by_name(spans, "chat gpt-4o-mini")[0]
    assert mini.kind == SpanKind.CLIENT
    assert dict(mini.attributes) == {
        "waxell.record": "llm_call",
        "waxell.run_id": runs[0].run_id,
        "waxell.agent.name": "ticket-processor",
        "waxell.record.id": mini.attributes["waxell.record.id"],
        "waxell.record.position": 1,
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 200,
        "gen_ai.usage.output_tokens": 10,
        "waxell.llm.cost_usd": 0.000036,
        "waxell.llm.task": "classify",
        "waxell.context.message_count": 0,
        "waxell.context.user_turns": 0,
        "waxell.context.tokens_used": 200,
        "waxell.context.utilization_pct": 0.2,
    }
    assert mini.context.span_id == span_id_for(str(mini.attributes["waxell.record.id"]))
    step = by_name(spans, "step respond")[0]
    assert dict(step.attributes) == {
        "waxell.record": "step",
        "waxell.run_id": runs[0].run_id,
        "waxell.agent.name": "ticket-processor",
        "waxell.record.id": step.attributes["waxell.record.id"],
        "waxell.record.position": 2,
        "waxell.step.name": "respond",
        "waxell.step.output": '{"length":42}',
    }


async def run_pipeline(query: str) -> dict[str, Any]:
    """The async full example of the seed page."""
    async with WaxellContext(
        agent_name="research-pipeline",
        workflow_name="deep-research",
        inputs={"query": query},
        metadata={"version": "2.1"},
        enforce_policy=True,
        session_id="session-abc-123",
        user_id="user-456",
        user_group="enterprise",
    ) as ctx:
        ctx.record_step("search", output={"source_count": 3})
        ctx.record_llm_call(model="claude-sonnet-4", tokens_in=2000, tokens_out=500, task="synthesize")
        ctx.record_step("synthesize", output={"length": 120})
        policy = await ctx.check_policy()
        assert not policy.blocked
        ctx.record_llm_call(model="gpt-4o", tokens_in=800, tokens_out=300, task="refine")
        ctx.record_step("refine")
        ctx.set_tag("environment", "production")
        ctx.set_tag("pipeline", "rag-v2")
        ctx.set_metadata("retrieval_count", 5)
        ctx.set_metadata("model_version", "gpt-4-turbo")
        ctx.set_metadata("sources", ["a", {"b": 1}])
        result = {"answer": "final", "sources": 3}
        ctx.set_result(result)
        return {"run_id": ctx.run_id, **result}


def test_seed_async_example_tags_metadata_session_and_user(spans_of: Spans) -> None:
    outcome = asyncio.run(run_pipeline("what is otel?"))
    spans = spans_of()
    assert span_tree(spans) == [
        (0, "invoke_agent research-pipeline"),
        (1, "step search"),
        (1, "chat claude-sonnet-4"),
        (1, "step synthesize"),
        (1, "chat gpt-4o"),
        (1, "step refine"),
    ]
    run_span = one(spans, "invoke_agent research-pipeline")
    attributes = dict(run_span.attributes)
    # Tags set at the end of the run are on the run span: { span.waxell.tag.environment = "production" }.
    assert {k: v for k, v in attributes.items() if k.startswith(("waxell.tag.", "waxell.meta."))} == {
        "waxell.tag.environment": "production",
        "waxell.tag.pipeline": "rag-v2",
        "waxell.meta.version": "2.1",
        "waxell.meta.retrieval_count": 5,
        "waxell.meta.model_version": "gpt-4-turbo",
        "waxell.meta.sources": '["a",{"b":1}]',
    }
    assert attributes["waxell.session_id"] == "session-abc-123"
    assert attributes["gen_ai.conversation.id"] == "session-abc-123"
    assert attributes["waxell.user_id"] == "user-456"
    assert attributes["waxell.user_group"] == "enterprise"
    assert attributes["waxell.interaction_mode"] == "interactive"
    assert attributes["waxell.workflow.name"] == "deep-research"
    assert attributes["waxell.run_id"] == outcome["run_id"]
    assert attributes["gen_ai.usage.input_tokens"] == 2800
    assert attributes["gen_ai.usage.output_tokens"] == 800
    assert attributes["waxell.run.cost_usd"] == 0.0185
    # Content is private by default: no inputs or result on the span.
    assert "waxell.run.inputs" not in attributes and "waxell.run.result" not in attributes
    claude = one(spans, "chat claude-sonnet-4")
    assert claude.attributes["gen_ai.provider.name"] == "anthropic"
    assert claude.attributes["waxell.llm.cost_usd"] == 0.0135


# -- nesting, errors, integration span trees ----------------------------------------------


def test_nested_runs_are_child_spans_in_the_parents_trace(spans_of: Spans) -> None:
    with WaxellContext(agent_name="orchestrator", enforce_policy=False, session_id="s-1") as parent:
        parent.record_step("plan")
        with WaxellContext(agent_name="researcher", enforce_policy=False) as child:
            child.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=5)
            with WaxellContext(agent_name="fact-checker", enforce_policy=False) as grandchild:
                grandchild.record_tool_call(name="search", duration_ms=5)
        parent.record_step("answer")
    spans = spans_of()
    assert span_tree(spans) == [
        (0, "invoke_agent orchestrator"),
        (1, "step plan"),
        (1, "invoke_agent researcher"),  # starts with its delegation step (ties sort by name)
        (2, "chat gpt-4o"),
        (2, "invoke_agent fact-checker"),
        (3, "execute_tool search"),
        (2, "step delegate:fact-checker"),
        (1, "step delegate:researcher"),
        (1, "step answer"),
    ]
    assert {s.context.trace_id for s in spans} == {trace_id_for(parent.run_id)}
    child_span = one(spans, "invoke_agent researcher")
    assert child_span.parent is not None and child_span.parent.span_id == span_id_for(parent.run_id)
    assert child_span.attributes["waxell.parent_run_id"] == parent.run_id
    assert child_span.attributes["waxell.root_run_id"] == parent.run_id
    assert child_span.attributes["waxell.session_id"] == "s-1"  # inherited from the parent run
    leaf = one(spans, "invoke_agent fact-checker")
    assert leaf.attributes["waxell.parent_run_id"] == child.run_id
    assert leaf.attributes["waxell.root_run_id"] == parent.run_id
    assert traceparent_for(grandchild.run) == f"00-{parent.run_id}-{span_id_for(grandchild.run_id):016x}-01"


def test_a_failing_run_has_error_status_and_an_exception_event(spans_of: Spans) -> None:
    with (
        pytest.raises(ValueError, match="Something went wrong"),
        WaxellContext(agent_name="my-agent", enforce_policy=False) as ctx,
    ):
        ctx.record_llm_call(
            model="gpt-4o",
            tokens_in=5,
            tokens_out=0,
            status="error",
            error_type="RateLimitError",
            error_message="429 Too Many Requests",
            duration_ms=30,
        )
        raise ValueError("Something went wrong")
    spans = spans_of()
    run_span = one(spans, "invoke_agent my-agent")
    assert run_span.status.status_code == StatusCode.ERROR
    assert run_span.status.description == "Something went wrong"
    assert run_span.attributes["waxell.run.status"] == "error"
    (event,) = run_span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "Something went wrong"
    assert str(event.attributes["exception.stacktrace"]).rstrip().endswith("ValueError: Something went wrong")
    assert event.timestamp == ns(ctx.run.ended_at)
    call = one(spans, "chat gpt-4o")
    assert call.status.status_code == StatusCode.ERROR
    assert call.status.description == "429 Too Many Requests"
    assert call.attributes["error.type"] == "RateLimitError"
    assert [(e.name, dict(e.attributes)) for e in call.events] == [
        ("exception", {"exception.type": "RateLimitError", "exception.message": "429 Too Many Requests"})
    ]
    assert call.end_time - call.start_time == 30_000_000


def test_integration_span_trees_follow_parent_span_id_even_when_parents_come_last(spans_of: Spans) -> None:
    chain_id, agent_id = new_id(), new_id()
    with WaxellContext(agent_name="lc-agent", enforce_policy=False) as ctx:
        start = ctx.run.started_at
        # Framework runs end after their children: the children are recorded first.
        call = ctx.record_llm_call(
            model="gpt-4o",
            tokens_in=10,
            tokens_out=4,
            parent_span_id=chain_id,
            started_at=start + 0.002,
            duration_ms=3,
        )
        tool = ctx.record_span(
            "tool", "calculator", parent_span_id=agent_id, started_at=start + 0.006, duration_ms=1
        )
        ctx.record_span(
            "agent",
            "ReActAgent",
            span_id=agent_id,
            parent_span_id=chain_id,
            started_at=start + 0.005,
            duration_ms=3,
        )
        ctx.record_span(
            "chain", "RunnableSequence", span_id=chain_id, started_at=start + 0.001, duration_ms=9
        )
    spans = spans_of()
    assert span_tree(spans) == [
        (0, "invoke_agent lc-agent"),
        (1, "RunnableSequence"),
        (2, "chat gpt-4o"),
        (2, "invoke_agent ReActAgent"),
        (3, "execute_tool calculator"),
    ]
    assert call is not None and tool is not None
    chain = one(spans, "RunnableSequence")
    assert chain.context.span_id == span_id_for(chain_id)
    assert chain.start_time == ns(start + 0.001) and chain.end_time == ns(start + 0.001) + 9_000_000
    llm = one(spans, "chat gpt-4o")
    assert llm.attributes["waxell.parent_record_id"] == chain_id
    assert llm.start_time == ns(call.started_at) and llm.end_time == ns(call.started_at) + 3_000_000
    agent = one(spans, "invoke_agent ReActAgent")
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.agent.name"] == "ReActAgent"
    assert one(spans, "execute_tool calculator").attributes["waxell.span.kind"] == "tool"


# -- behaviour spans and content -----------------------------------------------------------


def record_behaviours(ctx: WaxellContext) -> None:
    ctx.record_tool_call(
        name="web_search",
        input={"query": "latest news"},
        output={"results": ["r1"]},
        duration_ms=250,
        tool_type="api",
    )
    ctx.record_tool_call(name="database_query", input="SELECT 1", status="error", error="connection refused")
    ctx.record_retrieval(
        query="How does billing work?",
        documents=[{"id": "doc1", "title": "Billing FAQ", "score": 0.92}],
        source="pinecone",
        duration_ms=120,
        top_k=5,
        scores=[0.92, 0.87, 0.81],
    )
    ctx.record_decision(
        name="route_to_agent",
        options=["billing", "technical", "general"],
        chosen="billing",
        reasoning="User mentioned invoice and payment",
        confidence=0.95,
    )
    ctx.record_reasoning(
        step="evaluate_sources",
        thought="Source A is more recent",
        evidence=["Source A: 2024", "Source B: cited 500 times"],
        conclusion="Use Source B",
    )
    ctx.record_retry(
        attempt=2,
        reason="Rate limited",
        strategy="fallback",
        original_error="429",
        fallback_to="claude-sonnet-4",
    )
    ctx.record_policy_check(
        policy_name="budget-limit",
        action="block",
        category="budget",
        reason="Over budget",
        phase="mid_execution",
    )
    ctx.record_user_message("What's the weather?")
    ctx.record_agent_response("It's sunny in Paris today.")


def test_behaviour_spans_without_content(spans_of: Spans) -> None:
    with WaxellContext(agent_name="behaviours", enforce_policy=False) as ctx:
        record_behaviours(ctx)
    spans = spans_of()
    records = sorted(
        (s for s in spans if s.parent is not None), key=lambda s: s.attributes["waxell.record.position"]
    )
    assert [s.name for s in records] == [
        "execute_tool web_search",
        "execute_tool database_query",
        "retrieval pinecone",
        "decision route_to_agent",
        "reasoning evaluate_sources",
        "retry fallback",
        "policy budget-limit",
        "user_message",
        "agent_response",
    ]
    assert {s.parent.span_id for s in records if s.parent is not None} == {span_id_for(ctx.run_id)}
    search = one(spans, "execute_tool web_search")
    common = {"waxell.record": "span", "waxell.run_id": ctx.run_id, "waxell.agent.name": "behaviours"}
    assert dict(search.attributes) == {
        **common,
        "waxell.record.id": search.attributes["waxell.record.id"],
        "waxell.record.position": 1,
        "waxell.span.kind": "tool",
        "waxell.span.name": "web_search",
        "waxell.tool.tool_type": "api",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "web_search",
        "gen_ai.tool.type": "api",
    }
    assert search.end_time - search.start_time == 250_000_000
    failed = one(spans, "execute_tool database_query")
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.status.description == "connection refused"
    assert [dict(e.attributes) for e in failed.events] == [{"exception.message": "connection refused"}]
    retrieval = one(spans, "retrieval pinecone")
    assert retrieval.attributes["waxell.retrieval.source"] == "pinecone"
    assert retrieval.attributes["waxell.retrieval.document_count"] == 1
    assert retrieval.attributes["waxell.retrieval.top_k"] == 5
    assert tuple(retrieval.attributes["waxell.retrieval.scores"]) == (0.92, 0.87, 0.81)
    assert "waxell.span.input" not in retrieval.attributes  # the query is content
    decision = one(spans, "decision route_to_agent")
    assert decision.attributes["waxell.decision.reasoning"] == "User mentioned invoice and payment"
    assert decision.attributes["waxell.decision.confidence"] == 0.95
    assert decision.attributes["waxell.span.input"] == '{"options":["billing","technical","general"]}'
    assert decision.attributes["waxell.span.output"] == '{"chosen":"billing"}'
    reasoning = one(spans, "reasoning evaluate_sources")
    assert tuple(reasoning.attributes["waxell.reasoning.evidence"]) == (
        "Source A: 2024",
        "Source B: cited 500 times",
    )
    assert reasoning.attributes["waxell.reasoning.conclusion"] == "Use Source B"
    retry = one(spans, "retry fallback")
    assert retry.attributes["waxell.retry.attempt"] == 2
    assert retry.attributes["waxell.retry.fallback_to"] == "claude-sonnet-4"
    assert "waxell.retry.max_attempts" not in retry.attributes  # None values are left out
    policy = one(spans, "policy budget-limit")
    assert policy.status.status_code == StatusCode.ERROR
    assert policy.status.description == "Over budget"
    assert policy.attributes["waxell.policy.action"] == "block"
    assert policy.attributes["waxell.policy.phase"] == "mid_execution"
    user = one(spans, "user_message")
    assert user.attributes["waxell.io.length"] == len("What's the weather?")
    assert "waxell.io.preview" not in user.attributes and "waxell.span.input" not in user.attributes


def test_content_is_exported_only_with_capture_content(memory_exporter: Any) -> None:
    from .conftest import finished_spans

    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello there"},
    ]
    WaxellObserveClient.configure(otel_span_exporter=memory_exporter, capture_content=True)
    with WaxellContext(agent_name="chatty", enforce_policy=False, inputs={"q": "hi"}) as ctx:
        ctx.record_llm_call(
            model="gpt-4o",
            tokens_in=1280,
            tokens_out=7,
            prompt_preview="Hello there",
            response_preview="Hi!",
            messages=messages,
            response_text="Hi!",
            finish_reason="stop",
        )
        record_behaviours(ctx)
        ctx.set_result({"answer": "Hi!"})
    spans = finished_spans(memory_exporter)
    call = one(spans, "chat gpt-4o")
    assert call.attributes["waxell.llm.prompt"] == "Hello there"
    assert call.attributes["waxell.llm.response"] == "Hi!"
    assert json.loads(str(call.attributes["gen_ai.input.messages"])) == messages
    assert tuple(call.attributes["gen_ai.response.finish_reasons"]) == ("stop",)
    # The conversation state when the call was made: 2 messages, 1 user turn, 1% of 128k.
    assert call.attributes["waxell.context.message_count"] == 2
    assert call.attributes["waxell.context.user_turns"] == 1
    assert call.attributes["waxell.context.tokens_used"] == 1280
    assert call.attributes["waxell.context.utilization_pct"] == 1.0
    search = one(spans, "execute_tool web_search")
    assert search.attributes["gen_ai.tool.call.arguments"] == '{"query":"latest news"}'
    assert search.attributes["gen_ai.tool.call.result"] == '{"results":["r1"]}'
    user = [s for s in spans if s.name == "user_message" and s.attributes["waxell.io.source"] == "manual"]
    assert user[0].attributes["waxell.io.preview"] == "What's the weather?"
    run_span = one(spans, "invoke_agent chatty")
    assert run_span.attributes["waxell.run.inputs"] == '{"q":"hi"}'
    assert run_span.attributes["waxell.run.result"] == '{"answer":"Hi!"}'
    assert json.loads(str(run_span.attributes["waxell.conversation"]))["user_turns"] == 2

    memory_exporter.clear()
    WaxellObserveClient.configure(otel_span_exporter=memory_exporter, capture_content=False)
    with WaxellContext(agent_name="private", enforce_policy=False, inputs={"q": "hi"}) as ctx:
        ctx.record_llm_call(
            model="gpt-4o", tokens_in=10, tokens_out=2, prompt_preview="secret", response_preview="answer",
            messages=messages, response_text="answer",
        )  # fmt: skip
        ctx.set_result({"answer": "answer"})
    spans = finished_spans(memory_exporter)
    leaked = [
        (s.name, key)
        for s in spans
        for key, value in s.attributes.items()
        if isinstance(value, str) and ("secret" in value or "answer" in value or "Hello there" in value)
    ]
    assert leaked == []


# -- joining traces, propagation, off -------------------------------------------------------


def test_a_run_started_inside_an_active_otel_span_joins_its_trace(spans_of: Spans) -> None:
    app_tracer = TracerProvider().get_tracer("the-app")
    with (
        app_tracer.start_as_current_span("POST /chat") as request_span,
        WaxellContext(agent_name="joined", enforce_policy=False) as ctx,
    ):
        ctx.record_step("work")
    spans = spans_of()
    run_span = one(spans, "invoke_agent joined")
    app_context = request_span.get_span_context()
    assert run_span.context.trace_id == app_context.trace_id
    assert run_span.parent is not None and run_span.parent.span_id == app_context.span_id
    assert one(spans, "step work").context.trace_id == app_context.trace_id
    assert ctx.run.plugin_state["otel"] == {
        "trace_id": f"{app_context.trace_id:032x}",
        "span_id": f"{span_id_for(ctx.run_id):016x}",
        "sampled": True,
        "traceparent": f"00-{app_context.trace_id:032x}-{span_id_for(ctx.run_id):016x}-01",
    }


def test_a_traceparent_in_the_environment_is_joined(spans_of: Spans, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEPARENT", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    with WaxellContext(agent_name="batch-job", enforce_policy=False) as ctx:
        ctx.record_step("go")
    (run_span,) = [s for s in spans_of() if s.name == "invoke_agent batch-job"]
    assert f"{run_span.context.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert run_span.parent is not None and f"{run_span.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert run_span.parent.is_remote
    assert (
        traceparent_for(ctx.run) == f"00-4bf92f3577b34da6a3ce929d0e0e4736-{span_id_for(ctx.run_id):016x}-01"
    )


def test_an_invalid_environment_traceparent_is_ignored(
    spans_of: Spans, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEPARENT", "00-00000000000000000000000000000000-00f067aa0ba902b7-01")
    with WaxellContext(agent_name="own-trace", enforce_policy=False) as ctx:
        pass
    (run_span,) = spans_of()
    assert run_span.context.trace_id == trace_id_for(ctx.run_id)
    assert run_span.parent is None


def test_nothing_is_traced_without_an_endpoint() -> None:
    with WaxellContext(agent_name="untraced", enforce_policy=False) as ctx:
        ctx.record_step("x")
    assert "otel" not in ctx.run.plugin_state
    assert traceparent_for(ctx.run) is None
    report = waxell_observe.flush_sync(timeout=5)
    assert "otlp" not in report.sinks


def test_resource_attributes_are_merged_with_the_otel_variables(
    memory_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .conftest import finished_spans

    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging,team=search")
    WaxellObserveClient.configure(
        otel_span_exporter=memory_exporter, resource_attributes={"team": "agents", "region": "eu"}
    )
    with WaxellContext(agent_name="resourceful", enforce_policy=False):
        pass
    (span,) = finished_spans(memory_exporter)
    resource = dict(span.resource.attributes)
    assert resource["service.name"] == "from-env"
    assert resource["deployment.environment"] == "staging"
    assert resource["team"] == "agents"  # init(resource_attributes=...) wins over the environment
    assert resource["region"] == "eu"
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == "waxell_observe"
