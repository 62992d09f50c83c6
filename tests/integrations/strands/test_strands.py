"""Strands Agents (the real package, in its own venv: it would move the workspace's mcp and
OpenTelemetry pins back), its OpenAIModel pointed at the stub LLM server: an agent invocation is an
agent span, an agent used as a tool nests under that tool, tools pass the tool.before gate and are
tool spans, and each model call is recorded once — by the OpenAI integration when it is on, else from
Strands' own usage. A program with an OpenTelemetry provider of its own still exports Strands' spans,
and the bridge does not record them a second time.

Each fixture runs ``agent_program.py`` once for several scenarios (each its own run) and the tests
read those runs back from the program's store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from integrations.chat_replies import streamed_answer, streamed_tool_calls
from integrations.isolated_env import (
    NO_DELETES,
    NO_O1,
    Reply,
    Scenarios,
    assert_model_refused_before_the_request,
    by_kind,
    calls,
    run_scenarios,
    stored_run,
    stored_runs,
)

pytestmark = [pytest.mark.isolated_env, pytest.mark.timeout(900)]

PROGRAM = Path(__file__).with_name("agent_program.py")

WITH_OPENAI: dict[str, list[Reply]] = {
    "tool_agent": [
        streamed_tool_calls(("get_weather", {"city": "Paris"}), prompt_tokens=50, completion_tokens=12),
        streamed_answer("Sunny in Paris", ["Sunny ", "in Paris"], 70, 9),
    ],
    "failing_tool": [
        streamed_tool_calls(("get_weather", {"city": "Atlantis"}), prompt_tokens=40, completion_tokens=10),
        streamed_answer("No forecast.", ["No forecast."], 60, 5),
    ],
    "llm_error": [({"error": {"message": "stub: bad request", "type": "invalid_request_error"}}, 400)],
    "streamed_events": [
        streamed_tool_calls(("get_weather", {"city": "Paris"}), prompt_tokens=52, completion_tokens=13),
        streamed_answer("Sunny in Paris", ["Sunny ", "in Paris"], 72, 10),
    ],
    "agent_as_tool": [
        streamed_tool_calls(
            ("ask_forecaster", {"question": "Weather in Paris?"}), prompt_tokens=30, completion_tokens=8
        ),
        streamed_answer("Sunny.", ["Sunny."], 21, 2),  # the forecaster, run by the tool
        streamed_answer("Yes, sunny.", ["Yes, sunny."], 45, 4),
    ],
    "readable_span": [],
}

ALONE: dict[str, list[Reply]] = {
    "own_run": [streamed_answer("Sunny tomorrow.", ["Sunny ", "tomorrow."], 31, 9)],
    "blocked_tool": [
        streamed_tool_calls(("delete_records", {"table": "orders"}), prompt_tokens=44, completion_tokens=11),
        streamed_answer("Refused.", ["Refused."], 66, 4),
    ],
    "blocked_model": [],  # refused before the model's stream starts: the stub is asked nothing
}


@pytest.fixture(scope="module")
def with_openai(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenarios]:
    """Strands, the OpenAI integration and the OTel bridge on, in a program that set a global
    OpenTelemetry SDK provider of its own (a double count, by the provider or the bridge, would show)."""
    yield from run_scenarios(
        "strands",
        PROGRAM,
        tmp_path_factory.mktemp("strands-openai"),
        WITH_OPENAI,
        instrument="strands,openai,otel_bridge",
        extra_env={"OWN_TRACER_PROVIDER": "1", "OTEL_SDK_DISABLED": "false"},
    )


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenarios]:
    """Only Strands' integration on, and a policy refusing ``delete_records``."""
    yield from run_scenarios(
        "strands",
        PROGRAM,
        tmp_path_factory.mktemp("strands-alone"),
        ALONE,
        instrument="strands",
        policies=NO_DELETES + NO_O1,
    )


def test_an_agent_its_tool_and_two_streamed_model_calls_recorded_once(with_openai: Scenarios) -> None:
    assert with_openai.results["tool_agent"]["answer"] == "Sunny in Paris"
    run = with_openai.run("tool_agent")
    assert run["status"] == "success"
    [agent] = by_kind(run, "agent")
    assert (agent["name"], agent["status"], agent["parent_span_id"]) == ("forecaster", "ok", "")
    assert (agent["input"], agent["output"]) == (
        {"prompt": "Weather in Paris?"},
        {"output": "Sunny in Paris"},
    )
    assert (agent["attributes"]["agent.tools"], agent["attributes"]["agent.model"]) == (
        ["get_weather"],
        "gpt-4o-mini",
    )
    tools = [
        (t["name"], t["status"], t["parent_span_id"], t["input"], t["output"]) for t in by_kind(run, "tool")
    ]
    assert tools == [("get_weather", "ok", agent["id"], {"city": "Paris"}, {"output": "Sunny in Paris"})]
    assert calls(run) == [
        ("gpt-4o-mini-2024-07-18", 50, 12, agent["id"]),
        ("gpt-4o-mini-2024-07-18", 70, 9, agent["id"]),
    ]
    for call in run["llm_calls"]:
        assert call["attributes"]["stream"] is True and call["attributes"]["ttft_ms"] >= 0
        assert call["attributes"].get("recorded_from") is None  # the OpenAI integration's


def test_the_programs_own_provider_still_exports_strands_spans(with_openai: Scenarios) -> None:
    exported = with_openai.results["exported_spans"]
    assert {"invoke_agent forecaster", "chat", "execute_tool get_weather"} <= set(exported)


def test_the_bridge_leaves_strands_spans_to_the_integration(with_openai: Scenarios) -> None:
    """A span of Strands' tracer the bridge could read (GenAI attributes from its start) is not
    recorded from the span while the integration records Strands itself: nothing twice."""
    assert "invoke_agent probe" in with_openai.results["exported_spans"]
    assert with_openai.run("readable_span")["spans"] == []


def test_the_stub_saw_each_scenarios_requests_once_recorded(with_openai: Scenarios) -> None:
    assert [r.path for r in with_openai.stub.requests] == ["/v1/chat/completions"] * 10
    assert sum(len(with_openai.run(name)["llm_calls"]) for name in WITH_OPENAI) == 10


def test_a_failing_tool_is_an_error_span_and_the_agent_goes_on(with_openai: Scenarios) -> None:
    run = with_openai.run("failing_tool")
    [agent] = by_kind(run, "agent")
    [weather] = by_kind(run, "tool")
    assert (weather["status"], weather["parent_span_id"], weather["attributes"]["error.type"]) == (
        "error",
        agent["id"],
        "RuntimeError",
    )
    assert weather["attributes"]["error.message"] == "no forecast for Atlantis"
    assert (run["status"], with_openai.results["failing_tool"]["answer"]) == ("success", "No forecast.")
    assert [(c[1], c[2]) for c in calls(run)] == [(40, 10), (60, 5)]


def test_a_failed_model_call_fails_the_agent_and_the_run(with_openai: Scenarios) -> None:
    assert with_openai.results["llm_error"]["error"] == "BadRequestError"
    run = with_openai.run("llm_error")
    [agent] = by_kind(run, "agent")
    assert (agent["status"], agent["attributes"]["error.type"]) == ("error", "BadRequestError")
    [call] = run["llm_calls"]
    assert (call["status"], call["model"], call["parent_span_id"]) == ("error", "gpt-4o-mini", agent["id"])
    assert run["status"] == "error"


def test_a_stream_the_caller_iterates_is_one_agent_span(with_openai: Scenarios) -> None:
    assert with_openai.results["streamed_events"]["answer"] == "Sunny in Paris"
    run = with_openai.run("streamed_events")
    [agent] = by_kind(run, "agent")
    assert agent["output"] == {"output": "Sunny in Paris"}
    assert [t["parent_span_id"] for t in by_kind(run, "tool")] == [agent["id"]]
    assert [(c[1], c[3]) for c in calls(run)] == [(52, agent["id"]), (72, agent["id"])]


def test_an_agent_used_as_a_tool_nests_under_that_tool(with_openai: Scenarios) -> None:
    assert with_openai.results["agent_as_tool"]["answer"] == "Yes, sunny."
    run = with_openai.run("agent_as_tool")
    agents = {s["name"]: s for s in by_kind(run, "agent")}
    [tool] = by_kind(run, "tool")
    assert (tool["name"], tool["parent_span_id"], tool["output"]) == (
        "ask_forecaster",
        agents["orchestrator"]["id"],
        {"output": "Sunny."},
    )
    assert agents["forecaster"]["parent_span_id"] == tool["id"]
    assert [(c[1], c[3]) for c in calls(run)] == [
        (30, agents["orchestrator"]["id"]),
        (21, agents["forecaster"]["id"]),
        (45, agents["orchestrator"]["id"]),
    ]


def test_outside_any_run_an_agent_opens_one_and_without_the_openai_integration_calls_still_count(
    alone: Scenarios,
) -> None:
    [summary] = stored_runs(alone.db, agent_name="forecaster")
    run = stored_run(alone.db, summary["run_id"])
    assert (run["workflow_name"], run["status"]) == ("strands", "success")
    [agent] = by_kind(run, "agent")
    [call] = run["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["parent_span_id"]) == (
        "gpt-4o-mini",
        31,
        9,
        agent["id"],
    )
    assert (call["attributes"]["recorded_from"], call["response_preview"]) == (
        "strands_usage",
        "Sunny tomorrow.",
    )
    assert call["cost"] == pytest.approx(31 * 0.15e-6 + 9 * 0.6e-6)


def test_a_refused_tool_never_runs_and_the_run_is_blocked(alone: Scenarios) -> None:
    assert alone.results["blocked_tool"]["ran"] == []
    run = alone.run("blocked_tool")
    [agent] = by_kind(run, "agent")
    [refused] = by_kind(run, "tool")
    assert (refused["name"], refused["status"], refused["parent_span_id"], refused["input"]) == (
        "delete_records",
        "error",
        agent["id"],
        {"table": "orders"},
    )
    assert refused["attributes"]["error.type"] == "PolicyViolationError"
    policy = [(s["name"], s["attributes"]["metadata"]["surface"]) for s in by_kind(run, "policy")]
    assert policy == [("no-deletes", "tool.before")]
    assert run["status"] == "blocked"
    # Strands handed the refusal to the model as the tool's error result
    [_, second] = [r.body for r in alone.stub.requests][-2:]
    [tool_message] = [m for m in second["messages"] if m["role"] == "tool"]
    assert tool_message["content"] == "Error: Tool 'delete_records' is blocked"
    assert [(c[1], c[2]) for c in calls(run)] == [(44, 11), (66, 4)]


def test_a_refused_model_is_never_called_and_the_run_is_blocked(alone: Scenarios) -> None:
    """llm.before asked by Strands' model call (no provider integration is on here)."""
    assert_model_refused_before_the_request(alone, "blocked_model")
