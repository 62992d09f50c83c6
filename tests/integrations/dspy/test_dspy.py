"""DSPy (the real package; dspy.LM pointed at the stub LLM server): modules are spans nested as they
nest (ReAct an agent span), tools pass tool.before and become tool spans, each LM call is recorded
once and passes llm.before before the request leaves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dspy
import pytest

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

ran: list[str] = []


def get_weather(city: str) -> str:
    """Tomorrow's weather in a city."""
    ran.append(city)
    if city == "Atlantis":
        raise RuntimeError("no forecast for Atlantis")
    return f"Sunny in {city}"


def react_step(thought: str, tool: str, args: str) -> str:
    return (
        f"[[ ## next_thought ## ]]\n{thought}\n\n[[ ## next_tool_name ## ]]\n{tool}\n\n"
        f"[[ ## next_tool_args ## ]]\n{args}\n\n[[ ## completed ## ]]"
    )


def extract(reasoning: str, answer: str) -> str:
    return f"[[ ## reasoning ## ]]\n{reasoning}\n\n[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"


def queue_weather(stub: StubLLMServer, city: str = "Paris", answer: str = "Sunny in Paris") -> None:
    stub.reply_json(
        ChatReply(
            content=react_step("Look it up.", "get_weather", f'{{"city": "{city}"}}'),
            prompt_tokens=50,
            completion_tokens=12,
        ).completion()
    )
    stub.reply_json(
        ChatReply(
            content=react_step("Done.", "finish", "{}"), prompt_tokens=60, completion_tokens=8
        ).completion()
    )
    stub.reply_json(
        ChatReply(content=extract("It is known.", answer), prompt_tokens=70, completion_tokens=9).completion()
    )


def instrumented(libraries: frozenset[str]) -> Iterator[None]:
    forget()
    ran.clear()
    _reset_for_tests()
    init(instrument=sorted(libraries))
    yield
    plugin_manager().hook.on_uninstrument(libraries=libraries)
    _reset_for_tests()
    forget()


@pytest.fixture
def with_dspy() -> Iterator[None]:
    yield from instrumented(frozenset({"dspy"}))


@pytest.fixture
def with_litellm() -> Iterator[None]:
    """DSPy and LiteLLM both instrumented (so a double count would show)."""
    yield from instrumented(frozenset({"dspy", "litellm"}))


def lm(stub: StubLLMServer, **kwargs: Any) -> dspy.LM:
    return dspy.LM(
        "openai/gpt-4o-mini",
        api_base=stub.openai_base_url,
        api_key="sk-test",
        cache=False,
        num_retries=0,
        **kwargs,
    )


def _by_kind(run: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in run["spans"] if s["kind"] == kind]


def test_a_react_agent_its_modules_tools_and_lm_calls(
    with_dspy: None, stub: StubLLMServer, read_run: Any
) -> None:
    queue_weather(stub)
    agent = dspy.ReAct("question -> answer", tools=[get_weather])
    with dspy.context(lm=lm(stub)), WaxellContext(agent_name="dspy", enforce_policy=False) as ctx:
        prediction = agent(question="Weather in Paris?")
    assert prediction.answer == "Sunny in Paris"

    run = read_run(ctx.run_id)
    [react] = _by_kind(run, "agent")
    assert (react["name"], react["parent_span_id"], react["status"]) == ("ReAct", "", "ok")
    assert react["attributes"]["agent.tools"] == ["finish", "get_weather"]
    assert react["input"] == {"question": "Weather in Paris?"}
    assert react["output"]["answer"] == "Sunny in Paris"
    chains = [(c["name"], c["parent_span_id"]) for c in _by_kind(run, "chain")]
    [cot] = [c for c in _by_kind(run, "chain") if c["name"] == "ChainOfThought"]
    assert chains == [
        ("Predict", react["id"]),
        ("Predict", react["id"]),
        ("ChainOfThought", react["id"]),
        ("Predict", cot["id"]),
    ]
    tools = [(t["name"], t["parent_span_id"], t["input"], t["output"]) for t in _by_kind(run, "tool")]
    assert tools == [
        ("get_weather", react["id"], {"city": "Paris"}, {"output": "Sunny in Paris"}),
        ("finish", react["id"], {}, {"output": "Completed."}),
    ]
    predicts = [c["id"] for c in _by_kind(run, "chain") if c["name"] == "Predict"]
    calls = run["llm_calls"]
    assert [(c["model"], c["tokens_in"], c["tokens_out"], c["parent_span_id"]) for c in calls] == [
        ("gpt-4o-mini-2024-07-18", 50, 12, predicts[0]),
        ("gpt-4o-mini-2024-07-18", 60, 8, predicts[1]),
        ("gpt-4o-mini-2024-07-18", 70, 9, predicts[2]),
    ]
    assert {c["attributes"]["recorded_from"] for c in calls} == {"dspy_history"}
    assert calls[0]["cost"] == pytest.approx(50 * 0.15e-6 + 12 * 0.6e-6)
    assert len(stub.requests) == 3


def test_on_the_litellm_engine_the_litellm_integration_records_each_call_once(
    with_litellm: None, stub: StubLLMServer, read_run: Any
) -> None:
    queue_weather(stub)
    agent = dspy.ReAct("question -> answer", tools=[get_weather])
    with (
        dspy.context(lm=lm(stub, engine="litellm")),
        WaxellContext(agent_name="dspy", enforce_policy=False) as ctx,
    ):
        assert agent(question="Weather in Paris?").answer == "Sunny in Paris"
    run = read_run(ctx.run_id)
    calls = run["llm_calls"]
    assert [(c["tokens_in"], c["tokens_out"]) for c in calls] == [(50, 12), (60, 8), (70, 9)]
    assert {c["attributes"].get("recorded_from") for c in calls} == {None}  # LiteLLM's records
    assert len(stub.requests) == 3


def test_a_failing_tool_is_an_error_span_and_react_goes_on(
    with_dspy: None, stub: StubLLMServer, read_run: Any
) -> None:
    queue_weather(stub, city="Atlantis", answer="Unknown")
    agent = dspy.ReAct("question -> answer", tools=[get_weather])
    with dspy.context(lm=lm(stub)), WaxellContext(agent_name="dspy", enforce_policy=False) as ctx:
        assert agent(question="Weather in Atlantis?").answer == "Unknown"
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


def add(text: str) -> None:
    add_policies(get_store(get_config().db_url), load_policies(text))
    forget()


def test_a_refused_tool_never_runs(with_dspy: None, stub: StubLLMServer, read_run: Any) -> None:
    add(
        "policies:\n  - {name: no-weather, category: tool-allowlist, rules: {blocked_tools: [get_weather]}}\n"
    )
    queue_weather(stub, answer="Refused")
    agent = dspy.ReAct("question -> answer", tools=[get_weather])
    with dspy.context(lm=lm(stub)), WaxellContext(agent_name="dspy-gated") as ctx:
        agent(question="Weather in Paris?")
    assert ran == []
    run = read_run(ctx.run_id)
    [weather] = [t for t in _by_kind(run, "tool") if t["name"] == "get_weather"]
    assert (weather["status"], weather["attributes"]["error.type"]) == ("error", "PolicyViolationError")
    policy = [
        (s["name"], s["attributes"]["metadata"]["surface"]) for s in run["spans"] if s["kind"] == "policy"
    ]
    assert policy == [("no-weather", "tool.before")]
    assert run["status"] == "blocked"


def test_a_refused_model_is_never_asked(with_dspy: None, stub: StubLLMServer, read_run: Any) -> None:
    add("policies:\n  - {name: models, category: llm, rules: {blocked_models: [gpt-4o-mini]}}\n")
    predict = dspy.Predict("question -> answer")
    with (
        pytest.raises(PolicyViolationError, match="gpt-4o-mini"),
        dspy.context(lm=lm(stub)),
        WaxellContext(agent_name="dspy-llm-gated") as ctx,
    ):
        predict(question="Hi?")
    assert stub.requests == []
    run = read_run(ctx.run_id)
    [chain] = _by_kind(run, "chain")
    assert (chain["name"], chain["status"]) == ("Predict", "error")
    policy = [
        (s["name"], s["attributes"]["metadata"]["surface"]) for s in run["spans"] if s["kind"] == "policy"
    ]
    assert policy == [("models", "llm.before")]


def test_a_response_from_dspys_cache_is_a_call_without_tokens(
    with_dspy: None, stub: StubLLMServer, read_run: Any, tmp_path: Any
) -> None:
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)
    question = f"Capital of France? ({tmp_path.name})"  # never asked before: the first call misses
    stub.reply_json(
        ChatReply(content=extract("Known.", "Paris"), prompt_tokens=30, completion_tokens=6).completion()
    )
    predict = dspy.ChainOfThought("question -> answer")
    cached_lm = dspy.LM("openai/gpt-4o-mini", api_base=stub.openai_base_url, api_key="sk-test", num_retries=0)
    with dspy.context(lm=cached_lm), WaxellContext(agent_name="dspy-cache", enforce_policy=False) as ctx:
        assert predict(question=question).answer == "Paris"
        assert predict(question=question).answer == "Paris"
    assert len(stub.requests) == 1
    run = read_run(ctx.run_id)
    calls = [
        (c["tokens_in"], c["tokens_out"], c["cost"] > 0, c["attributes"].get("dspy.cache_hit"))
        for c in run["llm_calls"]
    ]
    assert calls == [(30, 6, True, None), (0, 0, False, True)]


async def test_an_async_react_run_is_recorded_like_a_sync_one(
    with_dspy: None, stub: StubLLMServer, read_run: Any
) -> None:
    queue_weather(stub)
    agent = dspy.ReAct("question -> answer", tools=[get_weather])
    with dspy.context(lm=lm(stub)):
        async with WaxellContext(agent_name="dspy-async", enforce_policy=False) as ctx:
            prediction = await agent.acall(question="Weather in Paris?")
    assert prediction.answer == "Sunny in Paris"
    run = read_run(ctx.run_id)
    [react] = _by_kind(run, "agent")
    tools = [(t["name"], t["parent_span_id"], t["output"]) for t in _by_kind(run, "tool")]
    assert tools == [
        ("get_weather", react["id"], {"output": "Sunny in Paris"}),
        ("finish", react["id"], {"output": "Completed."}),
    ]
    assert [(c["tokens_in"], c["tokens_out"]) for c in run["llm_calls"]] == [(50, 12), (60, 8), (70, 9)]
    predicts = {c["id"] for c in _by_kind(run, "chain") if c["name"] == "Predict"}
    assert {c["parent_span_id"] for c in run["llm_calls"]} == predicts
    assert ran == ["Paris"]
