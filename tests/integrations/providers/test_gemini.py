"""google-genai against the stub server: generate_content (sync, async, streamed), Vertex AI mode, automatic
function calling, embeddings, errors, governance before a request leaves, a late import."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import errors, types

from integrations.llm_stub import StubLLMServer
from integrations.providers.common import block_model, cost, only_call, sse
from integrations.providers.late_import import run_late_import
from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError, PromptGuardError
from waxell_observe.gating import forget
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store

MODEL = "gemini-2.5-flash"
SYSTEM = "Be brief."


@pytest.fixture(autouse=True)
def _fresh_gates() -> Iterator[None]:
    forget()
    yield
    forget()


@pytest.fixture
def instrumented_library() -> str:
    return "gemini"


def make_client(stub: StubLLMServer, **options: Any) -> genai.Client:
    return genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=stub.base_url), **options)


@pytest.fixture
def client(stub: StubLLMServer, instrumented: Any) -> genai.Client:
    return make_client(stub)


def usage(prompt: int, candidates: int, **extra: int) -> dict[str, int]:
    """A ``usageMetadata`` body (extras: ``cachedContentTokenCount``, ``thoughtsTokenCount`` …)."""
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + sum(extra.values()),
        **extra,
    }


def response(text: str | None, usage_: dict[str, int], *, model: str = MODEL, **part: Any) -> dict[str, Any]:
    """A ``GenerateContentResponse`` body with one candidate: ``text``, or the part given."""
    parts = [{"text": text}] if text is not None else [part]
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": usage_,
        "modelVersion": model,
        "responseId": "resp-1",
    }


def test_generate_content_records_model_tokens_thoughts_cache_cost_and_conversation(
    client: genai.Client, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(response("Lima.", usage(120, 4, cachedContentTokenCount=100, thoughtsTokenCount=30)))
    config = types.GenerateContentConfig(system_instruction=SYSTEM, temperature=0, max_output_tokens=256)
    with WaxellContext(agent_name="gemini-agent") as ctx:
        answer = client.models.generate_content(model=MODEL, contents="Capital of Peru?", config=config)
        assert ctx.message_count == 2  # the system instruction and the question
    assert answer.text == "Lima."
    assert stub.requests[0].path == f"/v1/models/{MODEL}:generateContent"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["provider"], call["tokens_in"], call["tokens_out"]) == (
        MODEL,
        "gemini",
        120,
        34,
    )
    assert (call["attributes"]["cached_tokens_in"], call["attributes"]["reasoning_tokens"]) == (100, 30)
    assert (
        call["cost"]
        == cost(MODEL, 120, 34, cached=100)
        == round((20 * 0.30 + 100 * 0.03 + 34 * 2.50) / 1e6, 10)
    )
    assert (call["prompt_preview"], call["response_preview"], call["status"]) == (
        "Capital of Peru?",
        "Lima.",
        "ok",
    )
    assert call["attributes"]["request"] == {"temperature": 0.0, "max_output_tokens": 256}
    assert (call["attributes"]["response_id"], call["attributes"]["operation"]) == ("resp-1", "chat")


def test_a_chat_turn_records_the_history_as_the_conversation(
    client: genai.Client, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(response("Lima.", usage(10, 2)))
    stub.reply_json(response("About 10 million.", usage(25, 4)))
    with WaxellContext(agent_name="gemini-chat") as ctx:
        chat = client.chats.create(model=MODEL)
        chat.send_message("Capital of Peru?")
        chat.send_message("Its population?")
        assert ctx.message_count == 3
    assert stub.requests[1].body["contents"][1] == {"role": "model", "parts": [{"text": "Lima."}]}
    calls = read_run(ctx.run_id)["llm_calls"]
    assert [(c["prompt_preview"], c["response_preview"], c["tokens_in"]) for c in calls] == [
        ("Capital of Peru?", "Lima.", 10),
        ("Its population?", "About 10 million.", 25),
    ]


def test_vertex_ai_mode_is_recorded_as_provider_vertex_ai(
    stub: StubLLMServer, instrumented: Any, read_run: Any
) -> None:
    stub.reply_json(response("Lima.", usage(9, 2), model="gemini-2.5-pro"))
    vertex = make_client(stub, vertexai=True)
    with WaxellContext(agent_name="vertex-agent") as ctx:
        vertex.models.generate_content(model="publishers/google/models/gemini-2.5-pro", contents="Peru?")
    assert stub.requests[0].path == "/v1beta1/publishers/google/models/gemini-2.5-pro:generateContent"
    call = only_call(read_run(ctx.run_id))
    assert (call["provider"], call["model"], call["tokens_in"], call["tokens_out"]) == (
        "vertex_ai",
        "gemini-2.5-pro",
        9,
        2,
    )
    assert call["cost"] == round((9 * 1.25 + 2 * 10.00) / 1e6, 10)


def stream_chunks() -> list[dict[str, Any]]:
    first = response("Li", usage(30, 1))
    del first["candidates"][0]["finishReason"]
    last = response("ma.", usage(30, 3, thoughtsTokenCount=5))
    return [first, last]


def test_streamed_generate_content_records_usage_of_the_last_chunk_and_time_to_first_token(
    client: genai.Client, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_sse(sse(stream_chunks(), done=False))
    with WaxellContext(agent_name="gemini-stream") as ctx:
        text = "".join(
            chunk.text or "" for chunk in client.models.generate_content_stream(model=MODEL, contents="Peru?")
        )
    assert text == "Lima."
    assert stub.requests[0].path == f"/v1/models/{MODEL}:streamGenerateContent?alt=sse"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["response_preview"]) == (
        MODEL,
        30,
        8,
        "Lima.",
    )
    assert call["attributes"]["reasoning_tokens"] == 5
    assert call["attributes"]["stream"] is True and call["attributes"]["ttft_ms"] >= 0
    assert "partial" not in call["attributes"]


def test_async_generate_content_and_stream(stub: StubLLMServer, instrumented: Any, read_run: Any) -> None:
    stub.reply_json(response("Quito.", usage(11, 2)))
    stub.reply_sse(sse(stream_chunks(), done=False))

    async def main() -> tuple[str, str]:
        aio = make_client(stub).aio
        with WaxellContext(agent_name="gemini-async") as ctx:
            answer = await aio.models.generate_content(model=MODEL, contents="Ecuador?")
            pieces = [
                chunk.text
                async for chunk in await aio.models.generate_content_stream(model=MODEL, contents="Peru?")
            ]
        return ctx.run_id, str(answer.text) + "|" + "".join(p or "" for p in pieces)

    run_id, texts = asyncio.run(main())
    assert texts == "Quito.|Lima."
    calls = read_run(run_id)["llm_calls"]
    assert [
        (c["tokens_in"], c["tokens_out"], c["response_preview"], c["attributes"]["stream"]) for c in calls
    ] == [
        (11, 2, "Quito.", False),
        (30, 8, "Lima.", True),
    ]


def test_an_error_is_recorded_and_reraised(client: genai.Client, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}, status=429)
    with WaxellContext(agent_name="gemini-error") as ctx, pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model=MODEL, contents="Peru?")
    assert raised.value.code == 429
    call = only_call(read_run(ctx.run_id))
    assert (call["status"], call["error_type"], call["model"]) == ("error", "ClientError", MODEL)
    assert call["attributes"]["http_status"] == 429


def test_a_stream_error_is_recorded_and_reraised(
    client: genai.Client, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json({"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}, status=500)
    with WaxellContext(agent_name="gemini-error") as ctx, pytest.raises(errors.ServerError):
        list(client.models.generate_content_stream(model=MODEL, contents="Peru?"))
    call = only_call(read_run(ctx.run_id))
    assert (call["status"], call["error_type"], call["attributes"]["http_status"]) == (
        "error",
        "ServerError",
        500,
    )


def test_a_blocked_prompt_is_recorded_as_an_error(
    client: genai.Client, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(
        {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": usage(7, 0), "modelVersion": MODEL}
    )
    with WaxellContext(agent_name="gemini-blocked") as ctx:
        client.models.generate_content(model=MODEL, contents="something unsafe")
    call = only_call(read_run(ctx.run_id))
    assert (call["status"], call["error_type"], call["tokens_in"]) == ("error", "PromptBlocked", 7)
    assert call["attributes"]["block_reason"] == "SAFETY"


def test_a_blocked_model_never_leaves(client: genai.Client, stub: StubLLMServer) -> None:
    block_model(MODEL)
    with WaxellContext(agent_name="gemini-gate"):
        with pytest.raises(PolicyViolationError, match=MODEL):
            client.models.generate_content(model=MODEL, contents="Peru?")
        with pytest.raises(PolicyViolationError, match=MODEL):
            next(iter(client.models.generate_content_stream(model=MODEL, contents="Peru?")))
        with pytest.raises(PolicyViolationError, match=MODEL):
            asyncio.run(make_client(stub).aio.models.generate_content(model=MODEL, contents="Peru?"))

        async def first_chunk() -> Any:
            stream = await make_client(stub).aio.models.generate_content_stream(model=MODEL, contents="Peru?")
            return await anext(stream)

        with pytest.raises(PolicyViolationError, match=MODEL):
            asyncio.run(first_chunk())
    assert stub.requests == []


def test_a_stream_abandoned_half_way_is_recorded_as_partial(
    client: genai.Client, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_sse(sse(stream_chunks(), done=False))
    with WaxellContext(agent_name="gemini-stream") as ctx:
        stream = client.models.generate_content_stream(model=MODEL, contents="Peru?")
        first = next(stream)
        stream.close()
    assert first.text == "Li"
    call = only_call(read_run(ctx.run_id))
    assert (call["response_preview"], call["tokens_in"], call["attributes"]["partial"]) == ("Li", 30, True)


def test_the_prompt_guard_redacts_contents_and_the_system_instruction(
    client: genai.Client, stub: StubLLMServer, configure: Any, read_run: Any
) -> None:
    configure(prompt_guard=True, prompt_guard_action="redact")
    stub.reply_json(response("Found.", usage(30, 1)))
    question = types.Content(role="user", parts=[types.Part(text="Look up customer 123-45-6789")])
    config = types.GenerateContentConfig(system_instruction="Support line: +44 20 7946 0958")
    with WaxellContext(agent_name="gemini-guard") as ctx:
        client.models.generate_content(model=MODEL, contents=question, config=config)
    body = stub.requests[0].body
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Look up customer ##SSN##"}]}]
    assert body["systemInstruction"] == {"role": "user", "parts": [{"text": "Support line: ##PHONE##"}]}
    assert (
        question.parts is not None and question.parts[0].text == "Look up customer 123-45-6789"
    )  # untouched
    run = read_run(ctx.run_id)
    assert [s["attributes"]["reason"] for s in run["spans"] if s["kind"] == "policy"] == [
        "PII detected: phone; PII detected: ssn"
    ]
    assert only_call(run)["prompt_preview"] == "Look up customer ##SSN##"


def test_the_prompt_guard_blocks_before_the_request_leaves(
    client: genai.Client, stub: StubLLMServer, configure: Any
) -> None:
    configure(prompt_guard=True, prompt_guard_action="block")
    with WaxellContext(agent_name="gemini-guard"), pytest.raises(PromptGuardError, match="ssn"):
        client.models.generate_content(model=MODEL, contents="Customer 123-45-6789")
    assert stub.requests == []


def get_weather(city: str) -> str:
    """The weather in a city."""
    ran.append(city)
    return "sunny"


ran: list[str] = []


def test_automatic_function_calling_records_each_request_and_gates_the_function(
    client: genai.Client, stub: StubLLMServer, read_run: Any
) -> None:
    ran.clear()
    stub.reply_json(
        response(None, usage(20, 5), functionCall={"name": "get_weather", "args": {"city": "Lima"}})
    )
    stub.reply_json(response("Sunny in Lima.", usage(40, 6)))
    config = types.GenerateContentConfig(tools=[get_weather])
    with WaxellContext(agent_name="gemini-afc") as ctx:
        answer = client.models.generate_content(model=MODEL, contents="Weather in Lima?", config=config)
    assert (answer.text, ran, len(stub.requests)) == ("Sunny in Lima.", ["Lima"], 2)
    run = read_run(ctx.run_id)
    assert [(c["tokens_in"], c["tokens_out"], c["response_preview"]) for c in run["llm_calls"]] == [
        (20, 5, "[tool calls: get_weather]"),
        (40, 6, "Sunny in Lima."),
    ]
    decisions = [(s["name"], s["input"], s["output"]) for s in run["spans"] if s["kind"] == "decision"]
    assert decisions == [("tool_request", {"options": ["get_weather"]}, {"chosen": "get_weather"})]

    ran.clear()
    add_policies(
        get_store(get_config().db_url),
        load_policies(
            "policies: [{name: no-weather, category: tool-allowlist, rules: {blocked_tools: [get_weather]}}]"
        ),
    )
    forget()
    stub.reply_json(
        response(None, usage(20, 5), functionCall={"name": "get_weather", "args": {"city": "Lima"}})
    )
    with WaxellContext(agent_name="gemini-afc"), pytest.raises(PolicyViolationError, match="get_weather"):
        client.models.generate_content(model=MODEL, contents="Weather in Lima?", config=config)
    assert (ran, len(stub.requests)) == ([], 3)  # the function never ran, no follow-up request left


def test_embed_content(client: genai.Client, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json(
        {
            "embeddings": [{"values": [0.1, 0.2, 0.3]}, {"values": [0.4, 0.5, 0.6]}],
            "usageMetadata": {"promptTokenCount": 8},
        }
    )
    with WaxellContext(agent_name="gemini-embed") as ctx:
        result = client.models.embed_content(model="gemini-embedding-001", contents=["hello", "world"])
    assert len(result.embeddings or []) == 2
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["provider"], call["tokens_in"], call["attributes"]["operation"]) == (
        "gemini-embedding-001",
        "gemini",
        8,
        "embeddings",
    )
    assert (call["attributes"]["embeddings"], call["attributes"]["dimensions"]) == (2, 3)
    assert call["cost"] == round(8 * 0.15 / 1e6, 10)


def test_vertex_ai_embeddings_count_the_tokens_of_each_embedding(
    stub: StubLLMServer, instrumented: Any, read_run: Any
) -> None:
    stub.reply_json(
        {
            "predictions": [
                {
                    "embeddings": {
                        "values": [0.1, 0.2],
                        "statistics": {"token_count": 3.0, "truncated": False},
                    }
                },
                {
                    "embeddings": {
                        "values": [0.3, 0.4],
                        "statistics": {"token_count": 2.0, "truncated": False},
                    }
                },
            ],
            "metadata": {"billableCharacterCount": 10},
        }
    )
    vertex = make_client(stub, vertexai=True)
    with WaxellContext(agent_name="vertex-embed") as ctx:
        vertex.models.embed_content(model="text-embedding-005", contents=["hello", "world"])
    assert stub.requests[0].path == "/v1beta1/publishers/google/models/text-embedding-005:predict"
    call = only_call(read_run(ctx.run_id))
    assert (
        call["provider"],
        call["model"],
        call["tokens_in"],
        call["attributes"]["billable_characters"],
    ) == (
        "vertex_ai",
        "text-embedding-005",
        5,
        10,
    )
    assert (call["attributes"]["embeddings"], call["attributes"]["dimensions"]) == (2, 2)


def test_imported_after_init_is_captured(stub: StubLLMServer, read_run: Any, waxell_db: Path) -> None:
    stub.reply_json(response("late answer", usage(6, 2)))
    result = run_late_import(
        "gemini",
        "google.genai",
        f"""
        from google import genai
        client = genai.Client(api_key="k", http_options={{"base_url": {stub.base_url!r}}})
        with WaxellContext(agent_name="late-import") as ctx:
            client.models.generate_content(model="{MODEL}", contents="late")
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
        "gemini",
        6,
        2,
        "late answer",
    )
