"""Agno (the real package; OpenAIChat pointed at the stub LLM server): an agent run is an agent
span, its tool calls pass tool.before and are tool spans under it, and each model call is recorded
once, by the OpenAI integration, under the agent span."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("AGNO_TELEMETRY", "false")

import pytest
from agno.agent import Agent
from agno.models.openai import OpenAIChat

from integrations.llm_stub import StubLLMServer
from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.current import current_context
from waxell_observe.gating import forget
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.initialization import _reset_for_tests, init
from waxell_observe.plugins import plugin_manager
from waxell_observe.store import get_store


def completion(
    *, content: str | None = None, calls: tuple[tuple[str, dict[str, Any]], ...] = (), tokens: tuple[int, int]
) -> dict[str, Any]:
    """A chat completion answering ``content`` or asking for tool ``calls``."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(calls)
        ]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1], "total_tokens": sum(tokens)},
    }


ran: list[str] = []


def get_weather(city: str) -> str:
    """Tomorrow's weather in a city.

    Args:
        city: the city.
    """
    ran.append(city)
    return f"Sunny in {city}"


def _instrumented(libraries: frozenset[str]) -> Iterator[None]:
    _reset_for_tests()
    init(instrument=sorted(libraries))
    yield
    plugin_manager().hook.on_uninstrument(libraries=libraries)
    _reset_for_tests()


@pytest.fixture
def instrumented() -> Iterator[None]:
    """Agno and the OpenAI SDK both instrumented (so a double count would show)."""
    yield from _instrumented(frozenset({"agno", "openai"}))


@pytest.fixture
def alone() -> Iterator[None]:
    yield from _instrumented(frozenset({"agno"}))


def _agent(stub: StubLLMServer) -> Agent:
    model = OpenAIChat(id="gpt-4o-mini", base_url=stub.openai_base_url, api_key="sk-test", max_retries=0)
    return Agent(name="weather_agent", model=model, tools=[get_weather], telemetry=False)


def _by_kind(run: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in run["spans"] if s["kind"] == kind]


def test_an_agent_its_tool_and_two_model_calls_recorded_once(
    instrumented: None, stub: StubLLMServer, read_run: Any
) -> None:
    ran.clear()
    stub.reply_json(completion(calls=(("get_weather", {"city": "Paris"}),), tokens=(50, 12)))
    stub.reply_json(completion(content="Sunny in Paris.", tokens=(70, 5)))
    with WaxellContext(agent_name="agno", enforce_policy=False) as ctx:
        result = _agent(stub).run("Weather in Paris?")
    assert result.content == "Sunny in Paris."
    assert ran == ["Paris"]
    run = read_run(ctx.run_id)
    [agent] = _by_kind(run, "agent")
    assert (agent["name"], agent["status"], agent["parent_span_id"], agent["input"], agent["output"]) == (
        "weather_agent",
        "ok",
        "",
        {"input": "Weather in Paris?"},
        {"output": "Sunny in Paris."},
    )
    assert (agent["attributes"]["agent.model"], agent["attributes"]["agent.class"]) == (
        "gpt-4o-mini",
        "Agent",
    )
    [tool] = _by_kind(run, "tool")
    assert (tool["name"], tool["status"], tool["parent_span_id"], tool["input"], tool["output"]) == (
        "get_weather",
        "ok",
        agent["id"],
        {"city": "Paris"},
        {"output": "Sunny in Paris"},
    )
    assert [(c["model"], c["tokens_in"], c["tokens_out"], c["parent_span_id"]) for c in run["llm_calls"]] == [
        ("gpt-4o-mini-2024-07-18", 50, 12, agent["id"]),
        ("gpt-4o-mini-2024-07-18", 70, 5, agent["id"]),
    ]
    assert len(stub.requests) == 2


def test_outside_any_run_an_async_agent_opens_one(
    instrumented: None, stub: StubLLMServer, read_runs: Any, read_run: Any
) -> None:
    stub.reply_json(completion(content="Hi.", tokens=(11, 2)))
    result = asyncio.run(_agent(stub).arun("Hi?"))
    assert result.content == "Hi."
    assert current_context.get() is None  # the run of its own lived in the run's task, not in the caller
    [summary] = read_runs()
    run = read_run(summary["run_id"])
    assert (run["agent_name"], run["workflow_name"], run["status"]) == ("weather_agent", "agno", "success")
    [agent] = _by_kind(run, "agent")
    [call] = run["llm_calls"]
    assert (call["tokens_in"], call["tokens_out"], call["parent_span_id"]) == (11, 2, agent["id"])


def test_a_streamed_run_is_one_agent_span(instrumented: None, stub: StubLLMServer, read_run: Any) -> None:
    stub.answer_chat()
    with WaxellContext(agent_name="agno-stream", enforce_policy=False) as ctx:
        events = list(_agent(stub).run("Capital of France?", stream=True))
    assert events
    run = read_run(ctx.run_id)
    [agent] = _by_kind(run, "agent")
    assert agent["status"] == "ok"
    [call] = run["llm_calls"]
    assert call["parent_span_id"] == agent["id"]


def test_a_refused_tool_never_runs(alone: None, stub: StubLLMServer, read_run: Any) -> None:
    """Without a provider integration refusing the model's request, the tool call itself is gated:
    Agno is answered a failure carrying the refusal, and hands it to the model."""
    add_policies(
        get_store(get_config().db_url),
        load_policies(
            "policies:\n"
            "  - {name: no-weather, category: tool-allowlist, rules: {blocked_tools: [get_weather]}}\n"
        ),
    )
    forget()
    ran.clear()
    stub.reply_json(completion(calls=(("get_weather", {"city": "Paris"}),), tokens=(50, 12)))
    stub.reply_json(completion(content="Refused.", tokens=(70, 3)))
    try:
        with WaxellContext(agent_name="agno-gated") as ctx:
            assert _agent(stub).run("Weather in Paris?").content == "Refused."
    finally:
        forget()
    assert ran == []
    run = read_run(ctx.run_id)
    [agent] = _by_kind(run, "agent")
    [tool] = _by_kind(run, "tool")
    assert (tool["status"], tool["parent_span_id"], tool["attributes"]["error.type"]) == (
        "error",
        agent["id"],
        "PolicyViolationError",
    )
    policy = [
        (s["name"], s["attributes"]["metadata"]["surface"]) for s in run["spans"] if s["kind"] == "policy"
    ]
    assert policy == [("no-weather", "tool.before")]
    assert run["status"] == "blocked"
    told = [m for m in stub.requests[1].body["messages"] if m["role"] == "tool"]
    assert told == [{"role": "tool", "content": "Tool 'get_weather' is blocked", "tool_call_id": "call_0"}]
    # no provider integration on: the calls are recorded from Agno's own usage, once each
    assert [
        (c["model"], c["tokens_in"], c["tokens_out"], c["parent_span_id"], c["attributes"]["recorded_from"])
        for c in run["llm_calls"]
    ] == [
        ("gpt-4o-mini", 50, 12, agent["id"], "agno_usage"),
        ("gpt-4o-mini", 70, 3, agent["id"], "agno_usage"),
    ]
    assert run["llm_calls"][0]["cost"] == pytest.approx(50 * 0.15e-6 + 12 * 0.6e-6)


def flaky_forecast(city: str) -> str:
    """A forecast service that is down.

    Args:
        city: the city.
    """
    raise RuntimeError(f"no forecast for {city}")


def test_a_failing_tool_is_an_error_span(instrumented: None, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json(completion(calls=(("flaky_forecast", {"city": "Atlantis"}),), tokens=(50, 12)))
    stub.reply_json(completion(content="Unknown.", tokens=(70, 3)))
    model = OpenAIChat(id="gpt-4o-mini", base_url=stub.openai_base_url, api_key="sk-test", max_retries=0)
    agent = Agent(name="weather_agent", model=model, tools=[flaky_forecast], telemetry=False)
    with WaxellContext(agent_name="agno-failing", enforce_policy=False) as ctx:
        assert agent.run("Weather in Atlantis?").content == "Unknown."
    run = read_run(ctx.run_id)
    [tool] = _by_kind(run, "tool")
    assert (tool["status"], tool["attributes"]["error"]) == ("error", "no forecast for Atlantis")
    assert len(run["llm_calls"]) == 2
