"""The seed page (context-manager.txt), example by example, read back through ``show --json``."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from click.testing import CliRunner

import waxell_observe
from waxell_observe import WaxellContext
from waxell_observe.cli import main
from waxell_observe.records import short_id


def show_json(run_id: str) -> dict[str, Any]:
    report = waxell_observe.flush_sync(timeout=30)
    assert report.pending == 0 and report.dropped == 0, report
    result = CliRunner().invoke(main, ["show", run_id, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def runs_json(*args: str) -> list[dict[str, Any]]:
    waxell_observe.flush_sync(timeout=30)
    result = CliRunner().invoke(main, ["runs", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_sync_usage_as_on_the_page() -> None:
    with WaxellContext(agent_name="batch-processor") as ctx:
        result = [1, 2, 3]
        ctx.record_llm_call(model="gpt-4o", tokens_in=300, tokens_out=150)
        ctx.record_step("process", output={"items": 42})
        ctx.set_result({"output": result})

    run = show_json(ctx.run_id)
    assert run["agent_name"] == "batch-processor"
    assert run["workflow_name"] == "default"
    assert run["status"] == "success"
    assert run["error"] == ""
    assert run["result"] == {"output": [1, 2, 3]}
    assert run["total_tokens"] == 450
    # gpt-4o: $2.50 / 1M in, $10.00 / 1M out
    assert run["total_cost"] == pytest.approx(300 * 2.5e-6 + 150 * 10e-6, abs=1e-12)
    assert run["llm_call_count"] == 1
    [call] = run["llm_calls"]
    assert {k: call[k] for k in ("model", "provider", "tokens_in", "tokens_out", "task", "status")} == {
        "model": "gpt-4o",
        "provider": "openai",
        "tokens_in": 300,
        "tokens_out": 150,
        "task": "",
        "status": "ok",
    }
    assert run["steps"] == [
        {
            "name": "process",
            "position": 1,
            "seq": 2,
            "output": {"items": 42},
            "started_at": run["steps"][0]["started_at"],
        }
    ]
    assert run["started_at"] <= run["ended_at"]
    assert run["duration_ms"] >= 0


async def test_async_usage_as_on_the_page() -> None:
    async def run_research(query: str) -> str:
        await asyncio.sleep(0)
        return f"findings about {query}"

    async with WaxellContext(agent_name="research-agent") as ctx:
        result = await run_research("tides")
        ctx.record_llm_call(model="gpt-4o", tokens_in=300, tokens_out=150)
        ctx.record_step("research", output={"sources": 5})
        ctx.set_result({"answer": result})

    run = show_json(ctx.run_id)
    assert run["agent_name"] == "research-agent"
    assert run["status"] == "success"
    assert run["result"] == {"answer": "findings about tides"}
    assert [(s["name"], s["position"], s["output"]) for s in run["steps"]] == [
        ("research", 1, {"sources": 5})
    ]
    assert run["llm_calls"][0]["tokens_in"] == 300


def test_run_id_is_empty_before_the_run_starts() -> None:
    ctx = WaxellContext(agent_name="a")
    assert ctx.run_id == ""
    with ctx:
        assert len(ctx.run_id) == 32
        int(ctx.run_id, 16)


def test_session_user_tags_and_metadata() -> None:
    with WaxellContext(
        agent_name="my-chatbot", session_id="session-abc-123", user_id="user-456", user_group="enterprise"
    ) as ctx:
        ctx.set_tag("environment", "production")
        ctx.set_tag("pipeline", "rag-v2")
        ctx.set_metadata("retrieval_count", 5)
        ctx.set_metadata("model_version", "gpt-4-turbo")
        ctx.set_metadata("nested", {"a": [1, 2], "b": None})

    run = show_json(ctx.run_id)
    assert (run["session_id"], run["user_id"], run["user_group"]) == (
        "session-abc-123",
        "user-456",
        "enterprise",
    )
    assert run["tags"] == {"environment": "production", "pipeline": "rag-v2"}
    assert run["metadata"] == {
        "retrieval_count": 5,
        "model_version": "gpt-4-turbo",
        "nested": {"a": [1, 2], "b": None},
    }
    assert runs_json("--session", "session-abc-123")[0]["run_id"] == ctx.run_id
    assert runs_json("--user", "user-456")[0]["run_id"] == ctx.run_id
    assert runs_json("--user", "someone-else") == []


def test_scores_keep_their_types() -> None:
    with WaxellContext(agent_name="my-agent") as ctx:
        ctx.record_score(
            name="relevance", value=0.92, data_type="numeric", comment="Highly relevant to the query"
        )
        ctx.record_score(name="contains_hallucination", value=False, data_type="boolean")
        ctx.record_score(name="tone", value="professional", data_type="categorical")
        ctx.record_score("response_quality", 0.9)

    scores = [
        {k: s[k] for k in ("name", "data_type", "value", "comment")} for s in show_json(ctx.run_id)["scores"]
    ]
    assert scores == [
        {
            "name": "relevance",
            "data_type": "numeric",
            "value": 0.92,
            "comment": "Highly relevant to the query",
        },
        {"name": "contains_hallucination", "data_type": "boolean", "value": False, "comment": ""},
        {"name": "tone", "data_type": "categorical", "value": "professional", "comment": ""},
        {"name": "response_quality", "data_type": "numeric", "value": 0.9, "comment": ""},
    ]
    assert scores[1]["value"] is False


def test_record_llm_call_every_parameter() -> None:
    with WaxellContext(agent_name="a") as ctx:
        ctx.record_llm_call(
            model="gpt-4o",
            tokens_in=500,
            tokens_out=200,
            cost=0.0,
            task="summarize",
            prompt_preview="Summarize this",
            response_preview="A summary",
            duration_ms=350,
            provider="",
        )
        ctx.record_llm_call(
            model="claude-sonnet-4-20250514", tokens_in=1000, tokens_out=100, cost=0.5, provider="x"
        )
        ctx.record_llm_call(model="my-local-model", tokens_in=10, tokens_out=10)

    calls = show_json(ctx.run_id)["llm_calls"]
    first = {
        k: calls[0][k]
        for k in (
            "model",
            "provider",
            "tokens_in",
            "tokens_out",
            "cost",
            "task",
            "prompt_preview",
            "response_preview",
            "duration_ms",
            "status",
        )
    }
    assert first == {
        "model": "gpt-4o",
        "provider": "openai",
        "tokens_in": 500,
        "tokens_out": 200,
        "cost": 0.00325,
        "task": "summarize",
        "prompt_preview": "Summarize this",
        "response_preview": "A summary",
        "duration_ms": 350.0,
        "status": "ok",
    }
    assert (calls[1]["provider"], calls[1]["cost"]) == ("x", 0.5)
    assert (calls[2]["provider"], calls[2]["cost"]) == ("", 0.0)
    assert [c["position"] for c in calls] == [1, 2, 3]


def test_cost_estimate_of_the_issue_example() -> None:
    with WaxellContext(agent_name="a") as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=1000, tokens_out=500)
        ctx.record_llm_call(model="gpt-4o-2024-08-06", tokens_in=1000, tokens_out=500)
    calls = show_json(ctx.run_id)["llm_calls"]
    assert [c["cost"] for c in calls] == [0.0075, 0.0075]


def test_every_behaviour_record() -> None:
    with WaxellContext(agent_name="rag-pipeline") as ctx:
        ctx.record_tool_call(
            name="web_search",
            input={"query": "latest news"},
            output={"results": ["a", "b"]},
            duration_ms=250,
            status="ok",
            tool_type="api",
        )
        ctx.record_tool_call(name="db", input="select 1", status="error", error="timeout")
        ctx.record_retrieval(
            query="How does the billing system work?",
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
            thought="Source A is more recent but Source B has higher authority",
            evidence=["Source A: 2024", "Source B: cited 500 times"],
            conclusion="Use Source B as primary, Source A as supplement",
        )
        ctx.record_retry(
            attempt=2,
            reason="Rate limited by OpenAI",
            strategy="fallback",
            original_error="429 Too Many Requests",
            fallback_to="claude-sonnet-4",
            max_attempts=3,
        )
        ctx.record_policy_check(
            policy_name="budget-limit",
            action="warn",
            category="budget",
            reason="Approaching 80% of daily budget",
            phase="mid_execution",
        )

    spans = [
        {k: s[k] for k in ("kind", "name", "status", "duration_ms", "attributes", "input", "output")}
        for s in show_json(ctx.run_id)["spans"]
    ]
    assert spans == [
        {
            "kind": "tool",
            "name": "web_search",
            "status": "ok",
            "duration_ms": 250.0,
            "attributes": {"tool_type": "api"},
            "input": {"query": "latest news"},
            "output": {"results": ["a", "b"]},
        },
        {
            "kind": "tool",
            "name": "db",
            "status": "error",
            "duration_ms": None,
            "attributes": {"tool_type": "function", "error": "timeout"},
            "input": "select 1",
            "output": "",
        },
        {
            "kind": "retrieval",
            "name": "pinecone",
            "status": "ok",
            "duration_ms": 120.0,
            "attributes": {
                "source": "pinecone",
                "document_count": 1,
                "top_k": 5,
                "scores": [0.92, 0.87, 0.81],
            },
            "input": {"query": "How does the billing system work?"},
            "output": {"documents": [{"id": "doc1", "title": "Billing FAQ", "score": 0.92}]},
        },
        {
            "kind": "decision",
            "name": "route_to_agent",
            "status": "ok",
            "duration_ms": None,
            "attributes": {
                "reasoning": "User mentioned invoice and payment",
                "confidence": 0.95,
                "instrumentation_type": "manual",
            },
            "input": {"options": ["billing", "technical", "general"]},
            "output": {"chosen": "billing"},
        },
        {
            "kind": "reasoning",
            "name": "evaluate_sources",
            "status": "ok",
            "duration_ms": None,
            "attributes": {
                "thought": "Source A is more recent but Source B has higher authority",
                "evidence": ["Source A: 2024", "Source B: cited 500 times"],
                "conclusion": "Use Source B as primary, Source A as supplement",
            },
            "input": None,
            "output": None,
        },
        {
            "kind": "retry",
            "name": "fallback",
            "status": "ok",
            "duration_ms": None,
            "attributes": {
                "attempt": 2,
                "reason": "Rate limited by OpenAI",
                "strategy": "fallback",
                "original_error": "429 Too Many Requests",
                "fallback_to": "claude-sonnet-4",
                "max_attempts": 3,
            },
            "input": None,
            "output": None,
        },
        {
            "kind": "policy",
            "name": "budget-limit",
            "status": "ok",
            "duration_ms": 0.0,
            "attributes": {
                "policy_name": "budget-limit",
                "action": "warn",
                "category": "budget",
                "reason": "Approaching 80% of daily budget",
                "phase": "mid_execution",
                "priority": 100,
            },
            "input": None,
            "output": None,
        },
    ]


def test_steps_are_numbered_in_order() -> None:
    with WaxellContext(agent_name="rag-pipeline") as ctx:
        ctx.record_step("retrieval", output={"doc_count": 3})
        ctx.record_llm_call(model="gpt-4o-mini", tokens_in=1, tokens_out=1)
        ctx.record_step("generation", output={"response_length": 120})
        ctx.record_step("extract_entities")
    steps = show_json(ctx.run_id)["steps"]
    assert [(s["name"], s["position"], s["output"]) for s in steps] == [
        ("retrieval", 1, {"doc_count": 3}),
        ("generation", 2, {"response_length": 120}),
        ("extract_entities", 3, None),
    ]


def test_error_completes_the_run_and_propagates_unchanged() -> None:
    error = ValueError("Something went wrong")
    with pytest.raises(ValueError) as raised, WaxellContext(agent_name="my-agent") as ctx:
        ctx.record_step("before")
        raise error
    assert raised.value is error
    run = show_json(ctx.run_id)
    assert run["status"] == "error"
    assert run["error"] == "Something went wrong"
    assert run["error_type"] == "ValueError"
    assert "raise error" in run["traceback"]
    assert run["result"] == {}
    assert [s["name"] for s in run["steps"]] == ["before"]


async def test_async_error_completes_the_run() -> None:
    with pytest.raises(ValueError, match="Something went wrong"):
        async with WaxellContext(agent_name="my-agent") as ctx:
            raise ValueError("Something went wrong")
    run = show_json(ctx.run_id)
    assert (run["status"], run["error"]) == ("error", "Something went wrong")


def test_multiple_runs_in_sequence() -> None:
    run_ids = []
    for item in ["a", "b", "c"]:
        with WaxellContext(agent_name="batch-processor", inputs={"item": item}) as ctx:
            ctx.record_llm_call(model="gpt-4o-mini", tokens_in=50, tokens_out=30)
            ctx.set_result({"output": item.upper()})
        run_ids.append(ctx.run_id)
    listed = runs_json("--agent", "batch-processor")
    assert [r["run_id"] for r in listed] == list(reversed(run_ids))
    for run_id, item in zip(run_ids, ["a", "b", "c"], strict=True):
        run = show_json(run_id)
        assert (run["inputs"], run["result"], run["total_tokens"]) == (
            {"item": item},
            {"output": item.upper()},
            80,
        )


def test_nested_context_is_a_child_run() -> None:
    with WaxellContext(agent_name="parent", session_id="s1", user_id="u1") as parent:
        parent.record_step("plan")
        with WaxellContext(agent_name="child") as child:
            child.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=5)
        parent.record_step("finish")
    child_run = show_json(child.run_id)
    parent_run = show_json(parent.run_id)
    assert child_run["parent_run_id"] == parent.run_id
    assert child_run["root_run_id"] == parent.run_id
    assert (child_run["session_id"], child_run["user_id"]) == ("s1", "u1")
    assert [c["run_id"] for c in parent_run["children"]] == [child.run_id]
    assert [(s["name"], s["position"]) for s in parent_run["steps"]] == [
        ("plan", 1),
        ("delegate:child", 2),
        ("finish", 3),
    ]
    assert parent_run["steps"][1]["output"] == {
        "_kind": "delegation",
        "child_run_id": child.run_id,
        "child_agent": "child",
    }
    assert parent_run["total_tokens"] == 0 and child_run["total_tokens"] == 15
    assert waxell_observe.get_current_context() is None


def test_conversation_state_from_manual_and_llm_records() -> None:
    with WaxellContext(agent_name="chat") as ctx:
        assert (ctx.conversation_turns, ctx.message_count, ctx.context_utilization) == (0, 0, 0.0)
        ctx.record_user_message("What's the weather?")
        ctx.record_agent_response("It's sunny in Paris today.")
        assert (ctx.conversation_turns, ctx.message_count) == (1, 2)
        ctx.record_llm_call(
            model="gpt-4o",
            tokens_in=4200,
            tokens_out=20,
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What's the weather?"},
                {"role": "assistant", "content": "It's sunny in Paris today."},
                {"role": "user", "content": "And tomorrow?"},
            ],
            response_text="Rain.",
            finish_reason="stop",
        )
        assert (ctx.conversation_turns, ctx.message_count, ctx.context_utilization) == (2, 4, 3.3)
    run = show_json(ctx.run_id)
    assert {k: v for k, v in run["conversation"].items() if k != "system_prompt_hash"} == {
        "user_turns": 2,
        "message_count": 4,
        "assistant_turns": 1,
        "tool_results": 0,
        "tokens_in_context": 4200,
        "context_utilization_pct": 3.3,
        "tools_used": [],
    }
    assert len(run["conversation"]["system_prompt_hash"]) == 12
    assert run["llm_calls"][0]["attributes"]["context"] == {
        "message_count": 4,
        "user_turns": 2,
        "tokens_used": 4200,
        "utilization_pct": 3.3,
    }
    io = [(s["name"], s["input"], s["output"]) for s in run["spans"] if s["kind"] == "io"]
    assert io == [
        ("user_message", "What's the weather?", None),
        ("agent_response", None, "It's sunny in Paris today."),
        ("user_message", "And tomorrow?", None),
        ("agent_response", None, "Rain."),
    ]


def test_previews_are_cut_unless_content_capture_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from waxell_observe.config import set_config

    long_prompt = "x" * 2000
    with WaxellContext(agent_name="a") as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1, prompt_preview=long_prompt)
    assert len(show_json(ctx.run_id)["llm_calls"][0]["prompt_preview"]) == 500

    monkeypatch.setenv("WAXELL_CAPTURE_CONTENT", "true")
    set_config(None)
    with WaxellContext(agent_name="a") as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1, prompt_preview=long_prompt)
    assert show_json(ctx.run_id)["llm_calls"][0]["prompt_preview"] == long_prompt


def test_unserialisable_values_are_stored_as_repr_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque 7>"

    with caplog.at_level(logging.WARNING, logger="waxell_observe"), WaxellContext(agent_name="a") as ctx:
        ctx.set_metadata("thing", Opaque())
        ctx.set_metadata("fine", 1)
        ctx.record_step("s", output={"obj": Opaque(), "n": 2})
        ctx.set_result({"value": Opaque()})
    run = show_json(ctx.run_id)
    assert run["metadata"] == {"thing": "<Opaque 7>", "fine": 1}
    assert run["steps"][0]["output"] == {"obj": "<Opaque 7>", "n": 2}
    assert run["result"] == {"value": "<Opaque 7>"}
    assert "metadata 'thing' of type Opaque is not JSON-serialisable" in caplog.text


def test_set_result_wraps_non_dicts() -> None:
    with WaxellContext(agent_name="a") as ctx:
        ctx.set_result("plain answer")
    assert show_json(ctx.run_id)["result"] == {"output": "plain answer"}


def test_show_by_unique_beginning_or_end_and_unknown_run() -> None:
    with WaxellContext(agent_name="a") as ctx:
        pass
    assert show_json(ctx.run_id[-10:])["run_id"] == ctx.run_id  # the short form shown: the end
    assert show_json(short_id(ctx.run_id))["run_id"] == ctx.run_id
    assert show_json(ctx.run_id[:20])["run_id"] == ctx.run_id  # a unique beginning works too
    result = CliRunner().invoke(main, ["show", "0" * 32])
    assert result.exit_code == 1
    assert "no run" in result.output
