"""Streamed chat completions: ``stream=True`` (sync, async) and the ``.stream()`` helper."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import openai
import pytest

from integrations.llm_stub import sse_openai
from integrations.openai import payloads as p
from waxell_observe import WaxellContext

QUESTION = [{"role": "user", "content": "Count to three"}]
MODEL = "gpt-4o-mini-2024-07-18"


def only_call(run: dict[str, Any]) -> dict[str, Any]:
    assert len(run["llm_calls"]) == 1, run["llm_calls"]
    return run["llm_calls"][0]


def test_stream_hands_over_the_chunks_and_records_usage_from_the_final_chunk(
    client: Any, stub: Any, read_run: Any
) -> None:
    chunks = p.text_chunks(MODEL, ["One", ", two", ", three."], usage_=p.usage(1300, 5, cached=1024))
    stub.reply_sse(sse_openai(chunks), delay_first=0.05)
    with WaxellContext(agent_name="streamer") as ctx:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=QUESTION, stream=True, stream_options={"include_usage": True}
        )
        assert isinstance(stream, openai.Stream)
        received = [chunk.model_dump(exclude_unset=True) for chunk in stream]
        # the call is recorded (and the conversation updated) as soon as the stream ends
        assert ctx.run.llm_call_count == 1
        assert ctx.message_count == 1 and ctx.conversation_turns == 1
    assert received == chunks
    assert stub.requests[0].body["stream"] is True

    run = read_run(ctx.run_id)
    call = only_call(run)
    assert call["model"] == MODEL
    assert (call["tokens_in"], call["tokens_out"]) == (1300, 5)
    assert call["attributes"]["cached_tokens_in"] == 1024
    assert call["cost"] == round((276 * 0.15 + 1024 * 0.075 + 5 * 0.60) / 1_000_000, 10)
    assert call["response_preview"] == "One, two, three."
    assert call["attributes"]["stream"] is True
    assert call["attributes"]["finish_reason"] == "stop"
    assert "partial" not in call["attributes"]
    # the stub waited 50 ms before the first chunk; the first text chunk came after that
    assert call["attributes"]["ttft_ms"] >= 50
    assert call["duration_ms"] >= call["attributes"]["ttft_ms"]
    assert [(s["name"], s["output"]) for s in run["spans"] if s["kind"] == "io"] == [
        ("user_message", None), ("agent_response", "One, two, three."),
    ]  # fmt: skip


def test_stream_without_usage_is_recorded_with_usage_reported_false(
    client: Any, stub: Any, read_run: Any
) -> None:
    stub.reply_sse(sse_openai(p.text_chunks(MODEL, ["Hi"], usage_=None)))
    with WaxellContext(agent_name="streamer") as ctx:
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="gpt-4o-mini", messages=QUESTION, stream=True))  # fmt: skip
    assert text == "Hi"
    call = only_call(read_run(ctx.run_id))
    assert (call["tokens_in"], call["tokens_out"], call["cost"]) == (0, 0, 0.0)
    assert call["attributes"]["usage_reported"] is False
    assert call["response_preview"] == "Hi"


def test_streamed_tool_calls_are_assembled_from_deltas(client: Any, stub: Any, read_run: Any) -> None:
    chunks = [
        p.chunk(
            MODEL,
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_w",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ],
            },
        ),
        p.chunk(MODEL, {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
        p.chunk(
            MODEL,
            {"tool_calls": [{"index": 0, "function": {"arguments": '"Lima"}'}}]},
            finish_reason="tool_calls",
        ),
        p.chunk(MODEL, None, usage_=p.usage(40, 12)),
    ]
    stub.reply_sse(sse_openai(chunks))
    with WaxellContext(agent_name="streamer") as ctx:
        for _ in client.chat.completions.create(
            model="gpt-4o-mini",
            messages=QUESTION,
            stream=True,
            stream_options={"include_usage": True},
            tools=[
                {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
            ],
        ):
            pass
    run = read_run(ctx.run_id)
    call = only_call(run)
    assert call["attributes"]["tool_calls"] == ["get_weather"]
    assert call["response_preview"] == "[tool calls: get_weather]"
    decision = next(s for s in run["spans"] if s["kind"] == "decision")
    assert decision["output"] == {"chosen": "get_weather"}
    assert decision["attributes"]["metadata"]["arguments"] == '{"city": "Lima"}'
    assert decision["attributes"]["metadata"]["tool_call_id"] == "call_w"


def test_stream_closed_half_way_is_recorded_as_partial(client: Any, stub: Any, read_run: Any) -> None:
    chunks = p.text_chunks(MODEL, ["Once", " upon", " a time"], usage_=p.usage(20, 9))
    stub.reply_sse(sse_openai(chunks), pause_after=2)
    with WaxellContext(agent_name="impatient") as ctx:
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, stream=True)
        iterator = iter(stream)
        next(iterator), next(iterator)
        stream.close()
        assert ctx.run.llm_call_count == 1  # recorded on close, inside the run
        assert ctx.message_count == 1  # the question was sent: it is part of the conversation
    call = only_call(read_run(ctx.run_id))
    assert call["attributes"]["partial"] is True
    assert call["response_preview"] == "Once"
    assert call["attributes"]["usage_reported"] is False
    assert call["model"] == MODEL


def test_stream_dropped_half_way_is_recorded_when_collected(client: Any, stub: Any, read_run: Any) -> None:
    stub.reply_sse(sse_openai(p.text_chunks(MODEL, ["Alpha", " beta"], usage_=None)), pause_after=2)
    with WaxellContext(agent_name="forgetful") as ctx:
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, stream=True)
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
        del stream, chunk
        gc.collect()
        assert ctx.run.llm_call_count == 1
    call = only_call(read_run(ctx.run_id))
    assert call["attributes"]["partial"] is True
    assert call["response_preview"] == "Alpha"


def test_stream_as_context_manager(client: Any, stub: Any, read_run: Any) -> None:
    stub.reply_sse(sse_openai(p.text_chunks(MODEL, ["a", "b"], usage_=p.usage(3, 2))))
    with (
        WaxellContext(agent_name="cm") as ctx,
        client.chat.completions.create(
            model="gpt-4o-mini", messages=QUESTION, stream=True, stream_options={"include_usage": True}
        ) as stream,
    ):
        assert [c.choices[0].delta.content for c in stream if c.choices] == ["", "a", "b"]
    call = only_call(read_run(ctx.run_id))
    assert (call["tokens_in"], call["tokens_out"], call["response_preview"]) == (3, 2, "ab")
    assert "partial" not in call["attributes"]


def test_error_in_the_middle_of_a_stream_is_recorded_and_reraised(
    client: Any, stub: Any, read_run: Any
) -> None:
    events = sse_openai(p.text_chunks(MODEL, ["Part"], usage_=None), done=False)[:2]
    events.append(b'data: {"error": {"message": "stub overloaded mid-stream", "type": "server_error"}}\n\n')
    stub.reply_sse(events)
    with WaxellContext(agent_name="unlucky") as ctx:
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, stream=True)
        with pytest.raises(openai.APIError, match="stub overloaded mid-stream"):
            for _ in stream:
                pass
    call = only_call(read_run(ctx.run_id))
    assert call["status"] == "error"
    assert call["error_type"] == "APIError"
    assert call["error_message"] == "stub overloaded mid-stream"
    assert call["response_preview"] == "Part"
    assert call["attributes"]["partial"] is True


def test_async_stream(aclient: Any, stub: Any, read_run: Any) -> None:
    chunks = p.text_chunks(MODEL, ["x", "y", "z"], usage_=p.usage(11, 3))
    stub.reply_sse(sse_openai(chunks))

    async def main() -> tuple[str, list[dict[str, Any]]]:
        async with WaxellContext(agent_name="async-streamer") as ctx:
            stream = await aclient.chat.completions.create(
                model="gpt-4o-mini", messages=QUESTION, stream=True, stream_options={"include_usage": True}
            )
            assert isinstance(stream, openai.AsyncStream)
            received = [c.model_dump(exclude_unset=True) async for c in stream]
            assert ctx.run.llm_call_count == 1
        return ctx.run_id, received

    run_id, received = asyncio.run(main())
    assert received == chunks
    call = only_call(read_run(run_id))
    assert (call["tokens_in"], call["tokens_out"], call["response_preview"]) == (11, 3, "xyz")


def test_stream_helper_records_one_call(client: Any, stub: Any, read_run: Any) -> None:
    stub.reply_sse(sse_openai(p.text_chunks(MODEL, ["Hel", "lo"], usage_=p.usage(9, 2))))
    with (
        WaxellContext(agent_name="helper") as ctx,
        client.chat.completions.stream(
            model="gpt-4o-mini", messages=QUESTION, stream_options={"include_usage": True}
        ) as stream,
    ):
        deltas = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert deltas == ["", "Hel", "lo"]
    assert final.choices[0].message.content == "Hello"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["tokens_in"], call["tokens_out"]) == (MODEL, 9, 2)
    assert call["response_preview"] == "Hello"
    assert "partial" not in call["attributes"]


def test_stream_helper_left_half_way_is_partial(client: Any, stub: Any, read_run: Any) -> None:
    stub.reply_sse(sse_openai(p.text_chunks(MODEL, ["Lorem", " ipsum"], usage_=p.usage(9, 2))), pause_after=2)
    with WaxellContext(agent_name="helper") as ctx:
        with client.chat.completions.stream(model="gpt-4o-mini", messages=QUESTION) as stream:
            for event in stream:
                if event.type == "content.delta" and event.delta:
                    break
        assert ctx.run.llm_call_count == 1  # the manager's exit closed the response: recorded now
    call = only_call(read_run(ctx.run_id))
    assert call["attributes"]["partial"] is True
    assert call["response_preview"] == "Lorem"


def test_async_stream_helper(aclient: Any, stub: Any, read_run: Any) -> None:
    stub.reply_sse(sse_openai(p.text_chunks(MODEL, ["A", "B"], usage_=p.usage(5, 2))))

    async def main() -> str:
        async with WaxellContext(agent_name="async-helper") as ctx:
            async with aclient.chat.completions.stream(
                model="gpt-4o-mini", messages=QUESTION, stream_options={"include_usage": True}
            ) as stream:
                final = await stream.get_final_completion()
            assert final.choices[0].message.content == "AB"
        return ctx.run_id

    call = only_call(read_run(asyncio.run(main())))
    assert (call["tokens_in"], call["tokens_out"], call["response_preview"]) == (5, 2, "AB")


def test_stream_outliving_its_run_goes_to_the_collector(
    client: Any, stub: Any, read_run: Any, read_runs: Any
) -> None:
    stub.reply_sse(sse_openai(p.text_chunks(MODEL, ["late"], usage_=p.usage(4, 1))))
    with WaxellContext(agent_name="short-lived") as ctx:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=QUESTION, stream=True, stream_options={"include_usage": True}
        )
    assert [c.choices[0].delta.content for c in stream if c.choices] == ["", "late"]
    assert read_run(ctx.run_id)["llm_calls"] == []
    runs = read_runs(agent_name=f"auto:{MODEL}")
    assert [(r["tokens_in"], r["tokens_out"], r["llm_call_count"]) for r in runs] == [(4, 1, 1)]
