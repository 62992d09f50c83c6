"""The cohere SDK (v2 clients) against the stub: chat (sync, async, streamed), tool calls, embed, errors,
governance before a request leaves, a late import."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cohere
import pytest

from integrations.llm_stub import StubLLMServer, sse_anthropic
from integrations.providers.common import block_model, cost, only_call
from integrations.providers.late_import import run_late_import
from waxell_observe import WaxellContext
from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating import forget

MODEL = "command-a-03-2025"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of Peru?"}]


@pytest.fixture(autouse=True)
def _fresh_gates() -> Iterator[None]:
    forget()
    yield
    forget()


@pytest.fixture
def instrumented_library() -> str:
    return "cohere"


@pytest.fixture
def client(stub: StubLLMServer, instrumented: Any) -> cohere.ClientV2:
    return cohere.ClientV2(api_key="test-key", base_url=stub.base_url, max_retries=0)


def usage(
    billed_in: int, billed_out: int, tokens_in: int, tokens_out: int, cached: int = 0
) -> dict[str, Any]:
    """A v2 ``usage`` body (Cohere sends the counts as numbers that may be floats)."""
    return {
        "billed_units": {"input_tokens": float(billed_in), "output_tokens": float(billed_out)},
        "tokens": {"input_tokens": float(tokens_in), "output_tokens": float(tokens_out)},
        "cached_tokens": float(cached),
    }


def chat_response(text: str, usage_: dict[str, Any], **message: Any) -> dict[str, Any]:
    return {
        "id": "resp-1",
        "finish_reason": message.pop("finish_reason", "COMPLETE"),
        "message": {
            "role": "assistant",
            "content": [{"type": "text", "text": text}] if text else [],
            **message,
        },
        "usage": usage_,
    }


def stream_events(pieces: list[str], usage_: dict[str, Any]) -> list[bytes]:
    events: list[dict[str, Any]] = [
        {"type": "message-start", "id": "resp-2", "delta": {"message": {"role": "assistant"}}},
        {
            "type": "content-start",
            "index": 0,
            "delta": {"message": {"content": {"type": "text", "text": ""}}},
        },
    ]
    events += [
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": piece}}}}
        for piece in pieces
    ]
    events += [
        {"type": "content-end", "index": 0},
        {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": usage_}},
    ]
    return sse_anthropic(events)


def test_chat_records_billed_tokens_cost_and_conversation(
    client: cohere.ClientV2, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(chat_response("Lima.", usage(12, 3, 520, 3, cached=8)))
    with WaxellContext(agent_name="cohere-agent") as ctx:
        answer = client.chat(model=MODEL, messages=MESSAGES, temperature=0.3)
        assert ctx.message_count == 2
    assert answer.message.content[0].text == "Lima."
    assert stub.requests[0].path == "/v2/chat"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["provider"], call["tokens_in"], call["tokens_out"]) == (
        MODEL,
        "cohere",
        12,
        3,
    )
    assert call["attributes"]["usage_tokens"] == {"input": 520, "output": 3}
    assert call["attributes"]["cached_tokens_in"] == 8
    assert call["cost"] == cost(MODEL, 12, 3, cached=8) == round((12 * 2.50 + 3 * 10.00) / 1e6, 10)
    assert (call["prompt_preview"], call["response_preview"], call["status"]) == (
        "Capital of Peru?",
        "Lima.",
        "ok",
    )
    assert (call["attributes"]["response_id"], call["attributes"]["finish_reason"]) == ("resp-1", "COMPLETE")
    assert call["attributes"]["request"] == {"temperature": 0.3}


def test_streamed_chat_records_usage_of_message_end_and_time_to_first_token(
    client: cohere.ClientV2, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_sse(stream_events(["Li", "ma."], usage(30, 3, 300, 3)))
    with WaxellContext(agent_name="cohere-stream") as ctx:
        text = "".join(
            event.delta.message.content.text
            for event in client.chat_stream(model=MODEL, messages=MESSAGES)
            if event.type == "content-delta"
        )
    assert text == "Lima."
    assert stub.requests[0].body["stream"] is True
    call = only_call(read_run(ctx.run_id))
    assert (call["tokens_in"], call["tokens_out"], call["response_preview"]) == (30, 3, "Lima.")
    assert (call["attributes"]["response_id"], call["attributes"]["stream"]) == ("resp-2", True)
    assert call["attributes"]["ttft_ms"] >= 0 and "partial" not in call["attributes"]


def test_async_chat_and_stream(stub: StubLLMServer, instrumented: Any, read_run: Any) -> None:
    stub.reply_json(chat_response("Quito.", usage(11, 2, 100, 2)))
    stub.reply_sse(stream_events(["Li", "ma."], usage(30, 3, 300, 3)))

    async def main() -> str:
        aclient = cohere.AsyncClientV2(api_key="k", base_url=stub.base_url, max_retries=0)
        with WaxellContext(agent_name="cohere-async") as ctx:
            await aclient.chat(model=MODEL, messages=MESSAGES)
            async for _ in aclient.chat_stream(model=MODEL, messages=MESSAGES):
                pass
        return ctx.run_id

    calls = read_run(asyncio.run(main()))["llm_calls"]
    assert [
        (c["tokens_in"], c["tokens_out"], c["response_preview"], c["attributes"]["stream"]) for c in calls
    ] == [
        (11, 2, "Quito.", False),
        (30, 3, "Lima.", True),
    ]


def test_tool_calls_and_the_tool_plan(client: cohere.ClientV2, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json(
        chat_response(
            "",
            usage(40, 20, 400, 20),
            finish_reason="TOOL_CALL",
            tool_plan="I will look up the weather.",
            tool_calls=[
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Lima"}'},
                }
            ],
        )
    )
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    with WaxellContext(agent_name="cohere-tools") as ctx:
        answer = client.chat(model=MODEL, messages=MESSAGES, tools=tools)
    assert answer.message.tool_calls[0].function.name == "get_weather"
    run = read_run(ctx.run_id)
    call = only_call(run)
    assert (call["response_preview"], call["attributes"]["tool_plan"]) == (
        "[tool calls: get_weather]",
        "I will look up the weather.",
    )
    decisions = [(s["name"], s["input"], s["output"]) for s in run["spans"] if s["kind"] == "decision"]
    assert decisions == [("tool_request", {"options": ["get_weather"]}, {"chosen": "get_weather"})]


def test_a_streamed_tool_call(client: cohere.ClientV2, stub: StubLLMServer, read_run: Any) -> None:
    call_start = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    events: list[dict[str, Any]] = [
        {"type": "message-start", "id": "resp-3", "delta": {"message": {"role": "assistant"}}},
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will look up "}}},
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "the weather."}}},
        {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": call_start}}},
        {
            "type": "tool-call-delta",
            "index": 0,
            "delta": {"message": {"tool_calls": {"function": {"arguments": '{"city":'}}}},
        },
        {
            "type": "tool-call-delta",
            "index": 0,
            "delta": {"message": {"tool_calls": {"function": {"arguments": ' "Lima"}'}}}},
        },
        {"type": "tool-call-end", "index": 0},
        {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": usage(40, 20, 400, 20)}},
    ]
    stub.reply_sse(sse_anthropic(events))
    with WaxellContext(agent_name="cohere-stream-tools") as ctx:
        kinds = [event.type for event in client.chat_stream(model=MODEL, messages=MESSAGES)]
    assert kinds == [e["type"] for e in events]
    run = read_run(ctx.run_id)
    call = only_call(run)
    assert (call["tokens_in"], call["tokens_out"], call["attributes"]["finish_reason"]) == (
        40,
        20,
        "TOOL_CALL",
    )
    assert (call["response_preview"], call["attributes"]["tool_plan"]) == (
        "[tool calls: get_weather]",
        "I will look up the weather.",
    )
    metadata = [s["attributes"]["metadata"] for s in run["spans"] if s["kind"] == "decision"]
    assert [(m["tool_call_id"], m["arguments"]) for m in metadata] == [("c1", '{"city": "Lima"}')]


def test_an_error_is_recorded_and_reraised(
    client: cohere.ClientV2, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json({"message": "rate limited"}, status=429)
    with WaxellContext(agent_name="cohere-error") as ctx, pytest.raises(cohere.TooManyRequestsError):
        client.chat(model=MODEL, messages=MESSAGES)
    call = only_call(read_run(ctx.run_id))
    assert (call["status"], call["error_type"], call["model"]) == ("error", "TooManyRequestsError", MODEL)
    assert call["attributes"]["http_status"] == 429


def test_a_stream_error_is_recorded_and_reraised(
    client: cohere.ClientV2, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json({"message": "boom"}, status=500)
    with WaxellContext(agent_name="cohere-error") as ctx, pytest.raises(cohere.InternalServerError):
        list(client.chat_stream(model=MODEL, messages=MESSAGES))
    call = only_call(read_run(ctx.run_id))
    assert (call["status"], call["error_type"], call["attributes"]["http_status"]) == (
        "error",
        "InternalServerError",
        500,
    )


def test_a_blocked_model_never_leaves(client: cohere.ClientV2, stub: StubLLMServer) -> None:
    block_model(MODEL)
    with WaxellContext(agent_name="cohere-gate"):
        with pytest.raises(PolicyViolationError, match=MODEL):
            client.chat(model=MODEL, messages=MESSAGES)
        with pytest.raises(PolicyViolationError, match=MODEL):
            client.chat_stream(model=MODEL, messages=MESSAGES)
        aclient = cohere.AsyncClientV2(api_key="k", base_url=stub.base_url, max_retries=0)
        with pytest.raises(PolicyViolationError, match=MODEL):
            asyncio.run(aclient.chat(model=MODEL, messages=MESSAGES))
    assert stub.requests == []


def test_embed(client: cohere.ClientV2, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json(
        {
            "id": "emb-1",
            "response_type": "embeddings_by_type",
            "embeddings": {"float": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]},
            "texts": ["hello", "world"],
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 4.0}},
        }
    )
    with WaxellContext(agent_name="cohere-embed") as ctx:
        client.embed(
            model="embed-v4.0",
            texts=["hello", "world"],
            input_type="search_document",
            embedding_types=["float"],
        )
    assert stub.requests[0].path == "/v2/embed"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["tokens_in"], call["attributes"]["operation"]) == (
        "embed-v4.0",
        4,
        "embeddings",
    )
    assert (call["attributes"]["embeddings"], call["attributes"]["dimensions"]) == (2, 3)
    assert (call["prompt_preview"], call["cost"]) == ("hello\nworld", round(4 * 0.12 / 1e6, 10))


def test_imported_after_init_is_captured(stub: StubLLMServer, read_run: Any, waxell_db: Path) -> None:
    stub.reply_json(chat_response("late answer", usage(6, 2, 60, 2)))
    result = run_late_import(
        "cohere",
        "cohere",
        f"""
        import cohere
        client = cohere.ClientV2(api_key="k", base_url={stub.base_url!r}, max_retries=0)
        with WaxellContext(agent_name="late-import") as ctx:
            client.chat(model="{MODEL}", messages=[{{"role": "user", "content": "late"}}])
        """,
        waxell_db,
    )
    assert result["lazy"] is True
    call = only_call(read_run(result["run_id"]))
    assert (
        call["model"],
        call["provider"],
        call["tokens_in"],
        call["tokens_out"],
        call["response_preview"],
    ) == (
        MODEL,
        "cohere",
        6,
        2,
        "late answer",
    )
