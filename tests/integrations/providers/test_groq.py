"""The groq SDK against the stub server: chat (sync, async, streamed), embeddings, errors, governance."""

from __future__ import annotations

import asyncio
from typing import Any

import groq
import pytest

from integrations.llm_stub import StubLLMServer
from integrations.providers.common import block_model, chat_chunks, chat_completion, cost, only_call, sse
from waxell_observe import WaxellContext
from waxell_observe.errors import PolicyViolationError

MODEL = "llama-3.3-70b-versatile"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of Peru?"}]


@pytest.fixture
def instrumented_library() -> str:
    return "groq"


@pytest.fixture
def client(stub: StubLLMServer, instrumented: Any) -> groq.Groq:
    return groq.Groq(base_url=stub.base_url, api_key="test-key", max_retries=0)


def test_chat_records_model_tokens_cost_and_conversation(
    client: groq.Groq, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(chat_completion(MODEL, "Lima.", 120, 4, cached=100))
    with WaxellContext(agent_name="groq-agent") as ctx:
        answer = client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=0)
        assert ctx.message_count == 2
    assert answer.choices[0].message.content == "Lima."
    assert stub.requests[0].path == "/openai/v1/chat/completions"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["provider"], call["tokens_in"], call["tokens_out"]) == (MODEL, "groq", 120, 4)
    assert call["attributes"]["cached_tokens_in"] == 100
    assert call["cost"] == cost(MODEL, 120, 4) == round((120 * 0.59 + 4 * 0.79) / 1e6, 10)
    assert (call["prompt_preview"], call["response_preview"], call["status"]) == (
        "Capital of Peru?",
        "Lima.",
        "ok",
    )
    assert call["attributes"]["request"] == {"temperature": 0}


def test_streamed_chat_records_usage_and_time_to_first_token(
    client: groq.Groq, stub: StubLLMServer, read_run: Any
) -> None:
    chunks = chat_chunks(MODEL, ["Li", "ma."], 30, 3)
    usage = chunks.pop()["usage"]  # Groq sends it as x_groq.usage on the last chunk
    chunks[-1]["x_groq"] = {"id": "req_1", "usage": usage}
    stub.reply_sse(sse(chunks))
    with WaxellContext(agent_name="groq-agent") as ctx:
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        assert isinstance(stream, groq.Stream)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Lima."
    call = only_call(read_run(ctx.run_id))
    assert (call["tokens_in"], call["tokens_out"], call["response_preview"]) == (30, 3, "Lima.")
    assert call["attributes"]["stream"] is True and call["attributes"]["ttft_ms"] >= 0


def test_async_chat(stub: StubLLMServer, instrumented: Any, read_run: Any) -> None:
    stub.reply_json(chat_completion(MODEL, "Quito.", 11, 2))

    async def main() -> str:
        async with groq.AsyncGroq(base_url=stub.base_url, api_key="k", max_retries=0) as aclient:
            with WaxellContext(agent_name="groq-async") as ctx:
                await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
            return ctx.run_id

    call = only_call(read_run(asyncio.run(main())))
    assert (call["model"], call["tokens_in"], call["tokens_out"]) == (MODEL, 11, 2)


def test_an_error_is_recorded_and_reraised(client: groq.Groq, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json({"error": {"message": "rate limited", "type": "rate_limit"}}, status=429)
    with WaxellContext(agent_name="groq-agent") as ctx, pytest.raises(groq.RateLimitError):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    call = only_call(read_run(ctx.run_id))
    assert (call["status"], call["error_type"], call["model"]) == ("error", "RateLimitError", MODEL)
    assert call["attributes"]["http_status"] == 429


def test_a_blocked_model_never_leaves(client: groq.Groq, stub: StubLLMServer) -> None:
    block_model(MODEL)
    with WaxellContext(agent_name="groq-agent"), pytest.raises(PolicyViolationError, match=MODEL):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert stub.requests == []


def test_embeddings(client: groq.Groq, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json(
        {
            "object": "list",
            "model": "nomic-embed-text-v1_5",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
            "usage": {"prompt_tokens": 5, "total_tokens": 5},
        }
    )
    with WaxellContext(agent_name="groq-embed") as ctx:
        client.embeddings.create(model="nomic-embed-text-v1_5", input=["hello world"])
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["tokens_in"], call["attributes"]["operation"]) == (
        "nomic-embed-text-v1_5",
        5,
        "embeddings",
    )
    assert call["attributes"]["dimensions"] == 3
