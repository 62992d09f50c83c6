"""The mistralai SDK against the stub server: chat (complete, stream, sync and async), reasoning chunks, tool
calls, FIM, embeddings, errors, governance before a request leaves, a late import."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mistralai.client import Mistral
from mistralai.client.errors import SDKError
from mistralai.client.utils.eventstreaming import EventStream

from integrations.llm_stub import StubLLMServer
from integrations.providers.common import block_model, chat_chunks, chat_completion, cost, only_call, sse
from integrations.providers.late_import import run_late_import
from waxell_observe import WaxellContext
from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating import forget

MODEL = "mistral-small-2506"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of Peru?"}]


@pytest.fixture(autouse=True)
def _fresh_gates() -> Iterator[None]:
    forget()
    yield
    forget()


@pytest.fixture
def instrumented_library() -> str:
    return "mistral"


@pytest.fixture
def client(stub: StubLLMServer, instrumented: Any) -> Mistral:
    return Mistral(api_key="test-key", server_url=stub.base_url)


def mistral_chunks(pieces: list[str], prompt: int, completion: int) -> list[dict[str, Any]]:
    """Mistral's stream: the pieces, then the finishing chunk carrying the usage."""
    chunks = chat_chunks(MODEL, pieces, prompt, completion)
    usage = chunks.pop()["usage"]
    chunks[-1]["usage"] = usage
    return chunks


def test_chat_records_model_tokens_cache_cost_and_conversation(
    client: Mistral, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(chat_completion(MODEL, "Lima.", 120, 4, cached=100))
    with WaxellContext(agent_name="mistral-agent") as ctx:
        answer = client.chat.complete(model="mistral-small-latest", messages=MESSAGES, temperature=0.2)
        assert ctx.message_count == 2
    assert answer.choices[0].message.content == "Lima."
    assert stub.requests[0].path == "/v1/chat/completions"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["provider"], call["tokens_in"], call["tokens_out"]) == (
        MODEL,
        "mistral",
        120,
        4,
    )
    assert call["attributes"]["cached_tokens_in"] == 100
    assert call["attributes"]["request_model"] == "mistral-small-latest"
    assert (
        call["cost"]
        == cost(MODEL, 120, 4, cached=100)
        == round((20 * 0.10 + 100 * 0.01 + 4 * 0.30) / 1e6, 10)
    )
    assert (call["prompt_preview"], call["response_preview"], call["status"]) == (
        "Capital of Peru?",
        "Lima.",
        "ok",
    )
    assert call["attributes"]["request"] == {"temperature": 0.2}


def test_streamed_chat_records_usage_and_time_to_first_token(
    client: Mistral, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_sse(sse(mistral_chunks(["Li", "ma."], 30, 3)))
    with WaxellContext(agent_name="mistral-stream") as ctx:
        stream = client.chat.stream(model=MODEL, messages=MESSAGES)
        assert isinstance(stream, EventStream)
        text = "".join(
            event.data.choices[0].delta.content for event in stream if event.data.choices[0].delta.content
        )
    assert text == "Lima."
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["response_preview"]) == (
        MODEL,
        30,
        3,
        "Lima.",
    )
    assert call["attributes"]["stream"] is True and call["attributes"]["ttft_ms"] >= 0
    assert "partial" not in call["attributes"]


def test_a_stream_closed_early_is_recorded_as_partial(
    client: Mistral, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_sse(sse(mistral_chunks(["Li", "ma."], 30, 3)))
    with (
        WaxellContext(agent_name="mistral-stream") as ctx,
        client.chat.stream(model=MODEL, messages=MESSAGES) as stream,
    ):
        first = next(iter(stream))
    assert first.data.choices[0].delta.content == "Li"
    call = only_call(read_run(ctx.run_id))
    assert (call["attributes"]["partial"], call["attributes"]["usage_reported"]) == (True, False)


def test_async_complete_and_stream(stub: StubLLMServer, instrumented: Any, read_run: Any) -> None:
    stub.reply_json(chat_completion(MODEL, "Quito.", 11, 2))
    stub.reply_sse(sse(mistral_chunks(["Li", "ma."], 30, 3)))

    async def main() -> str:
        client = Mistral(api_key="k", server_url=stub.base_url)
        with WaxellContext(agent_name="mistral-async") as ctx:
            await client.chat.complete_async(model=MODEL, messages=MESSAGES)
            stream = await client.chat.stream_async(model=MODEL, messages=MESSAGES)
            async for _ in stream:
                pass
        return ctx.run_id

    calls = read_run(asyncio.run(main()))["llm_calls"]
    assert [
        (c["tokens_in"], c["tokens_out"], c["response_preview"], c["attributes"]["stream"]) for c in calls
    ] == [
        (11, 2, "Quito.", False),
        (30, 3, "Lima.", True),
    ]


def test_reasoning_chunks_are_not_the_answer(client: Mistral, stub: StubLLMServer, read_run: Any) -> None:
    body = chat_completion("magistral-medium-2509", "", 50, 40)
    body["choices"][0]["message"]["content"] = [
        {"type": "thinking", "thinking": [{"type": "text", "text": "Peru... Lima."}]},
        {"type": "text", "text": "Lima."},
    ]
    stub.reply_json(body)
    with WaxellContext(agent_name="mistral-reasoning") as ctx:
        client.chat.complete(model="magistral-medium-latest", messages=MESSAGES)
    call = only_call(read_run(ctx.run_id))
    assert (call["response_preview"], call["attributes"]["thinking"]) == ("Lima.", True)
    assert call["cost"] == round((50 * 2.00 + 40 * 5.00) / 1e6, 10)


def test_tool_calls_are_recorded_as_requests(client: Mistral, stub: StubLLMServer, read_run: Any) -> None:
    body = chat_completion(MODEL, "", 20, 5)
    body["choices"][0]["finish_reason"] = "tool_calls"
    body["choices"][0]["message"] = {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "call1", "function": {"name": "get_weather", "arguments": '{"city": "Lima"}'}}],
    }
    stub.reply_json(body)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    with WaxellContext(agent_name="mistral-tools") as ctx:
        client.chat.complete(model=MODEL, messages=MESSAGES, tools=tools)
    run = read_run(ctx.run_id)
    call = only_call(run)
    assert (call["response_preview"], call["attributes"]["tool_calls"]) == (
        "[tool calls: get_weather]",
        ["get_weather"],
    )
    decisions = [(s["name"], s["input"], s["output"]) for s in run["spans"] if s["kind"] == "decision"]
    assert decisions == [("tool_request", {"options": ["get_weather"]}, {"chosen": "get_weather"})]


def test_an_error_is_recorded_and_reraised(client: Mistral, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json({"message": "rate limited"}, status=429)
    with WaxellContext(agent_name="mistral-error") as ctx, pytest.raises(SDKError) as raised:
        client.chat.complete(model=MODEL, messages=MESSAGES)
    assert raised.value.status_code == 429
    call = only_call(read_run(ctx.run_id))
    assert (call["status"], call["error_type"], call["model"]) == ("error", "SDKError", MODEL)
    assert call["attributes"]["http_status"] == 429


def test_a_blocked_model_never_leaves(client: Mistral, stub: StubLLMServer) -> None:
    block_model(MODEL)
    with WaxellContext(agent_name="mistral-gate"):
        with pytest.raises(PolicyViolationError, match=MODEL):
            client.chat.complete(model=MODEL, messages=MESSAGES)
        with pytest.raises(PolicyViolationError, match=MODEL):
            client.chat.stream(model=MODEL, messages=MESSAGES)
        with pytest.raises(PolicyViolationError, match=MODEL):
            asyncio.run(client.chat.complete_async(model=MODEL, messages=MESSAGES))
    assert stub.requests == []


def test_fim_completion(client: Mistral, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json(chat_completion("codestral-2508", "return a + b", 14, 6))
    with WaxellContext(agent_name="mistral-fim") as ctx:
        client.fim.complete(model="codestral-latest", prompt="def add(a, b):\n    ", suffix="\n")
    assert stub.requests[0].path == "/v1/fim/completions"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["attributes"]["operation"], call["tokens_in"], call["tokens_out"]) == (
        "codestral-2508",
        "fim",
        14,
        6,
    )
    assert (call["prompt_preview"], call["response_preview"]) == ("def add(a, b):\n    ", "return a + b")
    assert call["cost"] == round((14 * 0.30 + 6 * 0.90) / 1e6, 10)


def test_embeddings(client: Mistral, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json(
        {
            "id": "emb-1",
            "object": "list",
            "model": "mistral-embed",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3, 0.4]}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5},
        }
    )
    with WaxellContext(agent_name="mistral-embed") as ctx:
        client.embeddings.create(model="mistral-embed", inputs=["hello world"])
    call = only_call(read_run(ctx.run_id))
    assert (
        call["model"],
        call["tokens_in"],
        call["attributes"]["operation"],
        call["attributes"]["dimensions"],
    ) == (
        "mistral-embed",
        5,
        "embeddings",
        4,
    )
    assert (call["prompt_preview"], call["cost"]) == ("hello world", round(5 * 0.10 / 1e6, 10))


def test_imported_after_init_is_captured(stub: StubLLMServer, read_run: Any, waxell_db: Path) -> None:
    stub.reply_json(chat_completion(MODEL, "late answer", 6, 2))
    result = run_late_import(
        "mistral",
        "mistralai",
        f"""
        from mistralai.client import Mistral
        client = Mistral(api_key="k", server_url={stub.base_url!r})
        with WaxellContext(agent_name="late-import") as ctx:
            client.chat.complete(model="{MODEL}", messages=[{{"role": "user", "content": "late"}}])
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
        "mistral",
        6,
        2,
        "late answer",
    )
