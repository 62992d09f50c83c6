"""``responses.create`` (sync, async, streamed, ``responses.stream()``) and ``embeddings.create``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest

from integrations.llm_stub import sse_openai
from integrations.openai import payloads as p
from waxell_observe import WaxellContext

MODEL = "gpt-4.1-2025-04-14"
INSTRUCTIONS = "Answer in one sentence."


def only_call(run: dict[str, Any]) -> dict[str, Any]:
    assert len(run["llm_calls"]) == 1, run["llm_calls"]
    return run["llm_calls"][0]


def test_responses_create_records_usage_and_conversation(client: Any, stub: Any, read_run: Any) -> None:
    body = p.response(
        MODEL, [p.message_item("Water boils at 100 °C at sea level.")],
        input_tokens=52_400, output_tokens=120, cached=2_400, reasoning=0,
    )  # fmt: skip
    stub.reply_json(body)
    with WaxellContext(agent_name="science") as ctx:
        answer = client.responses.create(
            model="gpt-4.1", instructions=INSTRUCTIONS, input="When does water boil?"
        )
        assert (ctx.message_count, ctx.conversation_turns) == (2, 1)
    assert answer.output_text == "Water boils at 100 °C at sea level."
    assert stub.requests[0].path == "/v1/responses"
    assert stub.requests[0].body["input"] == "When does water boil?"
    run = read_run(ctx.run_id)
    call = only_call(run)
    assert call["model"] == MODEL
    assert (call["tokens_in"], call["tokens_out"]) == (52_400, 120)
    assert call["attributes"]["cached_tokens_in"] == 2_400
    # (50000 uncached * $2.00 + 2400 cached * $0.50 + 120 out * $8.00) per million
    assert call["cost"] == round((50_000 * 2.00 + 2_400 * 0.50 + 120 * 8.00) / 1_000_000, 10)
    assert call["prompt_preview"] == "When does water boil?"
    assert call["response_preview"] == "Water boils at 100 °C at sea level."
    assert call["attributes"]["operation"] == "responses"
    assert call["attributes"]["response_status"] == "completed"
    assert "finish_reason" not in call["attributes"]
    conversation = run["conversation"]
    assert conversation["context_utilization_pct"] == 5.0  # 52 400 of gpt-4.1's 1 047 576
    assert [(s["name"], s["output"]) for s in run["spans"] if s["kind"] == "io"] == [
        ("user_message", None), ("agent_response", "Water boils at 100 °C at sea level."),
    ]  # fmt: skip


def test_responses_function_call_and_reasoning_tokens(client: Any, stub: Any, read_run: Any) -> None:
    body = p.response(
        "o3-2025-04-16", [{"id": "rs_1", "type": "reasoning", "summary": []},
                          p.function_call_item("lookup_order", '{"order_id": "A-17"}', call_id="call_77")],
        input_tokens=200, output_tokens=700, reasoning=640,
    )  # fmt: skip
    stub.reply_json(body)
    items = [{"role": "user", "content": [{"type": "input_text", "text": "Where is order A-17?"}]}]
    tools = [{"type": "function", "name": "lookup_order", "parameters": {"type": "object"}},
             {"type": "function", "name": "cancel_order", "parameters": {"type": "object"}}]  # fmt: skip
    with WaxellContext(agent_name="support") as ctx:
        client.responses.create(model="o3", input=items, tools=tools)
    run = read_run(ctx.run_id)
    call = only_call(run)
    assert call["attributes"]["reasoning_tokens"] == 640
    assert call["attributes"]["tool_calls"] == ["lookup_order"]
    assert call["attributes"]["finish_reason"] == "tool_calls"
    assert call["prompt_preview"] == "Where is order A-17?"
    decision = next(s for s in run["spans"] if s["kind"] == "decision")
    assert decision["input"] == {"options": ["lookup_order", "cancel_order"]}
    assert decision["output"] == {"chosen": "lookup_order"}
    assert decision["attributes"]["metadata"]["tool_call_id"] == "call_77"
    assert decision["attributes"]["metadata"]["arguments"] == '{"order_id": "A-17"}'


def test_responses_stream_true_and_stream_helper(client: Any, stub: Any, read_run: Any) -> None:
    final = p.response(MODEL, [p.message_item("Hello there")], input_tokens=30, output_tokens=3)
    events = p.response_events(["Hello", " there"], final)
    stub.reply_sse(sse_openai(events, done=False))
    stub.reply_sse(sse_openai(events, done=False))
    with WaxellContext(agent_name="streamer") as ctx:
        stream = client.responses.create(model="gpt-4.1", input="Greet me", stream=True)
        types = [event.type for event in stream]
        with client.responses.stream(model="gpt-4.1", input="Greet me") as helper:
            for _ in helper:
                pass
            assert helper.get_final_response().output_text == "Hello there"
    assert types == [e["type"] for e in events]
    calls = read_run(ctx.run_id)["llm_calls"]
    assert len(calls) == 2
    for call in calls:
        assert (call["model"], call["tokens_in"], call["tokens_out"]) == (MODEL, 30, 3)
        assert call["response_preview"] == "Hello there"
        assert call["attributes"]["stream"] is True
        assert call["attributes"]["ttft_ms"] > 0
        assert "partial" not in call["attributes"]


def test_responses_stream_abandoned_keeps_the_text_so_far(client: Any, stub: Any, read_run: Any) -> None:
    final = p.response(MODEL, [p.message_item("Hello there")], input_tokens=30, output_tokens=3)
    stub.reply_sse(sse_openai(p.response_events(["Hello", " there"], final), done=False), pause_after=4)
    with (
        WaxellContext(agent_name="streamer") as ctx,
        client.responses.create(model="gpt-4.1", input="Greet me", stream=True) as stream,
    ):
        for event in stream:
            if event.type == "response.output_text.delta":
                break
    call = only_call(read_run(ctx.run_id))
    assert call["attributes"]["partial"] is True
    assert call["response_preview"] == "Hello"
    assert call["model"] == MODEL  # from response.created


def test_failed_response_is_recorded_as_an_error(client: Any, stub: Any, read_run: Any) -> None:
    final = p.response(MODEL, [], input_tokens=30, output_tokens=0, status="failed")
    final["error"] = {"code": "server_error", "message": "The model crashed"}
    stub.reply_sse(
        sse_openai([{"type": "response.failed", "sequence_number": 0, "response": final}], done=False)
    )
    with WaxellContext(agent_name="streamer") as ctx:
        events = [e.type for e in client.responses.create(model="gpt-4.1", input="Greet me", stream=True)]
    assert events == ["response.failed"]
    call = only_call(read_run(ctx.run_id))
    assert (call["status"], call["error_type"], call["error_message"]) == (
        "error",
        "server_error",
        "The model crashed",
    )
    assert call["tokens_in"] == 30


def test_async_responses_create(aclient: Any, stub: Any, read_run: Any) -> None:
    stub.reply_json(p.response(MODEL, [p.message_item("Yes.")], input_tokens=8, output_tokens=1))

    async def main() -> str:
        async with WaxellContext(agent_name="async") as ctx:
            answer = await aclient.responses.create(model="gpt-4.1", input="Ok?")
            assert answer.output_text == "Yes."
        return ctx.run_id

    call = only_call(read_run(asyncio.run(main())))
    assert (call["tokens_in"], call["tokens_out"], call["response_preview"]) == (8, 1, "Yes.")


def test_embeddings_are_recorded_without_touching_the_conversation(
    client: Any, stub: Any, read_run: Any
) -> None:
    stub.reply_json(
        p.embedding_response("text-embedding-3-small", [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], 1_500_000)
    )
    with WaxellContext(agent_name="indexer") as ctx:
        result = client.embeddings.create(model="text-embedding-3-small", input=["first doc", "second doc"])
        assert ctx.message_count == 0
    assert len(result.data) == 2
    assert json.loads(json.dumps(stub.requests[0].body))["input"] == ["first doc", "second doc"]
    run = read_run(ctx.run_id)
    call = only_call(run)
    assert (call["model"], call["tokens_in"], call["tokens_out"]) == ("text-embedding-3-small", 1_500_000, 0)
    assert call["cost"] == 0.03  # 1.5M tokens at $0.02 per million
    assert call["prompt_preview"] == "first doc\nsecond doc"
    assert call["response_preview"] == ""
    assert call["attributes"]["embeddings"] == 2
    assert call["attributes"]["dimensions"] == 3
    assert call["attributes"]["operation"] == "embeddings"
    assert run["conversation"] == {}
    assert [s for s in run["spans"] if s["kind"] == "io"] == []


def test_async_embeddings(aclient: Any, stub: Any, read_run: Any) -> None:
    stub.reply_json(p.embedding_response("text-embedding-3-large", [[0.5, 0.25]], 2_000_000))

    async def main() -> str:
        async with WaxellContext(agent_name="async-indexer") as ctx:
            await aclient.embeddings.create(model="text-embedding-3-large", input="one document")
        return ctx.run_id

    call = only_call(read_run(asyncio.run(main())))
    assert (call["model"], call["tokens_in"], call["cost"]) == ("text-embedding-3-large", 2_000_000, 0.26)
    assert call["prompt_preview"] == "one document"


def test_a_streamed_response_records_cached_and_reasoning_tokens_from_the_completed_event(
    client: Any, stub: Any, read_run: Any
) -> None:
    final = p.response(
        "o4-mini-2025-04-16", [p.message_item("42")],
        input_tokens=3_000, output_tokens=900, cached=2_048, reasoning=896,
    )  # fmt: skip
    stub.reply_sse(sse_openai(p.response_events(["4", "2"], final), done=False), delay_first=0.05)
    with WaxellContext(agent_name="reasoner") as ctx:
        stream = client.responses.create(model="o4-mini", input="The answer?", stream=True)
        assert [e.type for e in stream][-1] == "response.completed"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["tokens_in"], call["tokens_out"]) == ("o4-mini-2025-04-16", 3_000, 900)
    assert call["attributes"]["cached_tokens_in"] == 2_048
    assert call["attributes"]["reasoning_tokens"] == 896
    # (952 uncached * $1.10 + 2048 cached * $0.275 + 900 out * $4.40) per million
    assert call["cost"] == round((952 * 1.10 + 2_048 * 0.275 + 900 * 4.40) / 1_000_000, 10)
    assert call["response_preview"] == "42"
    assert call["attributes"]["ttft_ms"] >= 50


async def test_async_responses_stream_and_stream_helper_with_cached_and_reasoning_tokens(
    aclient: Any, stub: Any, read_run: Any
) -> None:
    final = p.response(
        "o3-2025-04-16", [p.message_item("Done.")],
        input_tokens=1_200, output_tokens=300, cached=1_024, reasoning=256,
    )  # fmt: skip
    events = p.response_events(["Do", "ne."], final)
    stub.reply_sse(sse_openai(events, done=False))
    stub.reply_sse(sse_openai(events, done=False))
    async with WaxellContext(agent_name="async-reasoner") as ctx:
        stream = await aclient.responses.create(model="o3", input="Finish", stream=True)
        types = [event.type async for event in stream]
        async with aclient.responses.stream(model="o3", input="Finish") as helper:
            async for _ in helper:
                pass
            assert (await helper.get_final_response()).output_text == "Done."
    assert types == [e["type"] for e in events]
    calls = read_run(ctx.run_id)["llm_calls"]
    assert len(calls) == 2  # one record per stream, the helper's included
    for call in calls:
        assert (call["model"], call["tokens_in"], call["tokens_out"]) == ("o3-2025-04-16", 1_200, 300)
        assert (call["attributes"]["cached_tokens_in"], call["attributes"]["reasoning_tokens"]) == (
            1_024,
            256,
        )
        assert call["cost"] == round((176 * 2.00 + 1_024 * 0.50 + 300 * 8.00) / 1_000_000, 10)
        assert call["attributes"]["stream"] is True
        assert call["response_preview"] == "Done."


async def test_async_responses_create_with_cached_and_reasoning_tokens(
    aclient: Any, stub: Any, read_run: Any
) -> None:
    stub.reply_json(
        p.response(
            "o3-2025-04-16",
            [p.message_item("Yes.")],
            input_tokens=5_000,
            output_tokens=600,
            cached=4_096,
            reasoning=512,
        )  # fmt: skip
    )
    async with WaxellContext(agent_name="async-cached") as ctx:
        await aclient.responses.create(model="o3", input="Again?")
    call = only_call(read_run(ctx.run_id))
    assert (call["attributes"]["cached_tokens_in"], call["attributes"]["reasoning_tokens"]) == (4_096, 512)
    assert call["cost"] == round((904 * 2.00 + 4_096 * 0.50 + 600 * 8.00) / 1_000_000, 10)


def test_reasoning_tokens_are_billed_as_output(client: Any, stub: Any, read_run: Any) -> None:
    stub.reply_json(
        p.response(
            "o3-2025-04-16", [p.message_item("Fine.")], input_tokens=100, output_tokens=1_000, reasoning=960
        )
    )
    with WaxellContext(agent_name="reasoning-cost") as ctx:
        client.responses.create(model="o3", input="How are you?")
    call = only_call(read_run(ctx.run_id))
    assert call["attributes"]["reasoning_tokens"] == 960
    assert call["cost"] == round((100 * 2.00 + 1_000 * 8.00) / 1_000_000, 10)


@pytest.mark.parametrize("endpoint", ["responses", "embeddings"])
def test_http_errors_of_responses_and_embeddings_are_recorded_and_reraised_unchanged(
    client: Any, stub: Any, read_run: Any, endpoint: str
) -> None:
    error = {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}
    stub.reply_json({"error": error}, status=429)
    with WaxellContext(agent_name=f"{endpoint}-error") as ctx, pytest.raises(openai.RateLimitError) as raised:
        if endpoint == "responses":
            client.responses.create(model="gpt-4.1", input="hi")
        else:
            client.embeddings.create(model="text-embedding-3-small", input="hi")
    assert raised.type is openai.RateLimitError
    assert raised.value.body == error
    call = only_call(read_run(ctx.run_id))
    assert (call["status"], call["error_type"]) == ("error", "RateLimitError")
    assert "Rate limit reached" in call["error_message"]
    assert call["attributes"]["http_status"] == 429
    assert call["attributes"]["operation"] == endpoint
    assert (call["tokens_in"], call["tokens_out"], call["cost"]) == (0, 0, 0.0)


async def test_async_embeddings_error(aclient: Any, stub: Any, read_run: Any) -> None:
    stub.reply_json({"error": {"message": "bad input", "type": "invalid_request_error"}}, status=400)
    async with WaxellContext(agent_name="async-embed-error") as ctx:
        with pytest.raises(openai.BadRequestError):
            await aclient.embeddings.create(model="text-embedding-3-small", input="")
    call = only_call(read_run(ctx.run_id))
    assert (call["status"], call["error_type"], call["attributes"]["http_status"]) == (
        "error",
        "BadRequestError",
        400,
    )


def test_responses_parse_is_recorded(client: Any, stub: Any, read_run: Any) -> None:
    from pydantic import BaseModel

    class Verdict(BaseModel):
        safe: bool
        reason: str

    stub.reply_json(
        p.response(
            "gpt-4.1-2025-04-14",
            [p.message_item('{"safe": true, "reason": "no PII"}')],
            input_tokens=80,
            output_tokens=12,
            cached=64,
        )  # fmt: skip
    )
    with WaxellContext(agent_name="parser") as ctx:
        parsed = client.responses.parse(model="gpt-4.1", input="Is this safe?", text_format=Verdict)
    assert parsed.output_parsed == Verdict(safe=True, reason="no PII")
    assert stub.requests[0].body["text"]["format"]["type"] == "json_schema"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["tokens_in"], call["tokens_out"]) == ("gpt-4.1-2025-04-14", 80, 12)
    assert call["attributes"]["cached_tokens_in"] == 64
    assert call["response_preview"] == '{"safe": true, "reason": "no PII"}'


@pytest.fixture
def refuse_o3() -> Any:
    from waxell_observe.config import get_config
    from waxell_observe.gating import forget
    from waxell_observe.governance import load_policies
    from waxell_observe.governance.policy_store import add_policies
    from waxell_observe.store import get_store

    forget()
    policy = (
        "policies:\n"
        "  - {name: models, category: llm, rules: {blocked_models: [o3, text-embedding-3-large]}}\n"
    )
    add_policies(get_store(get_config().db_url), load_policies(policy))
    yield
    forget()


def test_llm_before_refuses_responses_and_streams_before_they_are_sent(
    client: Any, stub: Any, read_run: Any, refuse_o3: Any
) -> None:
    from waxell_observe.errors import PolicyViolationError

    with WaxellContext(agent_name="refused-responses") as ctx:
        with pytest.raises(PolicyViolationError, match="o3"):
            client.responses.create(model="o3", input="hi")
        with pytest.raises(PolicyViolationError, match="o3"):
            client.responses.create(model="o3", input="hi", stream=True)
        with pytest.raises(PolicyViolationError, match="o3"):
            client.responses.stream(model="o3", input="hi").__enter__()
    assert stub.requests == []
    run = read_run(ctx.run_id)
    assert (run["llm_calls"], run["status"]) == ([], "blocked")


async def test_llm_before_refuses_async_embeddings_before_they_are_sent(
    aclient: Any, stub: Any, read_run: Any, refuse_o3: Any
) -> None:
    from waxell_observe.errors import PolicyViolationError

    async with WaxellContext(agent_name="refused-embeddings") as ctx:
        with pytest.raises(PolicyViolationError, match="text-embedding-3-large"):
            await aclient.embeddings.create(model="text-embedding-3-large", input="a document")
    assert stub.requests == []
    assert read_run(ctx.run_id)["llm_calls"] == []
