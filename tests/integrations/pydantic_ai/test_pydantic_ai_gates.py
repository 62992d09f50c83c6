"""Pydantic AI tools (the real package, its OpenAI model pointed at the stub LLM server) pass the
``tool.before`` gate: a refused tool's function is never called, the run stops blocked, and a warning is
queued as the run's feedback while the tool runs.

Only the Pydantic AI integration is on: with the OpenAI one on too, the model's response asking for the
tool is refused first (``test_a_tool_the_policies_refuse_never_runs`` in test_pydantic_ai.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openai import AsyncOpenAI
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

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

from .test_pydantic_ai import tool_call

LIBRARIES = frozenset({"pydantic_ai"})
BLOCK = "policies:\n  - {name: no-weather, category: tool-allowlist, rules: {blocked_tools: [get_weather]}}\n"
WARN = "policies:\n  - {name: careful, category: safety, rules: {blocked_tools: [get_weather]}}\n"
ran: list[str] = []


@pytest.fixture
def gated() -> Iterator[None]:
    ran.clear()
    forget()
    _reset_for_tests()
    init(instrument=sorted(LIBRARIES))
    yield
    plugin_manager().hook.on_uninstrument(libraries=LIBRARIES)
    _reset_for_tests()
    forget()


def add(text: str) -> None:
    add_policies(get_store(get_config().db_url), load_policies(text))
    forget()


def _model(stub: StubLLMServer) -> OpenAIChatModel:
    client = AsyncOpenAI(base_url=stub.openai_base_url, api_key="sk-test", max_retries=0)
    return OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=client))


def weather_agent(stub: StubLLMServer) -> Agent[None, str]:
    agent: Agent[None, str] = Agent(_model(stub), name="weather-agent", instructions="Answer briefly.")

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Tomorrow's weather in a city."""
        ran.append(city)
        return f"Sunny in {city}"

    return agent


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


def test_a_refused_tool_is_never_called_and_the_run_is_blocked(
    gated: None, stub: StubLLMServer, read_run: Any
) -> None:
    add(BLOCK)
    _queue_weather(stub)
    with (
        pytest.raises(PolicyViolationError, match="get_weather") as raised,
        WaxellContext(agent_name="pydantic-ai-gated") as ctx,
    ):
        weather_agent(stub).run_sync("Weather in Paris?")
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
    assert tool["error"] == "waxell_observe.errors.PolicyViolationError: Tool 'get_weather' is blocked"
    assert agent_span["status"] == "error"
    assert _policy_spans(run) == [("no-weather", "tool.before", "block")]
    assert [(c["tokens_in"], c["tokens_out"]) for c in run["llm_calls"]] == [(50, 12)]
    assert run["status"] == "blocked"
    assert len(stub.requests) == 1  # the model is not asked again after the refusal


async def test_a_warned_tool_runs_and_the_warning_is_queued_as_feedback(
    gated: None, stub: StubLLMServer, read_run: Any
) -> None:
    add(WARN)
    _queue_weather(stub)
    async with WaxellContext(agent_name="pydantic-ai-warned") as ctx:
        result = await weather_agent(stub).run("Weather in Paris?")
        feedback = ctx.take_feedback()
    assert (result.output, ran) == ("It is sunny in Paris.", ["Paris"])
    assert [(f["surface"], f["policy"], f["category"], f["reason"]) for f in feedback] == [
        ("tool.before", "careful", "safety", "Tool 'get_weather' is blocked")
    ]
    run = read_run(ctx.run_id)
    [tool] = _by_kind(run, "tool")
    assert (tool["name"], tool["status"], tool["output"]) == (
        "get_weather",
        "ok",
        {"output": "Sunny in Paris"},
    )
    assert _policy_spans(run) == [("careful", "tool.before", "warn")]
    assert run["status"] == "success"
    assert len(stub.requests) == 2


def test_the_tool_execution_of_this_pydantic_ai_version_is_gated(gated: None) -> None:
    """A release that moved tool execution would leave tools ungated (and log a warning)."""
    from waxell_observe_pydantic_ai import _instrument

    assert (_instrument._tools.missing(), _instrument._tools.patched) == ([], ["ToolManager._raw_execute"])


REDACT = (
    "policies:\n  - {name: no-pii, category: content, rules: "
    "{pii_detection: {action: redact, types: [email]},"
    " credential_detection: false, prompt_injection_guard: false}}\n"
)


def test_a_redacted_tool_runs_with_the_scrubbed_arguments(
    gated: None, stub: StubLLMServer, read_run: Any
) -> None:
    add(REDACT)
    stub.reply_json(tool_call("notify", '{"to": "jane@example.com"}', prompt_tokens=30, completion_tokens=6))
    stub.reply_json(ChatReply(content="Done.", prompt_tokens=40, completion_tokens=2).completion())
    agent: Agent[None, str] = Agent(_model(stub), name="notifier")

    @agent.tool_plain
    def notify(to: str) -> str:
        """Notify someone."""
        ran.append(to)
        return f"notified {to}"

    with WaxellContext(agent_name="pydantic-ai-redacted") as ctx:
        assert agent.run_sync("Tell Jane.").output == "Done."
    assert ran == ["##EMAIL##"]  # the tool never saw the address
    run = read_run(ctx.run_id)
    assert _policy_spans(run) == [("no-pii", "tool.before", "redact")]
    assert run["status"] == "success"


@pytest.fixture
def with_openai_too() -> Iterator[None]:
    """Pydantic AI and the openai SDK instrumented: the model's tool call is gated in the response; the
    answer is taken when Pydantic AI runs the tool."""
    ran.clear()
    forget()
    _reset_for_tests()
    init(instrument=sorted(LIBRARIES | {"openai"}))
    yield
    plugin_manager().hook.on_uninstrument(libraries=LIBRARIES | {"openai"})
    _reset_for_tests()
    forget()


async def test_with_the_openai_integration_too_a_warning_is_given_once(
    with_openai_too: None, stub: StubLLMServer, read_run: Any
) -> None:
    add(WARN)
    _queue_weather(stub)
    async with WaxellContext(agent_name="pydantic-ai-warned-once") as ctx:
        result = await weather_agent(stub).run("Weather in Paris?")
        feedback = ctx.take_feedback()
    assert (result.output, ran) == ("It is sunny in Paris.", ["Paris"])
    assert [(f["surface"], f["policy"]) for f in feedback] == [("tool.before", "careful")]
    assert _policy_spans(read_run(ctx.run_id)) == [("careful", "tool.before", "warn")]
    assert len(stub.requests) == 2
