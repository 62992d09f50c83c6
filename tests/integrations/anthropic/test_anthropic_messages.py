"""``messages.create`` (non-streamed), sync and async, against a stub Anthropic server."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import anthropic
import pytest

from integrations.anthropic import payloads as p
from waxell_observe import WaxellContext

# the SDK warns about model deprecation dates; the stub serves any model name
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

SYSTEM = "You are a careful travel assistant."
MESSAGES = [
    {"role": "user", "content": "I want to visit Lisbon."},
    {"role": "assistant", "content": "Great choice. When?"},
    {"role": "user", "content": [{"type": "text", "text": "In May. What should I pack?"}]},
]
WEATHER_TOOL = {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}
HOTEL_TOOL = {"name": "find_hotel", "description": "Hotels", "input_schema": {"type": "object"}}


def only_call(run: dict[str, Any]) -> dict[str, Any]:
    assert len(run["llm_calls"]) == 1, run["llm_calls"]
    return run["llm_calls"][0]


def test_sync_call_counts_cached_prompt_tokens_as_input(client: Any, stub: Any, read_run: Any) -> None:
    body = p.message(
        "claude-sonnet-4-5-20250929", [p.text("Light layers and a rain jacket.")],
        usage_=p.usage(2000, 500, cache_read=15000, cache_creation=3000),
    )  # fmt: skip
    stub.reply_json(body)
    with WaxellContext(agent_name="travel") as ctx:
        answer = client.messages.create(
            model="claude-sonnet-4-5", max_tokens=1024, system=SYSTEM, messages=MESSAGES
        )
        assert (ctx.message_count, ctx.conversation_turns, ctx.context_utilization) == (4, 2, 10.0)
    assert answer.content[0].text == "Light layers and a rain jacket."
    assert stub.requests[0].path == "/v1/messages"
    assert stub.requests[0].body["messages"] == MESSAGES
    assert stub.requests[0].body["system"] == SYSTEM

    run = read_run(ctx.run_id)
    call = only_call(run)
    assert call["model"] == "claude-sonnet-4-5-20250929"
    assert call["provider"] == "anthropic"
    # tokens_in = input (2000) + cache read (15000) + cache creation (3000)
    assert (call["tokens_in"], call["tokens_out"]) == (20000, 500)
    assert call["attributes"]["cached_tokens_in"] == 15000
    assert call["attributes"]["cache_creation_input_tokens"] == 3000
    # (5000 uncached * $3 + 15000 cached * $0.30 + 500 out * $15) per million
    assert call["cost"] == 0.027
    assert call["prompt_preview"] == "In May. What should I pack?"
    assert call["response_preview"] == "Light layers and a rain jacket."
    assert call["attributes"]["finish_reason"] == "end_turn"
    assert call["attributes"]["request_model"] == "claude-sonnet-4-5"
    assert call["attributes"]["request"] == {"max_tokens": 1024}
    assert "otel_native_span" not in call["attributes"]
    conversation = run["conversation"]
    assert conversation["message_count"] == 4
    assert conversation["user_turns"] == 2
    assert conversation["tokens_in_context"] == 20000
    assert conversation["context_utilization_pct"] == 10.0
    assert conversation["system_prompt_hash"] == hashlib.sha256(SYSTEM.encode()).hexdigest()[:12]
    io = [(s["name"], s["input"], s["output"]) for s in run["spans"] if s["kind"] == "io"]
    assert io == [
        ("user_message", "In May. What should I pack?", None),
        ("agent_response", None, "Light layers and a rain jacket."),
    ]


def test_tool_use_blocks_become_decisions_and_tool_results_are_counted(
    client: Any, stub: Any, read_run: Any
) -> None:
    stub.reply_json(p.message(
        "claude-haiku-4-5-20251001",
        [p.text("Let me check."), p.tool_use("toolu_1", "get_weather", {"city": "Lisbon", "month": "May"})],
        usage_=p.usage(300, 40), stop_reason="tool_use",
    ))  # fmt: skip
    stub.reply_json(p.message("claude-haiku-4-5-20251001", [p.text("Expect 22°C.")], usage_=p.usage(380, 10)))
    with WaxellContext(agent_name="travel") as ctx:
        first = client.messages.create(
            model="claude-haiku-4-5", max_tokens=256, tools=[WEATHER_TOOL, HOTEL_TOOL],
            messages=[{"role": "user", "content": "Weather in Lisbon in May?"}],
        )  # fmt: skip
        tool_block = first.content[1]
        follow_up = [
            {"role": "user", "content": "Weather in Lisbon in May?"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool_block.id, "content": "22C"}],
            },
        ]
        client.messages.create(
            model="claude-haiku-4-5", max_tokens=256, tools=[WEATHER_TOOL], messages=follow_up
        )
        assert ctx.message_count == 3
        assert ctx.conversation_turns == 1  # a tool result is not a user turn
    run = read_run(ctx.run_id)
    calls = run["llm_calls"]
    assert [c["response_preview"] for c in calls] == ["Let me check.", "Expect 22°C."]
    assert calls[0]["attributes"]["tool_calls"] == ["get_weather"]
    assert calls[0]["attributes"]["finish_reason"] == "tool_use"
    assert calls[0]["cost"] == round((300 * 1.00 + 40 * 5.00) / 1_000_000, 10)
    decisions = [s for s in run["spans"] if s["kind"] == "decision"]
    assert len(decisions) == 1
    assert decisions[0]["name"] == "tool_request"
    assert decisions[0]["input"] == {"options": ["get_weather", "find_hotel"]}
    assert decisions[0]["output"] == {"chosen": "get_weather"}
    assert decisions[0]["attributes"]["metadata"] == {
        "provider": "anthropic", "model": "claude-haiku-4-5-20251001", "tool_call_id": "toolu_1",
        "arguments": '{"city":"Lisbon","month":"May"}',
    }  # fmt: skip
    assert run["conversation"]["tool_results"] == 1
    assert run["conversation"]["tools_used"] == ["get_weather"]
    assert [s["output"] for s in run["spans"] if s["name"] == "agent_response"] == ["Expect 22°C."]


def test_async_call(aclient: Any, stub: Any, read_run: Any) -> None:
    stub.reply_json(p.message("claude-haiku-4-5-20251001", [p.text("Olá!")], usage_=p.usage(15, 4)))

    async def main() -> str:
        async with WaxellContext(agent_name="async-travel") as ctx:
            answer = await aclient.messages.create(
                model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": "Say hi"}]
            )
            assert answer.content[0].text == "Olá!"
            assert ctx.message_count == 1
        return ctx.run_id

    call = only_call(read_run(asyncio.run(main())))
    assert (call["model"], call["tokens_in"], call["tokens_out"]) == ("claude-haiku-4-5-20251001", 15, 4)
    assert call["response_preview"] == "Olá!"


@pytest.mark.parametrize(
    ("status", "error_cls", "kind"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_provider_errors_are_recorded_and_reraised_unchanged(
    client: Any, stub: Any, read_run: Any, status: int, error_cls: type, kind: str
) -> None:
    error_body = {"type": "error", "error": {"type": kind, "message": f"stub {kind}"}}
    stub.reply_json(error_body, status=status)
    with WaxellContext(agent_name="failing") as ctx, pytest.raises(error_cls) as raised:
        client.messages.create(
            model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert raised.type is error_cls
    assert raised.value.status_code == status
    assert raised.value.body == error_body
    assert len(stub.requests) == 1
    call = only_call(read_run(ctx.run_id))
    assert call["status"] == "error"
    assert call["error_type"] == error_cls.__name__
    assert f"stub {kind}" in call["error_message"]
    assert call["attributes"]["http_status"] == status
    assert (call["model"], call["tokens_in"], call["tokens_out"]) == ("claude-sonnet-4-5", 0, 0)


def test_call_outside_a_run_goes_to_the_background_collector(client: Any, stub: Any, read_runs: Any) -> None:
    stub.reply_json(p.message("claude-haiku-4-5-20251001", [p.text("pong")], usage_=p.usage(5, 1)))
    client.messages.create(
        model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "ping"}]
    )
    runs = read_runs(agent_name="auto:claude-haiku-4-5-20251001")
    assert len(runs) == 1
    assert (runs[0]["tokens_in"], runs[0]["tokens_out"], runs[0]["llm_call_count"]) == (5, 1, 1)


def test_sdk_native_otel_span_is_detected_and_flagged(stub: Any, instrumented: Any, read_run: Any) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = anthropic.Anthropic(
        base_url=stub.base_url,
        api_key="test-key",
        max_retries=0,
        open_telemetry={"tracer_provider": provider},
    )
    untraced = anthropic.Anthropic(
        base_url=stub.base_url, api_key="test-key", max_retries=0, open_telemetry=False
    )
    for _ in range(2):
        stub.reply_json(p.message("claude-haiku-4-5-20251001", [p.text("ok")], usage_=p.usage(5, 1)))
    with WaxellContext(agent_name="otel") as ctx:
        traced.messages.create(
            model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "a"}]
        )
        untraced.messages.create(
            model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "b"}]
        )
    provider.shutdown()
    assert [s.name for s in exporter.get_finished_spans()] == ["anthropic.messages.create"]
    calls = read_run(ctx.run_id)["llm_calls"]
    assert calls[0]["attributes"]["otel_native_span"] == "anthropic.messages.create"
    assert calls[0]["attributes"]["otel_native_scope"] == "com.anthropic.sdk.python"
    assert "otel_native_span" not in calls[1]["attributes"]
