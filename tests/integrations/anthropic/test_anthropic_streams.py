"""Streamed messages: ``messages.create(stream=True)`` and ``messages.stream()``, sync and async."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import anthropic
import pytest

from integrations.anthropic import payloads as p
from integrations.llm_stub import sse_anthropic
from waxell_observe import WaxellContext

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

MODEL = "claude-haiku-4-5-20251001"
QUESTION = [{"role": "user", "content": "Write a haiku about rain"}]
HAIKU = ["Soft rain ", "on the roof, ", "a quiet song."]


def only_call(run: dict[str, Any]) -> dict[str, Any]:
    assert len(run["llm_calls"]) == 1, run["llm_calls"]
    return run["llm_calls"][0]


def test_stream_true_hands_over_events_and_takes_cumulative_usage(
    client: Any, stub: Any, read_run: Any
) -> None:
    events = p.stream_events(
        MODEL,
        HAIKU,
        start_usage=p.usage(40, 1, cache_read=1000),
        # message_delta usage is cumulative: the last one is the total, not an increment
        deltas=[
            {"output_tokens": 6},
            {"output_tokens": 15, "input_tokens": 40, "cache_read_input_tokens": 1000},
        ],
    )
    stub.reply_sse(sse_anthropic(events), delay_first=0.05)
    with WaxellContext(agent_name="poet") as ctx:
        stream = client.messages.create(
            model="claude-haiku-4-5", max_tokens=100, messages=QUESTION, stream=True
        )
        assert isinstance(stream, anthropic.Stream)
        received = [event.model_dump(exclude_unset=True) for event in stream]
        assert ctx.run.llm_call_count == 1
        assert ctx.message_count == 1
    assert received == events
    run = read_run(ctx.run_id)
    call = only_call(run)
    assert call["model"] == MODEL
    assert (call["tokens_in"], call["tokens_out"]) == (1040, 15)
    assert call["attributes"]["cached_tokens_in"] == 1000
    assert call["cost"] == round((40 * 1.00 + 1000 * 0.10 + 15 * 5.00) / 1_000_000, 10)
    assert call["response_preview"] == "Soft rain on the roof, a quiet song."
    assert call["attributes"]["finish_reason"] == "end_turn"
    assert call["attributes"]["ttft_ms"] >= 50
    assert "partial" not in call["attributes"]
    assert [s["output"] for s in run["spans"] if s["name"] == "agent_response"] == [
        "Soft rain on the roof, a quiet song."
    ]


def test_stream_helper_text_stream_and_final_message(client: Any, stub: Any, read_run: Any) -> None:
    events = p.stream_events(MODEL, HAIKU, start_usage=p.usage(25, 1), deltas=[{"output_tokens": 12}])
    stub.reply_sse(sse_anthropic(events))
    with WaxellContext(agent_name="poet") as ctx:
        with client.messages.stream(
            model="claude-haiku-4-5", max_tokens=100, system="Be poetic", messages=QUESTION
        ) as s:
            pieces = list(s.text_stream)
            final = s.get_final_message()
            assert s.get_final_text() == "".join(HAIKU)
        assert ctx.message_count == 2  # the system prompt and the question
    assert pieces == HAIKU
    assert final.usage.output_tokens == 12
    assert stub.requests[0].body["system"] == "Be poetic"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["tokens_in"], call["tokens_out"]) == (MODEL, 25, 12)
    assert call["response_preview"] == "".join(HAIKU)
    assert call["attributes"]["stream"] is True
    assert "partial" not in call["attributes"]


def test_stream_helper_get_final_message_without_iterating(client: Any, stub: Any, read_run: Any) -> None:
    stub.reply_sse(
        sse_anthropic(
            p.stream_events(MODEL, ["Drip."], start_usage=p.usage(9, 1), deltas=[{"output_tokens": 3}])
        )
    )
    with (
        WaxellContext(agent_name="poet") as ctx,
        client.messages.stream(model="claude-haiku-4-5", max_tokens=10, messages=QUESTION) as s,
    ):
        assert s.get_final_message().content[0].text == "Drip."
    call = only_call(read_run(ctx.run_id))
    assert (call["tokens_in"], call["tokens_out"], call["response_preview"]) == (9, 3, "Drip.")


def test_streamed_tool_use_is_assembled(client: Any, stub: Any, read_run: Any) -> None:
    events = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_t",
                "type": "message",
                "role": "assistant",
                "model": MODEL,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 60, "output_tokens": 1},
            },
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_s", "name": "get_weather", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"city":'},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": ' "Oslo"}'},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 20},
        },
        {"type": "message_stop"},
    ]
    stub.reply_sse(sse_anthropic(events))
    with WaxellContext(agent_name="tools") as ctx, client.messages.stream(
        model="claude-haiku-4-5", max_tokens=100, messages=QUESTION,
        tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
    ) as s:  # fmt: skip
        assert s.get_final_message().content[0].input == {"city": "Oslo"}
    run = read_run(ctx.run_id)
    call = only_call(run)
    assert call["attributes"]["tool_calls"] == ["get_weather"]
    assert call["attributes"]["finish_reason"] == "tool_use"
    decision = next(s for s in run["spans"] if s["kind"] == "decision")
    assert decision["output"] == {"chosen": "get_weather"}
    assert decision["attributes"]["metadata"]["arguments"] == '{"city":"Oslo"}'
    assert decision["attributes"]["metadata"]["tool_call_id"] == "toolu_s"


def test_stream_helper_left_half_way_is_partial(client: Any, stub: Any, read_run: Any) -> None:
    events = p.stream_events(MODEL, HAIKU, start_usage=p.usage(30, 1), deltas=[{"output_tokens": 12}])
    stub.reply_sse(sse_anthropic(events), pause_after=3)  # message_start, block start, first text delta
    with WaxellContext(agent_name="impatient") as ctx:
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=QUESTION) as s:
            first = next(iter(s.text_stream))
        assert ctx.run.llm_call_count == 1  # recorded when the manager closed the stream
    assert first == "Soft rain "
    call = only_call(read_run(ctx.run_id))
    assert call["attributes"]["partial"] is True
    assert call["response_preview"] == "Soft rain "
    # usage so far: message_start's
    assert (call["tokens_in"], call["tokens_out"]) == (30, 1)


def test_raw_stream_dropped_half_way_is_recorded_when_collected(
    client: Any, stub: Any, read_run: Any
) -> None:
    events = p.stream_events(MODEL, HAIKU, start_usage=p.usage(30, 1), deltas=[{"output_tokens": 12}])
    stub.reply_sse(sse_anthropic(events), pause_after=3)
    with WaxellContext(agent_name="forgetful") as ctx:
        stream = client.messages.create(
            model="claude-haiku-4-5", max_tokens=100, messages=QUESTION, stream=True
        )
        for event in stream:
            if event.type == "content_block_delta":
                break
        del stream, event
        gc.collect()
        assert ctx.run.llm_call_count == 1
    call = only_call(read_run(ctx.run_id))
    assert call["attributes"]["partial"] is True
    assert call["response_preview"] == "Soft rain "


def test_error_event_mid_stream_is_recorded_and_reraised(client: Any, stub: Any, read_run: Any) -> None:
    events = p.stream_events(MODEL, HAIKU, start_usage=p.usage(30, 1), deltas=[{"output_tokens": 12}])[:3]
    raw = sse_anthropic(events)
    raw.append(
        b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": '
        b'"Overloaded"}}\n\n'
    )
    stub.reply_sse(raw)
    with (
        WaxellContext(agent_name="unlucky") as ctx,
        pytest.raises(anthropic.APIStatusError, match="Overloaded"),
    ):
        for _ in client.messages.create(
            model="claude-haiku-4-5", max_tokens=100, messages=QUESTION, stream=True
        ):
            pass
    call = only_call(read_run(ctx.run_id))
    assert call["status"] == "error"
    assert call["attributes"]["partial"] is True
    assert call["response_preview"] == "Soft rain "
    assert (call["tokens_in"], call["tokens_out"]) == (30, 1)


def test_async_stream_true_and_async_stream_helper(aclient: Any, stub: Any, read_run: Any) -> None:
    first = p.stream_events(MODEL, ["a", "b"], start_usage=p.usage(10, 1), deltas=[{"output_tokens": 4}])
    second = p.stream_events(
        MODEL, ["c"], start_usage=p.usage(12, 1), deltas=[{"output_tokens": 2}], message_id="m2"
    )
    stub.reply_sse(sse_anthropic(first))
    stub.reply_sse(sse_anthropic(second))

    async def main() -> tuple[str, list[str], str]:
        async with WaxellContext(agent_name="async-poet") as ctx:
            stream = await aclient.messages.create(
                model="claude-haiku-4-5", max_tokens=10, messages=QUESTION, stream=True
            )
            assert isinstance(stream, anthropic.AsyncStream)
            types = [event.type async for event in stream]
            async with aclient.messages.stream(
                model="claude-haiku-4-5", max_tokens=10, messages=QUESTION
            ) as s:
                text = await s.get_final_text()
            assert ctx.run.llm_call_count == 2
        return ctx.run_id, types, text

    run_id, types, text = asyncio.run(main())
    assert types == [e["type"] for e in first]
    assert text == "c"
    calls = read_run(run_id)["llm_calls"]
    assert [(c["tokens_in"], c["tokens_out"], c["response_preview"]) for c in calls] == [
        (10, 4, "ab"),
        (12, 2, "c"),
    ]
