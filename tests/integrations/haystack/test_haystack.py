"""Haystack (the real package; OpenAIChatGenerator pointed at the stub LLM server): pipelines and
their components, agents and their tools are recorded as Haystack nests them, the generators' model
calls once, and tool.before stops a refused tool before it runs."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

import pytest
from haystack import Pipeline, tracing
from haystack.components.agents import Agent
from haystack.components.builders import ChatPromptBuilder
from haystack.components.generators.chat import OpenAIChatGenerator
from haystack.core.errors import PipelineRuntimeError
from haystack.dataclasses import ChatMessage
from haystack.tools import Tool
from haystack.tracing.logging_tracer import LoggingTracer
from haystack.utils import Secret

from integrations.llm_stub import ChatReply, StubLLMServer
from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError
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
        "usage": {
            "prompt_tokens": tokens[0],
            "completion_tokens": tokens[1],
            "total_tokens": sum(tokens),
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }


ran: list[str] = []


def get_weather(city: str) -> str:
    ran.append(city)
    if city == "Atlantis":
        raise RuntimeError("no forecast for Atlantis")
    return f"Sunny in {city}"


WEATHER = Tool(
    name="get_weather",
    description="Tomorrow's weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    function=get_weather,
)


def instrumented(libraries: frozenset[str]) -> Iterator[None]:
    _reset_for_tests()
    init(instrument=sorted(libraries))
    yield
    plugin_manager().hook.on_uninstrument(libraries=libraries)
    _reset_for_tests()


@pytest.fixture
def with_openai() -> Iterator[None]:
    """Haystack and the OpenAI SDK both instrumented (so a double count would show)."""
    yield from instrumented(frozenset({"haystack", "openai"}))


@pytest.fixture
def alone() -> Iterator[None]:
    yield from instrumented(frozenset({"haystack"}))


def _generator(stub: StubLLMServer, **generation_kwargs: Any) -> OpenAIChatGenerator:
    return OpenAIChatGenerator(
        api_key=Secret.from_token("sk-test"),
        model="gpt-4o-mini",
        api_base_url=stub.openai_base_url,
        max_retries=0,
        generation_kwargs=generation_kwargs or None,
    )


def _rag_pipeline(stub: StubLLMServer, **generation_kwargs: Any) -> Pipeline:
    pipeline = Pipeline(metadata={"name": "qa"})
    pipeline.add_component(
        "prompt",
        ChatPromptBuilder(
            template=[ChatMessage.from_user("Answer: {{question}}")], required_variables=["question"]
        ),
    )
    pipeline.add_component("llm", _generator(stub, **generation_kwargs))
    pipeline.connect("prompt.prompt", "llm.messages")
    return pipeline


def _by_kind(run: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in run["spans"] if s["kind"] == kind]


def test_a_pipeline_its_components_and_the_generator_call_recorded_once(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(completion(content="Paris.", tokens=(31, 4)))
    with WaxellContext(agent_name="haystack-qa", enforce_policy=False) as ctx:
        result = _rag_pipeline(stub).run({"prompt": {"question": "Capital of France?"}})
    assert result["llm"]["replies"][0].text == "Paris."

    run = read_run(ctx.run_id)
    [pipeline] = [s for s in run["spans"] if s["name"] == "qa"]
    assert (pipeline["kind"], pipeline["status"], pipeline["parent_span_id"]) == ("chain", "ok", "")
    assert pipeline["input"] == {"data": {"prompt": {"question": "Capital of France?"}}}
    components = {s["name"]: s for s in run["spans"] if s["parent_span_id"] == pipeline["id"]}
    assert sorted(components) == ["llm", "prompt"]
    assert (components["prompt"]["kind"], components["prompt"]["attributes"]["haystack.component.type"]) == (
        "chain",
        "ChatPromptBuilder",
    )
    assert components["prompt"]["input"] == {
        "question": "Capital of France?",
        "template": None,
        "template_variables": None,
    }
    assert components["llm"]["attributes"]["haystack.component.visits"] == 1
    [call] = run["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["parent_span_id"]) == (
        "gpt-4o-mini-2024-07-18",
        31,
        4,
        components["llm"]["id"],
    )
    assert "recorded_from" not in call["attributes"]  # the OpenAI integration's record
    assert len(stub.requests) == 1


@pytest.mark.parametrize("openai_on", [True, False], ids=["with-openai", "haystack-alone"])
def test_a_streamed_generator_call_is_recorded_once(
    openai_on: bool, stub: StubLLMServer, read_run: Any
) -> None:
    fixture = instrumented(frozenset({"haystack", "openai"} if openai_on else {"haystack"}))
    next(fixture)
    try:
        stub.answer_chat(
            ChatReply(content="Paris.", chunks=["Par", "is."], prompt_tokens=31, completion_tokens=4)
        )
        pieces: list[str] = []
        # OpenAI reports a stream's usage only when asked; Haystack does not ask by itself
        pipeline = _rag_pipeline(stub, stream_options={"include_usage": True})
        with WaxellContext(agent_name="haystack-stream", enforce_policy=False) as ctx:
            result = pipeline.run(
                {
                    "prompt": {"question": "Capital of France?"},
                    "llm": {"streaming_callback": lambda c: pieces.append(c.content)},
                }
            )
        assert result["llm"]["replies"][0].text == "Paris."
        assert "".join(pieces) == "Paris."
    finally:
        next(fixture, None)
    run = read_run(ctx.run_id)
    [llm] = [s for s in run["spans"] if s["name"] == "llm"]
    [call] = run["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["parent_span_id"]) == (
        "gpt-4o-mini-2024-07-18",
        31,
        4,
        llm["id"],
    )
    assert call["attributes"].get("recorded_from") == (None if openai_on else "haystack_meta")
    assert len(stub.requests) == 1
    assert stub.requests[0].body["stream"] is True


def test_without_the_openai_integration_the_call_is_recorded_from_the_reply_meta_outside_any_run(
    alone: None, stub: StubLLMServer, read_runs: Any, read_run: Any
) -> None:
    stub.reply_json(completion(content="Paris.", tokens=(31, 4)))
    _rag_pipeline(stub).run({"prompt": {"question": "Capital of France?"}})
    [summary] = read_runs()
    run = read_run(summary["run_id"])
    assert (run["agent_name"], run["workflow_name"], run["status"]) == ("qa", "haystack", "success")
    [llm] = [s for s in run["spans"] if s["name"] == "llm"]
    [call] = run["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["parent_span_id"]) == (
        "gpt-4o-mini-2024-07-18",
        31,
        4,
        llm["id"],
    )
    assert call["attributes"]["recorded_from"] == "haystack_meta"
    assert call["cost"] == pytest.approx(31 * 0.15e-6 + 4 * 0.6e-6)


def test_an_agent_its_tools_and_model_calls_nest_in_its_component(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(completion(calls=(("get_weather", {"city": "Paris"}),), tokens=(50, 12)))
    stub.reply_json(completion(content="Sunny in Paris.", tokens=(70, 5)))
    pipeline = Pipeline()
    pipeline.add_component("weather_agent", Agent(chat_generator=_generator(stub), tools=[WEATHER]))
    with WaxellContext(agent_name="haystack-agent", enforce_policy=False) as ctx:
        result = pipeline.run({"weather_agent": {"messages": [ChatMessage.from_user("Weather in Paris?")]}})
    assert result["weather_agent"]["last_message"].text == "Sunny in Paris."

    run = read_run(ctx.run_id)
    [agent] = _by_kind(run, "agent")
    assert (agent["name"], agent["status"], agent["output"]) == (
        "weather_agent",
        "ok",
        {"output": "Sunny in Paris."},
    )
    assert agent["attributes"]["agent.tools"] == ["get_weather"]
    assert agent["attributes"]["haystack.agent.steps_taken"] == 2
    [tool] = _by_kind(run, "tool")
    assert (tool["name"], tool["status"], tool["parent_span_id"], tool["input"], tool["output"]) == (
        "get_weather",
        "ok",
        agent["id"],
        {"city": "Paris"},
        {"output": "Sunny in Paris"},
    )
    assert [(c["tokens_in"], c["parent_span_id"]) for c in run["llm_calls"]] == [
        (50, agent["id"]),
        (70, agent["id"]),
    ]
    assert {c["attributes"].get("recorded_from") for c in run["llm_calls"]} == {None}
    assert len(stub.requests) == 2


def test_a_standalone_agent_without_the_openai_integration_records_each_call_once(
    alone: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(completion(calls=(("get_weather", {"city": "Paris"}),), tokens=(50, 12)))
    stub.reply_json(completion(content="Sunny in Paris.", tokens=(70, 5)))
    agent = Agent(chat_generator=_generator(stub), tools=[WEATHER])
    with WaxellContext(agent_name="haystack-agent", enforce_policy=False) as ctx:
        agent.run(messages=[ChatMessage.from_user("Weather in Paris?")])
    run = read_run(ctx.run_id)
    [agent_span] = _by_kind(run, "agent")
    assert (agent_span["name"], agent_span["parent_span_id"]) == ("Agent", "")
    assert [
        (c["tokens_in"], c["tokens_out"], c["parent_span_id"], c["attributes"]["recorded_from"])
        for c in run["llm_calls"]
    ] == [
        (50, 12, agent_span["id"], "haystack_meta"),
        (70, 5, agent_span["id"], "haystack_meta"),
    ]


def test_a_failing_tool_is_an_error_span(with_openai: None, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json(completion(calls=(("get_weather", {"city": "Atlantis"}),), tokens=(50, 12)))
    stub.reply_json(completion(content="Unknown.", tokens=(70, 3)))
    agent = Agent(chat_generator=_generator(stub), tools=[WEATHER], raise_on_tool_invocation_failure=False)
    with WaxellContext(agent_name="haystack-agent", enforce_policy=False) as ctx:
        agent.run(messages=[ChatMessage.from_user("Weather in Atlantis?")])
    run = read_run(ctx.run_id)
    [tool] = _by_kind(run, "tool")
    assert tool["status"] == "error"
    assert tool["attributes"]["error"] == (
        "Failed to invoke Tool `get_weather` with parameters {'city': 'Atlantis'}. "
        "Error: no forecast for Atlantis"
    )
    assert tool["output"] == {"output": {"error": tool["attributes"]["error"]}}
    assert len(run["llm_calls"]) == 2


def test_a_refused_tool_never_runs(alone: None, stub: StubLLMServer, read_run: Any) -> None:
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
    agent = Agent(chat_generator=_generator(stub), tools=[WEATHER])
    try:
        with pytest.raises(PolicyViolationError), WaxellContext(agent_name="haystack-gated") as ctx:
            agent.run(messages=[ChatMessage.from_user("Weather in Paris?")])
    finally:
        forget()
    assert ran == []
    run = read_run(ctx.run_id)
    [tool] = _by_kind(run, "tool")
    assert (tool["status"], tool["attributes"]["error.type"]) == ("error", "PolicyViolationError")
    policy = [
        (s["name"], s["attributes"]["metadata"]["surface"]) for s in run["spans"] if s["kind"] == "policy"
    ]
    assert policy == [("no-weather", "tool.before")]
    assert run["status"] == "blocked"
    assert len(stub.requests) == 1


def test_an_async_agent_records_like_a_sync_one(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(completion(calls=(("get_weather", {"city": "Paris"}),), tokens=(50, 12)))
    stub.reply_json(completion(content="Sunny in Paris.", tokens=(70, 5)))
    agent = Agent(chat_generator=_generator(stub), tools=[WEATHER])

    async def main() -> str:
        with WaxellContext(agent_name="haystack-async", enforce_policy=False) as ctx:
            result = await agent.run_async(messages=[ChatMessage.from_user("Weather in Paris?")])
        assert result["last_message"].text == "Sunny in Paris."
        return ctx.run_id

    run = read_run(asyncio.run(main()))
    [agent_span] = _by_kind(run, "agent")
    [tool] = _by_kind(run, "tool")
    assert (tool["name"], tool["parent_span_id"], tool["output"]) == (
        "get_weather",
        agent_span["id"],
        {"output": "Sunny in Paris"},
    )
    assert [(c["tokens_in"], c["parent_span_id"]) for c in run["llm_calls"]] == [
        (50, agent_span["id"]),
        (70, agent_span["id"]),
    ]


def test_the_programs_own_tracer_still_gets_every_span(
    with_openai: None, stub: StubLLMServer, read_run: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stub.reply_json(completion(content="Paris.", tokens=(31, 4)))
    tracing.enable_tracing(LoggingTracer())
    caplog.set_level("DEBUG", logger="haystack.tracing.logging_tracer")
    try:
        with WaxellContext(agent_name="haystack-qa", enforce_policy=False) as ctx:
            _rag_pipeline(stub).run({"prompt": {"question": "Capital of France?"}})
    finally:
        tracing.disable_tracing()
    operations = [r.getMessage() for r in caplog.records if "Operation:" in r.getMessage()]
    assert [o.split("Operation: ")[1].split()[0] for o in operations] == [
        "haystack.component.run",
        "haystack.component.run",
        "haystack.pipeline.run",
    ]
    # content tags go to the program's tracer under Haystack's rule (HAYSTACK_CONTENT_TRACING_ENABLED: off)
    assert not [r for r in caplog.records if "haystack.component.input=" in r.getMessage()]
    run = read_run(ctx.run_id)
    assert sorted(s["name"] for s in _by_kind(run, "chain")) == ["llm", "prompt", "qa"]
    [prompt] = [s for s in run["spans"] if s["name"] == "prompt"]
    assert prompt["input"]["question"] == "Capital of France?"
    assert len(run["llm_calls"]) == 1


def test_a_refused_tool_in_a_pipeline_stops_it_with_our_error_as_the_cause(
    alone: None, stub: StubLLMServer, read_run: Any
) -> None:
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
    pipeline = Pipeline()
    pipeline.add_component("weather_agent", Agent(chat_generator=_generator(stub), tools=[WEATHER]))
    try:
        with pytest.raises(PipelineRuntimeError) as raised, WaxellContext(agent_name="haystack-gated") as ctx:
            pipeline.run({"weather_agent": {"messages": [ChatMessage.from_user("Weather in Paris?")]}})
    finally:
        forget()
    assert isinstance(raised.value.__cause__, PolicyViolationError)
    assert ran == []
    run = read_run(ctx.run_id)
    [agent] = _by_kind(run, "agent")
    [tool] = _by_kind(run, "tool")
    assert (tool["status"], tool["parent_span_id"]) == ("error", agent["id"])
    assert (agent["status"], run["status"]) == ("error", "blocked")


def test_two_tool_calls_of_one_step_run_side_by_side_under_the_agent(
    with_openai: None, stub: StubLLMServer, read_run: Any
) -> None:
    """Haystack runs a step's tool calls in a thread pool (each in a copy of the caller's context)."""
    stub.reply_json(
        completion(
            calls=(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})), tokens=(50, 20)
        )
    )
    stub.reply_json(completion(content="Sunny in both.", tokens=(90, 4)))
    agent = Agent(chat_generator=_generator(stub), tools=[WEATHER])
    with WaxellContext(agent_name="haystack-parallel", enforce_policy=False) as ctx:
        agent.run(messages=[ChatMessage.from_user("Weather in Paris and Rome?")])
    run = read_run(ctx.run_id)
    [agent_span] = _by_kind(run, "agent")
    tools = sorted(
        (t["input"]["city"], t["parent_span_id"], t["output"]["output"]) for t in _by_kind(run, "tool")
    )
    assert tools == [
        ("Paris", agent_span["id"], "Sunny in Paris"),
        ("Rome", agent_span["id"], "Sunny in Rome"),
    ]
    assert [c["tokens_in"] for c in run["llm_calls"]] == [50, 90]


def test_a_pipeline_run_async_records_like_run(with_openai: None, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json(completion(content="Paris.", tokens=(31, 4)))
    pipeline = _rag_pipeline(stub)

    async def main() -> str:
        with WaxellContext(agent_name="haystack-async-qa", enforce_policy=False) as ctx:
            result = await pipeline.run_async({"prompt": {"question": "Capital of France?"}})
        assert result["llm"]["replies"][0].text == "Paris."
        return ctx.run_id

    run = read_run(asyncio.run(main()))
    [qa] = [s for s in run["spans"] if s["name"] == "qa"]
    components = {s["name"]: s for s in run["spans"] if s["parent_span_id"] == qa["id"]}
    assert sorted(components) == ["llm", "prompt"]
    [call] = run["llm_calls"]
    assert (call["tokens_in"], call["parent_span_id"]) == (31, components["llm"]["id"])
