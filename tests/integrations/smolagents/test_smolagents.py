"""smolagents (the real package; OpenAIServerModel pointed at the stub LLM server): an agent run is
an agent span, a managed agent nests in its manager's, tools pass the tool.before gate and become
tool spans, and each model call is recorded once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from smolagents import CodeAgent, OpenAIServerModel, ToolCallingAgent, tool

from integrations.llm_stub import ChatReply, StubLLMServer
from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.gating import forget
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.initialization import _reset_for_tests, init
from waxell_observe.plugins import plugin_manager
from waxell_observe.store import get_store


def tool_calls(
    *calls: tuple[str, dict[str, Any]], prompt_tokens: int, completion_tokens: int
) -> dict[str, Any]:
    """A chat completion asking for tool calls."""
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
                            "id": f"call_{i}",
                            "type": "function",
                            "function": {"name": name, "arguments": json.dumps(arguments)},
                        }
                        for i, (name, arguments) in enumerate(calls)
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


ran: list[str] = []


@tool
def get_weather(city: str) -> str:
    """Tomorrow's weather in a city.

    Args:
        city: the city.
    """
    ran.append(city)
    if city == "Atlantis":
        raise RuntimeError("no forecast for Atlantis")
    return f"Sunny in {city}"


def instrumented(libraries: frozenset[str]) -> Iterator[None]:
    ran.clear()
    _reset_for_tests()
    init(instrument=sorted(libraries))
    yield
    plugin_manager().hook.on_uninstrument(libraries=libraries)
    _reset_for_tests()


@pytest.fixture
def with_openai() -> Iterator[None]:
    """smolagents and the OpenAI SDK both instrumented (so a double count would show)."""
    yield from instrumented(frozenset({"smolagents", "openai"}))


@pytest.fixture
def alone() -> Iterator[None]:
    yield from instrumented(frozenset({"smolagents"}))


def _model(stub: StubLLMServer) -> OpenAIServerModel:
    return OpenAIServerModel(
        model_id="gpt-4o-mini",
        api_base=stub.openai_base_url,
        api_key="sk-test",
        client_kwargs={"max_retries": 0},
    )


def _by_kind(run: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in run["spans"] if s["kind"] == kind]


def test_an_agent_its_tool_and_two_model_calls_recorded_once(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(tool_calls(("get_weather", {"city": "Paris"}), prompt_tokens=50, completion_tokens=12))
    stub.reply_json(
        tool_calls(("final_answer", {"answer": "Sunny in Paris"}), prompt_tokens=70, completion_tokens=9)
    )
    agent = ToolCallingAgent(tools=[get_weather], model=_model(stub), name="weather_agent", verbosity_level=0)
    with WaxellContext(agent_name="smolagents", enforce_policy=False) as ctx:
        answer = agent.run("Weather in Paris?")
    assert answer == "Sunny in Paris"

    run = read_run(ctx.run_id)
    [agent_span] = _by_kind(run, "agent")
    assert (agent_span["name"], agent_span["status"], agent_span["parent_span_id"]) == (
        "weather_agent",
        "ok",
        "",
    )
    assert (agent_span["input"], agent_span["output"]) == (
        {"task": "Weather in Paris?"},
        {"output": "Sunny in Paris"},
    )
    attributes = agent_span["attributes"]
    assert (attributes["agent.class"], attributes["agent.tools"], attributes["agent.model"]) == (
        "ToolCallingAgent",
        ["final_answer", "get_weather"],
        "gpt-4o-mini",
    )
    tools = [
        (t["name"], t["status"], t["parent_span_id"], t["input"], t["output"]) for t in _by_kind(run, "tool")
    ]
    assert tools == [
        ("get_weather", "ok", agent_span["id"], {"city": "Paris"}, {"output": "Sunny in Paris"}),
        ("final_answer", "ok", agent_span["id"], {"answer": "Sunny in Paris"}, {"output": "Sunny in Paris"}),
    ]
    calls = run["llm_calls"]
    assert [(c["model"], c["tokens_in"], c["tokens_out"]) for c in calls] == [
        ("gpt-4o-mini-2024-07-18", 50, 12),
        ("gpt-4o-mini-2024-07-18", 70, 9),
    ]
    assert {c["parent_span_id"] for c in calls} == {agent_span["id"]}
    assert {c["attributes"].get("recorded_from") for c in calls} == {None}  # the OpenAI integration's
    assert len(stub.requests) == 2


def test_a_managed_agent_nests_in_its_manager(with_openai: None, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json(
        tool_calls(("weather_agent", {"task": "Weather in Paris?"}), prompt_tokens=40, completion_tokens=8)
    )
    stub.reply_json(tool_calls(("get_weather", {"city": "Paris"}), prompt_tokens=50, completion_tokens=12))
    stub.reply_json(
        tool_calls(("final_answer", {"answer": "Sunny in Paris"}), prompt_tokens=70, completion_tokens=9)
    )
    stub.reply_json(tool_calls(("final_answer", {"answer": "Sunny."}), prompt_tokens=90, completion_tokens=3))
    worker = ToolCallingAgent(
        tools=[get_weather],
        model=_model(stub),
        name="weather_agent",
        description="Knows the weather.",
        verbosity_level=0,
    )
    manager = ToolCallingAgent(
        tools=[], model=_model(stub), managed_agents=[worker], name="manager", verbosity_level=0
    )
    with WaxellContext(agent_name="smolagents-team", enforce_policy=False) as ctx:
        assert manager.run("What is the weather in Paris?") == "Sunny."
    run = read_run(ctx.run_id)
    agents = {s["name"]: s for s in _by_kind(run, "agent")}
    assert sorted(agents) == ["manager", "weather_agent"]
    assert agents["manager"]["parent_span_id"] == ""
    assert agents["manager"]["attributes"]["agent.managed_agents"] == ["weather_agent"]
    assert agents["weather_agent"]["parent_span_id"] == agents["manager"]["id"]
    [weather] = [t for t in _by_kind(run, "tool") if t["name"] == "get_weather"]
    assert weather["parent_span_id"] == agents["weather_agent"]["id"]
    assert [(c["tokens_in"], c["parent_span_id"]) for c in run["llm_calls"]] == [
        (40, agents["manager"]["id"]),
        (50, agents["weather_agent"]["id"]),
        (70, agents["weather_agent"]["id"]),
        (90, agents["manager"]["id"]),
    ]


def test_outside_any_run_the_agent_opens_one_and_without_the_openai_integration_calls_still_count(
    alone: None, stub: StubLLMServer, read_runs: Any, read_run: Any
) -> None:
    stub.reply_json(tool_calls(("final_answer", {"answer": "Hi."}), prompt_tokens=11, completion_tokens=2))
    agent = ToolCallingAgent(tools=[], model=_model(stub), name="solo", verbosity_level=0)
    assert agent.run("Hi?") == "Hi."
    [summary] = read_runs()
    run = read_run(summary["run_id"])
    assert (run["agent_name"], run["workflow_name"], run["status"]) == ("solo", "smolagents", "success")
    [agent_span] = _by_kind(run, "agent")
    [call] = run["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["parent_span_id"]) == (
        "gpt-4o-mini",
        11,
        2,
        agent_span["id"],
    )
    assert call["attributes"]["recorded_from"] == "smolagents_usage"
    assert call["cost"] == pytest.approx(11 * 0.15e-6 + 2 * 0.6e-6)


def test_a_failing_tool_is_an_error_span_and_the_agent_goes_on(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(tool_calls(("get_weather", {"city": "Atlantis"}), prompt_tokens=50, completion_tokens=12))
    stub.reply_json(
        tool_calls(("final_answer", {"answer": "Unknown."}), prompt_tokens=70, completion_tokens=4)
    )
    agent = ToolCallingAgent(tools=[get_weather], model=_model(stub), name="weather_agent", verbosity_level=0)
    with WaxellContext(agent_name="smolagents", enforce_policy=False) as ctx:
        assert agent.run("Weather in Atlantis?") == "Unknown."
    run = read_run(ctx.run_id)
    [weather] = [t for t in _by_kind(run, "tool") if t["name"] == "get_weather"]
    assert (
        weather["status"],
        weather["attributes"]["error.type"],
        weather["attributes"]["error.message"],
    ) == (
        "error",
        "RuntimeError",
        "no forecast for Atlantis",
    )
    assert len(run["llm_calls"]) == 2


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
    stub.reply_json(tool_calls(("get_weather", {"city": "Paris"}), prompt_tokens=50, completion_tokens=12))
    stub.reply_json(
        tool_calls(("final_answer", {"answer": "Refused."}), prompt_tokens=70, completion_tokens=4)
    )
    agent = ToolCallingAgent(tools=[get_weather], model=_model(stub), name="weather_agent", verbosity_level=0)
    try:
        with WaxellContext(agent_name="smolagents-gated") as ctx:
            agent.run("Weather in Paris?")
    finally:
        forget()
    assert ran == []
    run = read_run(ctx.run_id)
    [weather] = [t for t in _by_kind(run, "tool") if t["name"] == "get_weather"]
    assert (weather["status"], weather["attributes"]["error.type"]) == ("error", "PolicyViolationError")
    policy = [
        (s["name"], s["attributes"]["metadata"]["surface"]) for s in run["spans"] if s["kind"] == "policy"
    ]
    assert policy == [("no-weather", "tool.before")]
    assert run["status"] == "blocked"


def test_with_the_openai_integration_too_a_warning_is_given_once(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    """The model's tool call is gated in the response; the answer is taken when smolagents runs it."""
    add_policies(
        get_store(get_config().db_url),
        load_policies(
            "policies:\n  - {name: careful, category: safety, rules: {blocked_tools: [get_weather]}}\n"
        ),
    )
    forget()
    stub.reply_json(tool_calls(("get_weather", {"city": "Paris"}), prompt_tokens=50, completion_tokens=12))
    stub.reply_json(tool_calls(("final_answer", {"answer": "Sunny."}), prompt_tokens=70, completion_tokens=4))
    agent = ToolCallingAgent(tools=[get_weather], model=_model(stub), name="weather_agent", verbosity_level=0)
    try:
        with WaxellContext(agent_name="smolagents-warned") as ctx:
            assert agent.run("Weather in Paris?") == "Sunny."
            feedback = ctx.take_feedback()
    finally:
        forget()
    assert ran == ["Paris"]
    assert [(f["surface"], f["policy"]) for f in feedback] == [("tool.before", "careful")]
    policy = [
        (s["name"], s["attributes"]["action"]) for s in read_run(ctx.run_id)["spans"] if s["kind"] == "policy"
    ]
    assert policy == [("careful", "warn")]


def test_a_streamed_run_is_one_agent_span_over_its_steps(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(tool_calls(("get_weather", {"city": "Paris"}), prompt_tokens=50, completion_tokens=12))
    stub.reply_json(
        tool_calls(("final_answer", {"answer": "Sunny in Paris"}), prompt_tokens=70, completion_tokens=9)
    )
    agent = ToolCallingAgent(tools=[get_weather], model=_model(stub), name="weather_agent", verbosity_level=0)
    with WaxellContext(agent_name="smolagents-stream", enforce_policy=False) as ctx:
        steps = list(agent.run("Weather in Paris?", stream=True))
    assert type(steps[-1]).__name__ == "FinalAnswerStep"
    run = read_run(ctx.run_id)
    [agent_span] = _by_kind(run, "agent")
    assert (agent_span["status"], agent_span["output"]) == ("ok", {"output": "Sunny in Paris"})
    assert [t["parent_span_id"] for t in _by_kind(run, "tool")] == [agent_span["id"], agent_span["id"]]
    assert [c["parent_span_id"] for c in run["llm_calls"]] == [agent_span["id"], agent_span["id"]]


def test_a_code_agent_records_the_tools_its_code_calls(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    code = "Thought: look it up.\n<code>\nweather = get_weather(city='Paris')\nfinal_answer(weather)\n</code>"
    stub.answer_chat(ChatReply(content=code, prompt_tokens=80, completion_tokens=20))
    agent = CodeAgent(tools=[get_weather], model=_model(stub), name="coder", verbosity_level=0)
    with WaxellContext(agent_name="smolagents-code", enforce_policy=False) as ctx:
        assert agent.run("Weather in Paris?") == "Sunny in Paris"
    run = read_run(ctx.run_id)
    [agent_span] = _by_kind(run, "agent")
    assert agent_span["attributes"]["agent.class"] == "CodeAgent"
    tools = [(t["name"], t["parent_span_id"], t["input"]) for t in _by_kind(run, "tool")]
    assert tools == [
        ("get_weather", agent_span["id"], {"city": "Paris"}),
        ("final_answer", agent_span["id"], {"args": ["Sunny in Paris"]}),
    ]
    [call] = run["llm_calls"]
    assert (call["tokens_in"], call["tokens_out"], call["parent_span_id"]) == (80, 20, agent_span["id"])
    assert ran == ["Paris"]


def test_tool_calls_run_in_parallel_are_recorded_under_the_agent(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(
        tool_calls(
            ("get_weather", {"city": "Paris"}),
            ("get_weather", {"city": "London"}),
            prompt_tokens=50,
            completion_tokens=20,
        )
    )
    stub.reply_json(tool_calls(("final_answer", {"answer": "Sunny."}), prompt_tokens=90, completion_tokens=4))
    agent = ToolCallingAgent(tools=[get_weather], model=_model(stub), name="weather_agent", verbosity_level=0)
    with WaxellContext(agent_name="smolagents-parallel", enforce_policy=False) as ctx:
        assert agent.run("Weather in Paris and London?") == "Sunny."
    run = read_run(ctx.run_id)
    [agent_span] = _by_kind(run, "agent")
    weather = sorted(
        (t["input"]["city"], t["output"]["output"], t["parent_span_id"])
        for t in _by_kind(run, "tool")
        if t["name"] == "get_weather"
    )
    assert weather == [
        ("London", "Sunny in London", agent_span["id"]),
        ("Paris", "Sunny in Paris", agent_span["id"]),
    ]
    assert sorted(ran) == ["London", "Paris"]
