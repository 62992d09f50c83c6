"""Issue 14: the reference SDK's parameters of ``record_llm_call`` / ``record_step`` /
``record_user_message`` / ``record_agent_response``, and the conversation state kept consistent
(a shorter second context; manual calls feed the context), read back from the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from waxell_observe import WaxellContext

ReadRun = Callable[[str], dict[str, Any]]

SYSTEM = {"role": "system", "content": "You are terse."}


def test_record_llm_call_takes_the_reference_parameters(read_run: ReadRun) -> None:
    with WaxellContext(agent_name="i14-llm-extras", enforce_policy=False) as ctx:
        ctx.record_llm_call(
            model="gpt-4o",
            tokens_in=100,
            tokens_out=20,
            framework="langgraph",
            prompt_hash="ph-1",
            config={"temperature": 0.2},
            prompt_variables={"city": "Paris"},
            is_streaming=True,
            ttft_ms=42.5,
            chunk_count=7,
            _auto_instrumented=True,
        )
    (call,) = read_run(ctx.run_id)["llm_calls"]
    assert call["attributes"] == {
        "framework": "langgraph",
        "prompt_hash": "ph-1",
        "config": {"temperature": 0.2},
        "prompt_variables": {"city": "Paris"},
        "stream": True,
        "ttft_ms": 42.5,
        "chunk_count": 7,
        "auto_instrumented": True,
    }


def test_full_messages_feed_the_conversation_like_messages(read_run: ReadRun) -> None:
    messages = [SYSTEM, {"role": "user", "content": "Weather in Paris?"}]
    with WaxellContext(agent_name="i14-full-messages", enforce_policy=False) as ctx:
        ctx.record_llm_call(
            model="gpt-4o", tokens_in=50, tokens_out=5, full_messages=messages, full_response="Sunny."
        )
        assert (ctx.conversation_turns, ctx.message_count) == (1, 2)
    run = read_run(ctx.run_id)
    assert run["conversation"]["user_turns"] == 1
    assert run["conversation"]["message_count"] == 2
    assert run["conversation"]["assistant_turns"] == 0
    assert [(s["kind"], s["name"]) for s in run["spans"]] == [
        ("io", "user_message"),
        ("io", "agent_response"),
    ]
    assert "full_response" not in run["llm_calls"][0]["attributes"]


def test_record_llm_call_refuses_bad_reference_parameters() -> None:
    with WaxellContext(agent_name="i14-bad", enforce_policy=False) as ctx:
        with pytest.raises(ValueError, match="ttft_ms"):
            ctx.record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1, ttft_ms=-1)
        with pytest.raises(ValueError, match="framework must be a string"):
            ctx.record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1, framework=3)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="chunk_count"):
            ctx.record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1, chunk_count=True)
        with pytest.raises(ValueError, match="prompt_variables"):
            ctx.record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1, prompt_variables=["x"])  # type: ignore[arg-type]


def test_record_step_with_kind_and_attributes(read_run: ReadRun) -> None:
    with WaxellContext(agent_name="i14-step-kind", enforce_policy=False) as ctx:
        ctx.record_step("plain", output={"n": 1})
        ctx.record_step("lookup", output={"hits": 3}, kind="tool", attributes={"index": "docs"})
        ctx.record_step("plan", attributes={"depth": 2})
        with pytest.raises(ValueError, match="step kind"):
            ctx.record_step("bad", kind="nonsense")
    run = read_run(ctx.run_id)
    assert [(s["name"], s["position"], s["output"]) for s in run["steps"]] == [
        ("plain", 1, {"n": 1}),
        ("lookup", 2, {"hits": 3}),
        ("plan", 3, None),
    ]
    spans = [(s["kind"], s["name"], s["attributes"], s["output"]) for s in run["spans"]]
    assert spans == [
        ("tool", "lookup", {"index": "docs", "step_position": 2}, {"hits": 3}),
        ("chain", "plan", {"depth": 2, "step_position": 3}, None),
    ]


def test_user_message_and_agent_response_take_the_reference_keywords(read_run: ReadRun) -> None:
    with WaxellContext(agent_name="i14-io", enforce_policy=False) as ctx:
        ctx.record_user_message(content="Hi", metadata={"channel": "web"})
        ctx.record_user_message(message="Again")
        ctx.record_agent_response(content="Hello", metadata={"voice": "calm"})
    run = read_run(ctx.run_id)
    spans = [(s["name"], s["attributes"].get("metadata"), s["input"], s["output"]) for s in run["spans"]]
    assert spans == [
        ("user_message", {"channel": "web"}, "Hi", None),
        ("user_message", None, "Again", None),
        ("agent_response", {"voice": "calm"}, None, "Hello"),
    ]
    assert (run["conversation"]["user_turns"], run["conversation"]["message_count"]) == (2, 3)


# -- the two consistency bugs of issue 14 -------------------------------------------------------------


def test_a_shorter_second_context_keeps_the_state_consistent(read_run: ReadRun) -> None:
    first = [
        SYSTEM,
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Sunny."},
        {"role": "user", "content": "And in Rome?"},
    ]
    with WaxellContext(agent_name="i14-shorter", enforce_policy=False) as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=900, tokens_out=10, messages=first)
        ctx.record_llm_call(
            model="gpt-4o-mini", tokens_in=30, tokens_out=5, messages=[{"role": "user", "content": "Title?"}]
        )
        assert (ctx.conversation_turns, ctx.message_count) == (2, 4)
    conversation = read_run(ctx.run_id)["conversation"]
    assert conversation["user_turns"] == 2
    assert conversation["message_count"] == 4
    assert conversation["assistant_turns"] == 1
    assert conversation["tokens_in_context"] == 900
    assert conversation["context_utilization_pct"] == 0.7  # 900 / 128000 on gpt-4o
    assert len(conversation["system_prompt_hash"]) == 12
    assert conversation["user_turns"] <= conversation["message_count"]


def test_a_manual_llm_call_feeds_the_context_state(read_run: ReadRun) -> None:
    with WaxellContext(agent_name="i14-manual-context", enforce_policy=False) as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=3600, tokens_out=400)
        assert ctx.context_utilization == 2.8
    run = read_run(ctx.run_id)
    assert run["conversation"]["tokens_in_context"] == 3600
    assert run["conversation"]["context_utilization_pct"] == 2.8  # 3600 / 128000, 1 decimal
    # no messages seen: the call is not stamped with a context (its own tokens and model say it)
    assert run["llm_calls"][0]["attributes"] == {}
