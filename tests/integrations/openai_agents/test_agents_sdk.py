"""The OpenAI Agents SDK (the real package; its OpenAI client pointed at the stub LLM server): agents,
tools and handoffs become nested spans, and each model call is recorded once, by the OpenAI
integration, under the agent that made it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import agents
import pytest
from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, Runner, function_tool
from openai import AsyncOpenAI

from integrations.llm_stub import ChatReply, StubLLMServer
from waxell_observe import WaxellContext
from waxell_observe.initialization import _reset_for_tests, init
from waxell_observe.plugins import plugin_manager

LIBRARIES = frozenset({"openai_agents", "openai"})


@pytest.fixture
def instrumented_agents() -> Iterator[None]:
    """The Agents SDK and the OpenAI SDK instrumented; the SDK's own exporter (which would upload
    traces) replaced by ours alone."""
    from waxell_observe_openai_agents import _instrument

    _reset_for_tests()
    init(instrument=sorted(LIBRARIES))
    agents.set_trace_processors([_instrument._processor])
    yield
    plugin_manager().hook.on_uninstrument(libraries=LIBRARIES)
    _reset_for_tests()


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


@function_tool
def get_weather(city: str) -> str:
    """Tomorrow's weather in a city."""
    return f"Sunny in {city}"


@pytest.fixture
def stub() -> Iterator[StubLLMServer]:
    with StubLLMServer() as server:
        yield server


def _model(stub: StubLLMServer) -> OpenAIChatCompletionsModel:
    client = AsyncOpenAI(base_url=stub.openai_base_url, api_key="sk-test", max_retries=0)
    return OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client)


def _by_kind(run: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in run["spans"] if s["kind"] == kind or s["attributes"].get("span.kind") == kind]


async def test_an_agent_its_tool_and_its_two_model_calls(
    instrumented_agents: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(tool_call("get_weather", '{"city": "Paris"}', prompt_tokens=50, completion_tokens=12))
    stub.reply_json(
        ChatReply(content="It is sunny in Paris.", prompt_tokens=70, completion_tokens=9).completion()
    )
    agent = Agent(
        name="weather-agent", instructions="Answer briefly.", tools=[get_weather], model=_model(stub)
    )
    async with WaxellContext(agent_name="agents-sdk", enforce_policy=False) as ctx:
        result = await Runner.run(agent, "Weather in Paris?")
    assert result.final_output == "It is sunny in Paris."

    run = read_run(ctx.run_id)
    [agent_span] = _by_kind(run, "agent")
    [tool] = _by_kind(run, "tool")
    assert agent_span["name"] == "weather-agent"
    assert agent_span["attributes"]["agent.tools"] == ["get_weather"]
    assert (tool["name"], tool["status"], tool["parent_span_id"]) == ("get_weather", "ok", agent_span["id"])
    assert tool["input"] == {"input": '{"city": "Paris"}'}
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


async def test_a_handoff_nests_the_second_agent(
    instrumented_agents: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(tool_call("transfer_to_french_agent", "{}", prompt_tokens=40, completion_tokens=5))
    stub.reply_json(ChatReply(content="Bonjour !", prompt_tokens=30, completion_tokens=3).completion())
    french = Agent(name="french-agent", instructions="Answer in French.", model=_model(stub))
    triage = Agent(name="triage-agent", instructions="Hand off.", handoffs=[french], model=_model(stub))
    async with WaxellContext(agent_name="agents-handoff", enforce_policy=False) as ctx:
        result = await Runner.run(triage, "Hello in French?")
    assert result.final_output == "Bonjour !"
    run = read_run(ctx.run_id)
    agents_by_name = {s["name"]: s for s in _by_kind(run, "agent")}
    assert sorted(agents_by_name) == ["french-agent", "triage-agent"]
    [handoff] = _by_kind(run, "handoff")
    assert (handoff["attributes"]["handoff.from"], handoff["attributes"]["handoff.to"]) == (
        "triage-agent",
        "french-agent",
    )
    assert handoff["parent_span_id"] == agents_by_name["triage-agent"]["id"]
    calls = run["llm_calls"]
    assert [(c["tokens_in"], c["parent_span_id"]) for c in calls] == [
        (40, agents_by_name["triage-agent"]["id"]),
        (30, agents_by_name["french-agent"]["id"]),
    ]


async def test_outside_any_run_the_trace_is_a_run_and_without_the_openai_integration_calls_still_count(
    stub: StubLLMServer, read_runs: Any, read_run: Any
) -> None:
    from waxell_observe_openai_agents import _instrument

    _reset_for_tests()
    init(instrument=["openai_agents"])  # the OpenAI SDK itself not instrumented
    agents.set_trace_processors([_instrument._processor])
    try:
        stub.reply_json(ChatReply(content="Hi.", prompt_tokens=11, completion_tokens=2).completion())
        agent = Agent(name="solo-agent", instructions="Be brief.", model=_model(stub))
        await Runner.run(agent, "Hi?")
    finally:
        plugin_manager().hook.on_uninstrument(libraries=frozenset({"openai_agents"}))
        _reset_for_tests()
    [summary] = read_runs()
    run = read_run(summary["run_id"])
    assert (run["agent_name"], run["workflow_name"], run["status"]) == (
        "Agent workflow",
        "openai-agents",
        "success",
    )
    [call] = run["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"]) == ("gpt-4o-mini", 11, 2)
    assert call["attributes"]["recorded_from"] == "agents_sdk_trace"


async def test_a_streamed_run_records_each_model_call_once(
    instrumented_agents: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.answer_chat(
        ChatReply(content="Hello there.", chunks=["Hello", " there."], prompt_tokens=21, completion_tokens=3)
    )
    agent = Agent(
        name="streamer",
        instructions="Greet.",
        model=_model(stub),
        model_settings=ModelSettings(include_usage=True),  # the stream's last chunk carries the usage
    )
    async with WaxellContext(agent_name="agents-stream", enforce_policy=False) as ctx:
        result = Runner.run_streamed(agent, "Hi?")
        async for _event in result.stream_events():
            pass
    assert result.final_output == "Hello there."
    run = read_run(ctx.run_id)
    [agent_span] = _by_kind(run, "agent")
    [call] = run["llm_calls"]
    assert (call["tokens_in"], call["tokens_out"], call["parent_span_id"]) == (21, 3, agent_span["id"])
    assert call["attributes"].get("recorded_from") is None
    assert len(stub.requests) == 1


async def test_a_tripped_input_guardrail_is_a_guardrail_span(
    instrumented_agents: None, stub: StubLLMServer, read_run: Any
) -> None:
    @agents.input_guardrail
    def no_homework(ctx: Any, agent: Agent, user_input: Any) -> agents.GuardrailFunctionOutput:
        return agents.GuardrailFunctionOutput(output_info={"homework": True}, tripwire_triggered=True)

    stub.answer_chat(ChatReply(content="Sure.", prompt_tokens=5, completion_tokens=1))
    agent = Agent(name="tutor", instructions="Help.", model=_model(stub), input_guardrails=[no_homework])
    with pytest.raises(agents.InputGuardrailTripwireTriggered):
        async with WaxellContext(agent_name="agents-guardrail", enforce_policy=False) as ctx:
            await Runner.run(agent, "Do my homework.")
    run = read_run(ctx.run_id)
    [agent_span] = _by_kind(run, "agent")
    [guardrail] = _by_kind(run, "guardrail")
    assert (guardrail["name"], guardrail["attributes"]["guardrail.triggered"]) == ("no_homework", True)
    assert guardrail["parent_span_id"] == agent_span["id"]
