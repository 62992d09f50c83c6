"""Function tools of the OpenAI Agents SDK (the real package; its OpenAI client pointed at the stub LLM
server) pass the ``tool.before`` gate: a refused tool's function is never called, the run stops blocked,
and a warning is queued as the run's feedback while the tool runs.

Only the Agents SDK integration is on: with the OpenAI one on too, the model's response asking for the
tool is gated first (tests/integrations/openai/test_openai_gates.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import agents
import pytest
from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool
from openai import AsyncOpenAI

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

from .test_agents_sdk import tool_call

LIBRARIES = frozenset({"openai_agents"})
BLOCK = "policies:\n  - {name: no-weather, category: tool-allowlist, rules: {blocked_tools: [get_weather]}}\n"
WARN = "policies:\n  - {name: careful, category: safety, rules: {blocked_tools: [get_weather]}}\n"
OTHER = "policies:\n  - {name: only-search, category: tool-allowlist, rules: {blocked_tools: [web_search]}}\n"
ran: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """Tomorrow's weather in a city."""
    ran.append(city)
    return f"Sunny in {city}"


@pytest.fixture
def gated_agents() -> Iterator[None]:
    from waxell_observe_openai_agents import _instrument

    ran.clear()
    forget()
    _reset_for_tests()
    init(instrument=sorted(LIBRARIES))
    agents.set_trace_processors([_instrument._processor])
    yield
    plugin_manager().hook.on_uninstrument(libraries=LIBRARIES)
    _reset_for_tests()
    forget()


@pytest.fixture
def stub() -> Iterator[StubLLMServer]:
    with StubLLMServer() as server:
        yield server


def add(text: str) -> None:
    add_policies(get_store(get_config().db_url), load_policies(text))
    forget()


def weather_agent(stub: StubLLMServer) -> Agent:
    client = AsyncOpenAI(base_url=stub.openai_base_url, api_key="sk-test", max_retries=0)
    model = OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client)
    return Agent(name="weather-agent", instructions="Answer briefly.", tools=[get_weather], model=model)


def _queue_weather(stub: StubLLMServer) -> None:
    stub.reply_json(tool_call("get_weather", '{"city": "Paris"}', prompt_tokens=50, completion_tokens=12))
    stub.reply_json(
        ChatReply(content="It is sunny in Paris.", prompt_tokens=70, completion_tokens=9).completion()
    )


def _by_kind(run: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in run["spans"] if s["kind"] == kind]


def _policy_spans(run: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (s["name"], s["attributes"]["metadata"]["surface"], s["attributes"]["action"])
        for s in _by_kind(run, "policy")
    ]


async def test_a_refused_tool_is_never_called_and_the_run_is_blocked(
    gated_agents: None, stub: StubLLMServer, read_run: Any
) -> None:
    add(BLOCK)
    _queue_weather(stub)
    with pytest.raises(PolicyViolationError, match="get_weather") as raised:
        async with WaxellContext(agent_name="agents-sdk-gated") as ctx:
            await Runner.run(weather_agent(stub), "Weather in Paris?")
    assert ran == []
    assert raised.value.run_id == ctx.run_id
    run = read_run(ctx.run_id)
    [agent_span] = _by_kind(run, "agent")
    [tool] = _by_kind(run, "tool")
    assert (tool["name"], tool["status"], tool["parent_span_id"]) == (
        "get_weather",
        "error",
        agent_span["id"],
    )
    assert tool["error"] == "Error running tool: Tool 'get_weather' is blocked"
    assert _policy_spans(run) == [("no-weather", "tool.before", "block")]
    assert [(c["tokens_in"], c["tokens_out"]) for c in run["llm_calls"]] == [(50, 12)]
    assert run["status"] == "blocked"
    assert len(stub.requests) == 1  # the model is not asked again after the refusal


async def test_a_warned_tool_runs_and_the_warning_is_queued_as_feedback(
    gated_agents: None, stub: StubLLMServer, read_run: Any
) -> None:
    add(WARN)
    _queue_weather(stub)
    async with WaxellContext(agent_name="agents-sdk-warned") as ctx:
        result = await Runner.run(weather_agent(stub), "Weather in Paris?")
        feedback = ctx.take_feedback()
    assert result.final_output == "It is sunny in Paris."
    assert ran == ["Paris"]
    assert [(f["surface"], f["policy"], f["category"], f["reason"]) for f in feedback] == [
        ("tool.before", "careful", "safety", "Tool 'get_weather' is blocked")
    ]
    run = read_run(ctx.run_id)
    [tool] = _by_kind(run, "tool")
    assert (tool["name"], tool["status"]) == ("get_weather", "ok")
    assert tool["output"] == {"output": "Sunny in Paris"}
    assert _policy_spans(run) == [("careful", "tool.before", "warn")]
    assert run["status"] == "success"
    assert len(stub.requests) == 2


async def test_an_allowed_tool_runs_with_its_arguments(
    gated_agents: None, stub: StubLLMServer, read_run: Any
) -> None:
    add(OTHER)
    _queue_weather(stub)
    async with WaxellContext(agent_name="agents-sdk-allowed") as ctx:
        result = await Runner.run(weather_agent(stub), "Weather in Paris?")
    assert (result.final_output, ran) == ("It is sunny in Paris.", ["Paris"])
    run = read_run(ctx.run_id)
    assert _policy_spans(run) == []
    assert run["status"] == "success"


def test_both_tool_invocations_of_this_sdk_version_are_gated(gated_agents: None) -> None:
    """A release that renamed the invocation would leave tools ungated (and log a warning)."""
    from waxell_observe_openai_agents import _instrument

    assert _instrument._tools.missing() == []
    assert _instrument._tools.patched == [
        "agents.run_internal.tool_execution._invoke_function_tool_with_metadata",
        "agents.tool._invoke_function_tool_with_metadata",
    ]


REDACT = (
    "policies:\n  - {name: no-pii, category: content, rules: "
    "{pii_detection: {action: redact, types: [email]},"
    " credential_detection: false, prompt_injection_guard: false}}\n"
)


@function_tool
def notify(to: str) -> str:
    """Notify someone."""
    ran.append(to)
    return f"notified {to}"


async def test_a_redacted_tool_runs_with_the_scrubbed_arguments(
    gated_agents: None, stub: StubLLMServer, read_run: Any
) -> None:
    add(REDACT)
    stub.reply_json(tool_call("notify", '{"to": "jane@example.com"}', prompt_tokens=30, completion_tokens=6))
    stub.reply_json(ChatReply(content="Done.", prompt_tokens=40, completion_tokens=2).completion())
    client = AsyncOpenAI(base_url=stub.openai_base_url, api_key="sk-test", max_retries=0)
    model = OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client)
    agent = Agent(name="notifier", instructions="Notify.", tools=[notify], model=model)
    async with WaxellContext(agent_name="agents-sdk-redacted") as ctx:
        result = await Runner.run(agent, "Tell Jane.")
    assert result.final_output == "Done."
    assert ran == ["##EMAIL##"]  # the tool never saw the address
    run = read_run(ctx.run_id)
    assert _policy_spans(run) == [("no-pii", "tool.before", "redact")]
    assert run["status"] == "success"


@pytest.fixture
def with_openai_too() -> Iterator[None]:
    """The Agents SDK and the openai SDK instrumented: the model's tool call is gated in the response, and
    again when the SDK runs the tool, unless the first answer is taken (it is)."""
    from waxell_observe_openai_agents import _instrument

    ran.clear()
    forget()
    _reset_for_tests()
    init(instrument=sorted(LIBRARIES | {"openai"}))
    agents.set_trace_processors([_instrument._processor])
    yield
    plugin_manager().hook.on_uninstrument(libraries=LIBRARIES | {"openai"})
    _reset_for_tests()
    forget()


async def test_with_the_openai_integration_too_a_warning_is_given_once(
    with_openai_too: None, stub: StubLLMServer, read_run: Any
) -> None:
    add(WARN)
    _queue_weather(stub)
    async with WaxellContext(agent_name="agents-sdk-warned-once") as ctx:
        result = await Runner.run(weather_agent(stub), "Weather in Paris?")
        feedback = ctx.take_feedback()
    assert (result.final_output, ran) == ("It is sunny in Paris.", ["Paris"])
    assert [(f["surface"], f["policy"]) for f in feedback] == [("tool.before", "careful")]
    run = read_run(ctx.run_id)
    assert _policy_spans(run) == [("careful", "tool.before", "warn")]
    assert len(stub.requests) == 2


async def test_with_the_openai_integration_too_a_redaction_is_applied_once(
    with_openai_too: None, stub: StubLLMServer, read_run: Any
) -> None:
    add(REDACT)
    stub.reply_json(tool_call("notify", '{"to": "jane@example.com"}', prompt_tokens=30, completion_tokens=6))
    stub.reply_json(ChatReply(content="Done.", prompt_tokens=40, completion_tokens=2).completion())
    client = AsyncOpenAI(base_url=stub.openai_base_url, api_key="sk-test", max_retries=0)
    model = OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client)
    agent = Agent(name="notifier", instructions="Notify.", tools=[notify], model=model)
    async with WaxellContext(agent_name="agents-sdk-redacted-once") as ctx:
        await Runner.run(agent, "Tell Jane.")
    assert ran == ["##EMAIL##"]  # the answer given to the response is applied when the tool runs
    assert _policy_spans(read_run(ctx.run_id)) == [("no-pii", "tool.before", "redact")]
