"""AutoGen AgentChat (the real packages; OpenAIChatCompletionClient pointed at the stub LLM server):
agent and team runs are agent spans, a team's agents nest in it, tools pass tool.before and are tool
spans, a handoff is a handoff span, and each model call is recorded once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.teams import Swarm
from autogen_ext.models.openai import OpenAIChatCompletionClient

from integrations.llm_stub import StubLLMServer
from waxell_observe import WaxellContext
from waxell_observe.config import get_config
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


async def get_weather(city: str) -> str:
    """Tomorrow's weather in a city."""
    ran.append(city)
    return f"Sunny in {city}"


def instrumented(libraries: frozenset[str]) -> Iterator[None]:
    _reset_for_tests()
    init(instrument=sorted(libraries))
    yield
    plugin_manager().hook.on_uninstrument(libraries=libraries)
    _reset_for_tests()


@pytest.fixture
def with_openai() -> Iterator[None]:
    """AutoGen and the OpenAI SDK both instrumented (so a double count would show)."""
    yield from instrumented(frozenset({"autogen", "openai"}))


@pytest.fixture
def alone() -> Iterator[None]:
    yield from instrumented(frozenset({"autogen"}))


def _client(stub: StubLLMServer) -> OpenAIChatCompletionClient:
    return OpenAIChatCompletionClient(
        model="gpt-4o-mini", base_url=stub.openai_base_url, api_key="sk-test", max_retries=0
    )


def _weather_agent(stub: StubLLMServer) -> AssistantAgent:
    return AssistantAgent(
        "weather_agent", model_client=_client(stub), tools=[get_weather], reflect_on_tool_use=True
    )


def _by_kind(run: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in run["spans"] if s["kind"] == kind]


def test_an_agent_its_tool_and_two_model_calls_recorded_once(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(completion(calls=(("get_weather", {"city": "Paris"}),), tokens=(50, 12)))
    stub.reply_json(completion(content="Sunny in Paris.", tokens=(70, 5)))
    agent = _weather_agent(stub)

    async def main() -> str:
        with WaxellContext(agent_name="autogen", enforce_policy=False) as ctx:
            result = await agent.run(task="Weather in Paris?")
        assert result.messages[-1].content == "Sunny in Paris."
        return ctx.run_id

    run = read_run(asyncio.run(main()))
    [agent_span] = _by_kind(run, "agent")
    assert (agent_span["name"], agent_span["status"], agent_span["parent_span_id"]) == (
        "weather_agent",
        "ok",
        "",
    )
    assert (agent_span["input"], agent_span["output"]) == (
        {"task": "Weather in Paris?"},
        {"output": "Sunny in Paris."},
    )
    attributes = agent_span["attributes"]
    assert (attributes["agent.class"], attributes["agent.model"]) == ("AssistantAgent", "gpt-4o-mini")
    [tool] = _by_kind(run, "tool")
    assert (tool["name"], tool["status"], tool["parent_span_id"], tool["input"], tool["output"]) == (
        "get_weather",
        "ok",
        agent_span["id"],
        {"city": "Paris"},
        {"output": "Sunny in Paris"},
    )
    assert tool["attributes"]["gen_ai.tool.call.id"] == "call_0"
    calls = run["llm_calls"]
    assert [(c["model"], c["tokens_in"], c["tokens_out"], c["parent_span_id"]) for c in calls] == [
        ("gpt-4o-mini-2024-07-18", 50, 12, agent_span["id"]),
        ("gpt-4o-mini-2024-07-18", 70, 5, agent_span["id"]),
    ]
    assert {c["attributes"].get("recorded_from") for c in calls} == {None}  # the OpenAI integration's
    assert len(stub.requests) == 2


def test_outside_any_run_the_agent_opens_one_and_without_the_openai_integration_calls_still_count(
    alone: None, stub: StubLLMServer, read_runs: Any, read_run: Any
) -> None:
    stub.reply_json(completion(content="Hi.", tokens=(11, 2)))
    agent = AssistantAgent("solo", model_client=_client(stub))
    asyncio.run(agent.run(task="Hi?"))
    [summary] = read_runs()
    run = read_run(summary["run_id"])
    assert (run["agent_name"], run["workflow_name"], run["status"]) == ("solo", "autogen", "success")
    [agent_span] = _by_kind(run, "agent")
    [call] = run["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["parent_span_id"]) == (
        "gpt-4o-mini",
        11,
        2,
        agent_span["id"],
    )
    assert call["attributes"]["recorded_from"] == "autogen_usage"
    assert call["cost"] == pytest.approx(11 * 0.15e-6 + 2 * 0.6e-6)


def test_a_swarm_handoff_nests_both_agents_in_the_team(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(completion(calls=(("transfer_to_weather_agent", {}),), tokens=(40, 8)))
    stub.reply_json(completion(calls=(("get_weather", {"city": "Paris"}),), tokens=(50, 12)))
    stub.reply_json(completion(content="Sunny in Paris. TERMINATE", tokens=(70, 5)))
    triage = AssistantAgent("triage", model_client=_client(stub), handoffs=["weather_agent"])
    weather = _weather_agent(stub)
    team = Swarm(
        [triage, weather],
        termination_condition=TextMentionTermination("TERMINATE") | MaxMessageTermination(10),
    )

    async def main() -> str:
        with WaxellContext(agent_name="autogen-swarm", enforce_policy=False) as ctx:
            result = await team.run(task="Weather in Paris?")
        assert result.messages[-1].content == "Sunny in Paris. TERMINATE"
        return ctx.run_id

    run = read_run(asyncio.run(main()))
    agents = _by_kind(run, "agent")
    [team_span] = [a for a in agents if a["parent_span_id"] == ""]
    assert (team_span["name"], team_span["attributes"]["autogen.team.participants"]) == (
        "Swarm",
        ["triage", "weather_agent"],
    )
    assert team_span["output"] == {"output": "Sunny in Paris. TERMINATE"}
    members = {a["name"]: a for a in agents if a["parent_span_id"] == team_span["id"]}
    assert sorted(members) == ["triage", "weather_agent"]
    [handoff] = [s for s in run["spans"] if s["attributes"].get("span.kind") == "handoff"]
    assert (handoff["name"], handoff["parent_span_id"]) == (
        "transfer_to_weather_agent",
        members["triage"]["id"],
    )
    assert (handoff["attributes"]["handoff.from"], handoff["attributes"]["handoff.to"]) == (
        "triage",
        "weather_agent",
    )
    [tool] = _by_kind(run, "tool")
    assert (tool["name"], tool["parent_span_id"]) == ("get_weather", members["weather_agent"]["id"])
    assert [(c["tokens_in"], c["parent_span_id"]) for c in run["llm_calls"]] == [
        (40, members["triage"]["id"]),
        (50, members["weather_agent"]["id"]),
        (70, members["weather_agent"]["id"]),
    ]


def test_a_refused_tool_never_runs(alone: None, stub: StubLLMServer, read_run: Any) -> None:
    """Without a provider integration gating the model's tool requests, the tool call itself is gated."""
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
    agent = _weather_agent(stub)

    async def main() -> str:
        with WaxellContext(agent_name="autogen-gated") as ctx:
            await agent.run(task="Weather in Paris?")
        return ctx.run_id

    try:
        run = read_run(asyncio.run(main()))
    finally:
        forget()
    assert ran == []
    [tool] = _by_kind(run, "tool")
    assert (tool["status"], tool["attributes"]["error.type"]) == ("error", "PolicyViolationError")
    policy = [
        (s["name"], s["attributes"]["metadata"]["surface"]) for s in run["spans"] if s["kind"] == "policy"
    ]
    assert policy == [("no-weather", "tool.before")]
    assert run["status"] == "blocked"


def test_a_streamed_run_is_one_agent_span(with_openai: None, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json(completion(calls=(("get_weather", {"city": "Paris"}),), tokens=(50, 12)))
    stub.reply_json(completion(content="Sunny in Paris.", tokens=(70, 5)))
    agent = _weather_agent(stub)

    async def main() -> tuple[str, list[Any]]:
        with WaxellContext(agent_name="autogen-stream", enforce_policy=False) as ctx:
            items = [item async for item in agent.run_stream(task="Weather in Paris?")]
        return ctx.run_id, items

    run_id, items = asyncio.run(main())
    assert type(items[-1]).__name__ == "TaskResult"
    run = read_run(run_id)
    [agent_span] = _by_kind(run, "agent")
    assert (agent_span["status"], agent_span["output"]) == ("ok", {"output": "Sunny in Paris."})
    assert [t["parent_span_id"] for t in _by_kind(run, "tool")] == [agent_span["id"]]
    assert [c["parent_span_id"] for c in run["llm_calls"]] == [agent_span["id"], agent_span["id"]]


PROGRAM = """
import asyncio, os
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
trace.set_tracer_provider(TracerProvider())  # the program's own provider: AutoGen's spans reach the bridge
import waxell_observe
waxell_observe.init(instrument=["autogen", "openai", "otel_bridge"])
assert waxell_observe.diagnose()["integrations"]["autogen"]["state"] == "waiting"
from autogen_agentchat.agents import AssistantAgent  # imported after init(): the lazy trigger
from autogen_ext.models.openai import OpenAIChatCompletionClient
assert waxell_observe.diagnose()["integrations"]["autogen"]["state"] == "active"

async def get_weather(city: str) -> str:
    "Tomorrow's weather in a city."
    return f"Sunny in {city}"

client = OpenAIChatCompletionClient(model="gpt-4o-mini", base_url=os.environ["STUB_URL"], api_key="sk-test")
agent = AssistantAgent("weather_agent", model_client=client, tools=[get_weather])
with waxell_observe.WaxellContext(agent_name="late", enforce_policy=False) as ctx:
    asyncio.run(agent.run(task="Weather in Paris?"))
assert waxell_observe.flush_sync(timeout=30).pending == 0
print(ctx.run_id)
"""


def test_imported_after_init_and_autogens_own_spans_are_not_recorded_twice_by_the_bridge(
    stub: StubLLMServer, read_run: Any
) -> None:
    """With a global SDK provider the bridge sees AutoGen's invoke_agent / execute_tool spans; the
    AutoGen integration records them, so the bridge skips them."""
    import os
    import subprocess
    import sys

    stub.reply_json(completion(calls=(("get_weather", {"city": "Paris"}),), tokens=(50, 12)))
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, STUB_URL=stub.openai_base_url),
    )
    assert done.returncode == 0, done.stderr
    run = read_run(done.stdout.strip().splitlines()[-1])
    assert [(s["name"], s["kind"]) for s in run["spans"] if s["kind"] in ("agent", "tool")] == [
        ("weather_agent", "agent"),
        ("get_weather", "tool"),
    ]
    assert [(c["tokens_in"], c["tokens_out"]) for c in run["llm_calls"]] == [(50, 12)]


async def flaky_forecast(city: str) -> str:
    """A forecast service that is down."""
    raise RuntimeError(f"no forecast for {city}")


def test_a_failing_tool_is_an_error_span_and_the_agent_goes_on(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(completion(calls=(("flaky_forecast", {"city": "Atlantis"}),), tokens=(50, 12)))
    stub.reply_json(completion(content="Unknown.", tokens=(70, 3)))
    agent = AssistantAgent(
        "weather_agent", model_client=_client(stub), tools=[flaky_forecast], reflect_on_tool_use=True
    )

    async def main() -> str:
        with WaxellContext(agent_name="autogen-failing", enforce_policy=False) as ctx:
            result = await agent.run(task="Weather in Atlantis?")
        assert result.messages[-1].content == "Unknown."
        return ctx.run_id

    run = read_run(asyncio.run(main()))
    [tool] = _by_kind(run, "tool")
    assert (tool["status"], tool["attributes"]["error.type"], tool["attributes"]["error.message"]) == (
        "error",
        "RuntimeError",
        "no forecast for Atlantis",
    )
    assert run["status"] == "success"
    assert len(run["llm_calls"]) == 2
