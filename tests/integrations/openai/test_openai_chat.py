"""``chat.completions.create`` (non-streamed), sync and async, against a stub OpenAI server."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

from integrations.openai import payloads as p
from waxell_observe import WaxellContext

MESSAGES = [
    {"role": "system", "content": "You are a terse geography assistant."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Italy?"},
]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TIME_TOOL = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


def only_call(run: dict[str, Any]) -> dict[str, Any]:
    assert len(run["llm_calls"]) == 1, run["llm_calls"]
    return run["llm_calls"][0]


def test_sync_call_is_recorded_with_what_the_server_returned(client: Any, stub: Any, read_run: Any) -> None:
    stub.reply_json(p.completion("gpt-4o-2024-08-06", "Rome.", usage_=p.usage(6400, 300, cached=1400)))
    with WaxellContext(agent_name="geo") as ctx:
        answer = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=0.2)
        # conversation state reflects the call right after it returns
        assert (ctx.message_count, ctx.conversation_turns, ctx.context_utilization) == (4, 2, 5.0)
    assert answer.choices[0].message.content == "Rome."
    assert stub.requests[0].path == "/v1/chat/completions"
    assert stub.requests[0].body["messages"] == MESSAGES

    run = read_run(ctx.run_id)
    call = only_call(run)
    assert call["model"] == "gpt-4o-2024-08-06"
    assert call["provider"] == "openai"
    assert (call["tokens_in"], call["tokens_out"]) == (6400, 300)
    # (5000 uncached * $2.50 + 1400 cached * $1.25 + 300 out * $10.00) per million
    assert call["cost"] == 0.01725
    assert call["prompt_preview"] == "And of Italy?"
    assert call["response_preview"] == "Rome."
    assert call["status"] == "ok"
    assert call["duration_ms"] > 0
    attributes = call["attributes"]
    assert attributes["cached_tokens_in"] == 1400
    assert attributes["finish_reason"] == "stop"
    assert attributes["request_model"] == "gpt-4o"
    assert attributes["response_id"] == "chatcmpl-1"
    assert attributes["operation"] == "chat"
    assert attributes["stream"] is False
    assert attributes["request"] == {"temperature": 0.2}
    assert "messages" not in attributes  # content capture is off
    assert run["tokens_in"] == 6400 and run["total_cost"] == 0.01725
    conversation = run["conversation"]
    assert conversation["message_count"] == 4
    assert conversation["user_turns"] == 2
    assert conversation["assistant_turns"] == 1
    assert conversation["tokens_in_context"] == 6400
    assert conversation["context_utilization_pct"] == 5.0
    io = [(s["name"], s["input"], s["output"]) for s in run["spans"] if s["kind"] == "io"]
    assert io == [("user_message", "And of Italy?", None), ("agent_response", None, "Rome.")]


def test_previews_are_cut_unless_content_capture_is_on(
    client: Any, stub: Any, read_run: Any, configure: Any
) -> None:
    long_question = "Tell me about " + "the history of Rome " * 10
    messages = [{"role": "user", "content": long_question}]
    configure(preview_chars=20)
    stub.reply_json(p.completion("gpt-4o-mini", "A long story.", usage_=p.usage(50, 4)))
    with WaxellContext(agent_name="geo") as ctx:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    call = only_call(read_run(ctx.run_id))
    assert call["prompt_preview"] == long_question[:19] + "…"
    assert "messages" not in call["attributes"]

    configure(capture_content=True, preview_chars=20)
    stub.reply_json(p.completion("gpt-4o-mini", "A long story.", usage_=p.usage(50, 4)))
    with WaxellContext(agent_name="geo") as ctx:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    call = only_call(read_run(ctx.run_id))
    assert call["prompt_preview"] == long_question
    assert call["attributes"]["messages"] == messages


def test_requested_tool_calls_become_automatic_decisions(client: Any, stub: Any, read_run: Any) -> None:
    calls = [
        p.tool_call("call_a", "get_weather", '{"city": "Oslo"}'),
        p.tool_call("call_b", "get_time", "{}"),
    ]
    stub.reply_json(
        p.completion(
            "gpt-4o-mini", None, usage_=p.usage(80, 30), finish_reason="tool_calls", tool_calls=calls
        )
    )
    with WaxellContext(agent_name="tools") as ctx:
        answer = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather and time in Oslo?"}],
            tools=[WEATHER_TOOL, TIME_TOOL],
        )  # fmt: skip
    assert [c.function.name for c in answer.choices[0].message.tool_calls] == ["get_weather", "get_time"]
    run = read_run(ctx.run_id)
    call = only_call(run)
    assert call["response_preview"] == "[tool calls: get_weather, get_time]"
    assert call["attributes"]["tool_calls"] == ["get_weather", "get_time"]
    assert call["attributes"]["finish_reason"] == "tool_calls"
    decisions = [s for s in run["spans"] if s["kind"] == "decision"]
    assert [(d["name"], d["input"], d["output"]) for d in decisions] == [
        ("tool_request", {"options": ["get_weather", "get_time"]}, {"chosen": "get_weather"}),
        ("tool_request", {"options": ["get_weather", "get_time"]}, {"chosen": "get_time"}),
    ]
    assert decisions[0]["attributes"]["instrumentation_type"] == "auto"
    assert decisions[0]["attributes"]["metadata"] == {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "tool_call_id": "call_a",
        "arguments": '{"city": "Oslo"}',
    }
    assert run["conversation"]["tools_used"] == ["get_weather", "get_time"]
    # a tool call is not a final answer: no agent_response io span
    assert [s["name"] for s in run["spans"] if s["kind"] == "io"] == ["user_message"]


def test_reasoning_tokens_are_kept_in_attributes(client: Any, stub: Any, read_run: Any) -> None:
    stub.reply_json(p.completion("o3-mini-2025-01-31", "42", usage_=p.usage(100, 900, reasoning=850)))
    with WaxellContext(agent_name="thinker") as ctx:
        client.chat.completions.create(model="o3-mini", messages=[{"role": "user", "content": "Answer?"}])
    call = only_call(read_run(ctx.run_id))
    assert call["attributes"]["reasoning_tokens"] == 850
    assert (call["tokens_in"], call["tokens_out"]) == (100, 900)
    assert call["cost"] == round((100 * 1.10 + 900 * 4.40) / 1_000_000, 10)


def test_async_call_is_recorded(aclient: Any, stub: Any, read_run: Any) -> None:
    stub.reply_json(p.completion("gpt-4o-mini-2024-07-18", "Bonjour", usage_=p.usage(12, 2)))

    async def main() -> str:
        async with WaxellContext(agent_name="async-agent") as ctx:
            answer = await aclient.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello in French"}]
            )
            assert ctx.message_count == 1
            assert answer.choices[0].message.content == "Bonjour"
        return ctx.run_id

    call = only_call(read_run(asyncio.run(main())))
    assert (call["model"], call["tokens_in"], call["tokens_out"]) == ("gpt-4o-mini-2024-07-18", 12, 2)
    assert call["cost"] == round((12 * 0.15 + 2 * 0.60) / 1_000_000, 10)
    assert call["response_preview"] == "Bonjour"


@pytest.mark.parametrize(
    ("status", "error_cls", "code"),
    [(400, openai.BadRequestError, "invalid_request"), (429, openai.RateLimitError, "rate_limited"),
     (500, openai.InternalServerError, "server_error")],
)  # fmt: skip
def test_provider_errors_are_recorded_and_reraised_unchanged(
    client: Any, stub: Any, read_run: Any, status: int, error_cls: type, code: str
) -> None:
    stub.reply_json({"error": {"message": f"stub says {code}", "type": code, "code": code}}, status=status)
    with WaxellContext(agent_name="failing") as ctx, pytest.raises(error_cls) as raised:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert raised.type is error_cls
    assert raised.value.status_code == status
    assert raised.value.body == {"message": f"stub says {code}", "type": code, "code": code}
    assert len(stub.requests) == 1  # max_retries=0: exactly one attempt
    call = only_call(read_run(ctx.run_id))
    assert call["status"] == "error"
    assert call["error_type"] == error_cls.__name__
    assert f"stub says {code}" in call["error_message"]
    assert call["attributes"]["http_status"] == status
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["cost"]) == ("gpt-4o", 0, 0, 0.0)


def test_call_outside_a_run_goes_to_the_background_collector(client: Any, stub: Any, read_runs: Any) -> None:
    stub.reply_json(p.completion("gpt-4o-mini-2024-07-18", "ok", usage_=p.usage(7, 1)))
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}])
    runs = read_runs(agent_name="auto:gpt-4o-mini-2024-07-18")
    assert len(runs) == 1
    assert runs[0]["workflow_name"] == "auto"
    assert (runs[0]["tokens_in"], runs[0]["tokens_out"], runs[0]["llm_call_count"]) == (7, 1, 1)


def test_raw_response_calls_are_recorded_from_the_parsed_body(client: Any, stub: Any, read_run: Any) -> None:
    stub.reply_json(p.completion("gpt-4o-2024-08-06", "raw", usage_=p.usage(10, 1)))
    with WaxellContext(agent_name="raw") as ctx:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": "raw please"}]
        )
        assert raw.parse().choices[0].message.content == "raw"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["tokens_in"], call["tokens_out"]) == ("gpt-4o-2024-08-06", 10, 1)
    assert call["attributes"]["raw_response"] is True


def test_streaming_response_wrapper_is_recorded_without_reading_the_body(
    client: Any, stub: Any, read_run: Any
) -> None:
    stub.reply_json(p.completion("gpt-4o-2024-08-06", "streamed raw", usage_=p.usage(10, 2)))
    with (
        WaxellContext(agent_name="raw") as ctx,
        client.chat.completions.with_streaming_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": "raw please"}]
        ) as response,
    ):
        # recorded when the headers arrived; the body is still the caller's to read
        assert ctx.run.llm_call_count == 1
        assert response.parse().choices[0].message.content == "streamed raw"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["tokens_in"], call["tokens_out"]) == ("gpt-4o", 0, 0)
    assert call["attributes"]["raw_response"] is True
    assert call["attributes"]["usage_reported"] is False


def test_structured_output_parse_is_recorded(client: Any, stub: Any, read_run: Any) -> None:
    from pydantic import BaseModel

    class City(BaseModel):
        name: str
        country: str

    stub.reply_json(
        p.completion("gpt-4o-2024-08-06", '{"name": "Rome", "country": "Italy"}', usage_=p.usage(40, 9))
    )
    with WaxellContext(agent_name="structured") as ctx:
        parsed = client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=City)
    assert parsed.choices[0].message.parsed == City(name="Rome", country="Italy")
    call = only_call(read_run(ctx.run_id))
    assert (call["tokens_in"], call["tokens_out"]) == (40, 9)
    assert call["response_preview"] == '{"name": "Rome", "country": "Italy"}'


def test_azure_client_is_recorded_with_the_azure_provider(
    stub: Any, instrumented: Any, read_run: Any
) -> None:
    azure = openai.AzureOpenAI(
        azure_endpoint=stub.base_url, api_key="test-key", api_version="2024-10-21", max_retries=0
    )
    stub.reply_json(p.completion("gpt-4o-2024-08-06", "hi from azure", usage_=p.usage(10, 3)))
    with WaxellContext(agent_name="azure") as ctx:
        azure.chat.completions.create(
            model="my-gpt4o-deployment", messages=[{"role": "user", "content": "hi"}]
        )
    assert stub.requests[0].path.startswith("/openai/deployments/my-gpt4o-deployment/chat/completions")
    call = only_call(read_run(ctx.run_id))
    assert (call["provider"], call["model"]) == ("azure", "gpt-4o-2024-08-06")
    assert call["attributes"]["request_model"] == "my-gpt4o-deployment"
    assert call["cost"] == round((10 * 2.50 + 3 * 10.00) / 1_000_000, 10)
