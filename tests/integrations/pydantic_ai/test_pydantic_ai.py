"""Pydantic AI (the real package, its OpenAI model pointed at the stub LLM server), through its own
OpenTelemetry instrumentation and the in-process bridge: the agent run is an agent span, its tool
calls tool spans under it, and each model request an LLM call recorded once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openai import AsyncOpenAI
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from integrations.llm_stub import ChatReply, StubLLMServer
from waxell_observe import WaxellContext
from waxell_observe.initialization import _reset_for_tests, init
from waxell_observe.plugins import plugin_manager


def tool_call(name: str, arguments: str, *, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """A chat completion asking for one tool call."""
    return {
        "id": "chatcmpl-tool",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": name, "arguments": arguments},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def instrumented(libraries: frozenset[str]) -> Iterator[None]:
    _reset_for_tests()
    init(instrument=sorted(libraries))
    yield
    plugin_manager().hook.on_uninstrument(libraries=libraries)
    _reset_for_tests()


@pytest.fixture
def with_openai() -> Iterator[None]:
    """Pydantic AI and the OpenAI SDK both instrumented (so a double count would show)."""
    yield from instrumented(frozenset({"pydantic_ai", "openai"}))


@pytest.fixture
def alone() -> Iterator[None]:
    """Pydantic AI instrumented, the OpenAI SDK not."""
    yield from instrumented(frozenset({"pydantic_ai"}))


def weather_agent(stub: StubLLMServer) -> Agent[None, str]:
    client = AsyncOpenAI(base_url=stub.openai_base_url, api_key="sk-test", max_retries=0)
    model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=client))
    agent: Agent[None, str] = Agent(model, name="weather-agent", instructions="Answer briefly.")

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Tomorrow's weather in a city."""
        if city == "Atlantis":
            raise RuntimeError("no forecast for Atlantis")
        return f"Sunny in {city}"

    return agent


def _by_kind(run: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in run["spans"] if s["kind"] == kind]


def _queue_weather(stub: StubLLMServer, city: str = "Paris") -> None:
    stub.reply_json(tool_call("get_weather", f'{{"city": "{city}"}}', prompt_tokens=50, completion_tokens=12))
    stub.reply_json(
        ChatReply(content="It is sunny in Paris.", prompt_tokens=70, completion_tokens=9).completion()
    )


def test_an_agent_its_tool_and_two_model_calls_recorded_once(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    _queue_weather(stub)
    agent = weather_agent(stub)
    with WaxellContext(agent_name="pydantic-ai", enforce_policy=False) as ctx:
        result = agent.run_sync("Weather in Paris?")
    assert result.output == "It is sunny in Paris."

    run = read_run(ctx.run_id)
    [agent_span] = _by_kind(run, "agent")
    [tool] = _by_kind(run, "tool")
    assert (agent_span["name"], agent_span["status"], agent_span["parent_span_id"]) == (
        "weather-agent",
        "ok",
        "",
    )
    assert agent_span["attributes"]["otel.scope"] == "pydantic-ai"
    assert (agent_span["input"], agent_span["output"]) == (
        {"input": "Weather in Paris?"},
        {"output": "It is sunny in Paris."},
    )
    assert agent_span["attributes"]["gen_ai.aggregated_usage.input_tokens"] == 120
    assert (tool["name"], tool["status"], tool["parent_span_id"]) == ("get_weather", "ok", agent_span["id"])
    assert tool["input"] == {"input": {"city": "Paris"}}
    assert tool["output"] == {"output": "Sunny in Paris"}
    calls = run["llm_calls"]
    assert [(c["model"], c["tokens_in"], c["tokens_out"]) for c in calls] == [
        ("gpt-4o-mini-2024-07-18", 50, 12),
        ("gpt-4o-mini-2024-07-18", 70, 9),
    ]
    assert {c["parent_span_id"] for c in calls} == {agent_span["id"]}
    assert {c["attributes"].get("recorded_from") for c in calls} == {None}  # the OpenAI integration's
    assert (run["llm_call_count"], run["tokens_in"], run["tokens_out"]) == (2, 120, 21)
    assert len(stub.requests) == 2


async def test_without_the_openai_integration_the_calls_come_from_pydantic_ai_spans(
    alone: None, stub: StubLLMServer, read_run: Any
) -> None:
    _queue_weather(stub)
    agent = weather_agent(stub)
    async with WaxellContext(agent_name="pydantic-ai", enforce_policy=False) as ctx:
        result = await agent.run("Weather in Paris?")
    assert result.output == "It is sunny in Paris."
    run = read_run(ctx.run_id)
    [agent_span] = _by_kind(run, "agent")
    calls = run["llm_calls"]
    assert [(c["model"], c["provider"], c["tokens_in"], c["tokens_out"]) for c in calls] == [
        ("gpt-4o-mini-2024-07-18", "openai", 50, 12),
        ("gpt-4o-mini-2024-07-18", "openai", 70, 9),
    ]
    assert {c["attributes"]["recorded_from"] for c in calls} == {"otel_bridge"}
    assert {c["parent_span_id"] for c in calls} == {agent_span["id"]}
    assert calls[0]["cost"] == pytest.approx(50 * 0.15e-6 + 12 * 0.6e-6)


def test_a_failing_tool_fails_its_span_and_the_agent_run(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(tool_call("get_weather", '{"city": "Atlantis"}', prompt_tokens=50, completion_tokens=12))
    agent = weather_agent(stub)
    with (
        pytest.raises(RuntimeError, match="no forecast for Atlantis"),
        WaxellContext(agent_name="pydantic-ai", enforce_policy=False) as ctx,
    ):
        agent.run_sync("Weather in Atlantis?")
    run = read_run(ctx.run_id)
    [agent_span] = _by_kind(run, "agent")
    [tool] = _by_kind(run, "tool")
    assert (tool["status"], tool["error"], tool["parent_span_id"]) == (
        "error",
        "RuntimeError: no forecast for Atlantis",
        agent_span["id"],
    )
    assert tool["attributes"]["error.type"] == "RuntimeError"
    assert (agent_span["status"], agent_span["error"]) == ("error", "RuntimeError: no forecast for Atlantis")
    assert [(c["status"], c["tokens_in"], c["tokens_out"]) for c in run["llm_calls"]] == [("ok", 50, 12)]
    assert run["status"] == "error"
    assert len(stub.requests) == 1


def test_a_model_call_that_fails_is_recorded_once_with_its_error(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json({"error": {"message": "overloaded", "type": "server_error"}}, status=500)
    agent = weather_agent(stub)
    with (
        pytest.raises(ModelHTTPError, match="overloaded"),
        WaxellContext(agent_name="pydantic-ai", enforce_policy=False) as ctx,
    ):
        agent.run_sync("Weather in Paris?")
    run = read_run(ctx.run_id)
    [agent_span] = _by_kind(run, "agent")
    [call] = run["llm_calls"]
    assert (call["status"], call["model"], call["parent_span_id"]) == (
        "error",
        "gpt-4o-mini",
        agent_span["id"],
    )
    assert agent_span["status"] == "error"
    assert run["status"] == "error"
    assert len(stub.requests) == 1


async def test_a_streamed_run_is_recorded_like_any_other(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.answer_chat(
        ChatReply(content="Sunny.", chunks=["Sun", "ny."], prompt_tokens=33, completion_tokens=3)
    )
    agent = weather_agent(stub)
    async with (
        WaxellContext(agent_name="pydantic-ai-stream", enforce_policy=False) as ctx,
        agent.run_stream("Weather?") as result,
    ):
        assert await result.get_output() == "Sunny."
    run = read_run(ctx.run_id)
    [agent_span] = _by_kind(run, "agent")
    [call] = run["llm_calls"]
    assert (call["tokens_in"], call["tokens_out"], call["parent_span_id"]) == (33, 3, agent_span["id"])
    assert call["attributes"].get("recorded_from") is None
    assert len(stub.requests) == 1


def test_a_tool_the_policies_refuse_never_runs(with_openai: None, stub: StubLLMServer, read_run: Any) -> None:
    """The OpenAI integration asks tool.before for each tool call the model's response requests: the
    response never reaches the agent, so the tool does not run."""
    from waxell_observe.config import get_config
    from waxell_observe.errors import PolicyViolationError
    from waxell_observe.gating import forget
    from waxell_observe.governance import load_policies
    from waxell_observe.governance.policy_store import add_policies
    from waxell_observe.store import get_store

    add_policies(
        get_store(get_config().db_url),
        load_policies(
            "policies:\n"
            "  - {name: no-weather, category: tool-allowlist, rules: {blocked_tools: [get_weather]}}\n"
        ),
    )
    forget()
    _queue_weather(stub)
    agent = weather_agent(stub)
    try:
        with (
            pytest.raises(PolicyViolationError, match="get_weather"),
            WaxellContext(agent_name="pydantic-ai-gated") as ctx,
        ):
            agent.run_sync("Weather in Paris?")
    finally:
        forget()
    run = read_run(ctx.run_id)
    assert _by_kind(run, "tool") == []
    [agent_span] = _by_kind(run, "agent")
    assert agent_span["status"] == "error"
    assert [(s["name"], s["attributes"]["metadata"]["surface"]) for s in _by_kind(run, "policy")] == [
        ("no-weather", "tool.before")
    ]
    assert (run["status"], len(stub.requests)) == ("blocked", 1)
