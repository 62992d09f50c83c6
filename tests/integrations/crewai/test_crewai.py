"""CrewAI (the real package, in its own venv: it cannot be installed beside the workspace's mcp>=2),
its LLM pointed at the stub LLM server: crews, tasks and agents are nested spans, tools pass the
tool.before gate and are tool spans, and each LLM call is recorded once — by the OpenAI integration
when it is on, else from CrewAI's own token counts.

Importing CrewAI takes seconds, so each fixture runs ``crew_program.py`` once for several scenarios
(each its own run) and the tests read those runs back from the program's store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integrations.chat_replies import answer, streamed_answer, tool_calls
from integrations.isolated_env import (
    NO_DELETES,
    NO_O1,
    Reply,
    Scenarios,
    assert_model_refused_before_the_request,
    by_kind,
    run_scenarios,
    stored_run,
    stored_runs,
)

pytestmark = [pytest.mark.isolated_env, pytest.mark.timeout(900)]

PROGRAM = Path(__file__).with_name("crew_program.py")


WITH_OPENAI: dict[str, list[Reply]] = {
    "tool_crew": [
        (tool_calls(("get_weather", {"city": "Paris"}), prompt_tokens=50, completion_tokens=12), 200),
        (answer("Sunny in Paris", 70, 9), 200),
    ],
    "failing_tool": [
        (tool_calls(("get_weather", {"city": "Atlantis"}), prompt_tokens=40, completion_tokens=10), 200),
        (answer("No forecast.", 60, 5), 200),
    ],
    "two_tasks": [(answer("Paris.", 31, 3), 200), (answer("Paris is the capital of France.", 45, 8), 200)],
    "llm_error": [({"error": {"message": "stub: bad request", "type": "invalid_request_error"}}, 400)],
    "async_crew": [
        (tool_calls(("get_weather", {"city": "Paris"}), prompt_tokens=52, completion_tokens=13), 200),
        (answer("Sunny in Paris", 72, 10), 200),
    ],
    "streamed": [streamed_answer("Sunny tomorrow.", ["Sunny ", "tomorrow."], 29, 4)],
}

ALONE: dict[str, list[Reply]] = {
    "own_run": [(answer("Sunny tomorrow.", 31, 9), 200)],
    "blocked_tool": [
        (tool_calls(("delete_records", {"table": "orders"}), prompt_tokens=44, completion_tokens=11), 200),
        (answer("Refused.", 66, 4), 200),
    ],
    "blocked_model": [],  # refused before a request leaves: the stub is asked nothing
}


@pytest.fixture(scope="module")
def with_openai(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenarios]:
    """The scenarios with CrewAI and the OpenAI integration both on (so a double count would show)."""
    yield from run_scenarios(
        "crewai", PROGRAM, tmp_path_factory.mktemp("crewai-openai"), WITH_OPENAI, instrument="crewai,openai"
    )


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenarios]:
    """The scenarios with only CrewAI's integration on, and a policy refusing ``delete_records``."""
    yield from run_scenarios(
        "crewai",
        PROGRAM,
        tmp_path_factory.mktemp("crewai-alone"),
        ALONE,
        instrument="crewai",
        policies=NO_DELETES + NO_O1,
    )


def crew_task_agent(run: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The run's crew, task and agent spans, checked to nest crew > task > agent."""
    [crew] = [s for s in by_kind(run, "agent") if s["attributes"]["crewai.kind"] == "crew"]
    [task] = by_kind(run, "chain")
    [agent] = [s for s in by_kind(run, "agent") if s["attributes"]["crewai.kind"] == "agent"]
    assert (crew["parent_span_id"], task["parent_span_id"], agent["parent_span_id"]) == (
        "",
        crew["id"],
        task["id"],
    )
    return crew, task, agent


def test_a_crew_its_task_agent_tool_and_llm_calls_nest_and_each_call_is_recorded_once(
    with_openai: Scenarios,
) -> None:
    assert with_openai.results["tool_crew"]["raw"] == "Sunny in Paris"
    run = with_openai.run("tool_crew")
    assert run["status"] == "success"
    crew, task, agent = crew_task_agent(run)
    assert (crew["name"], crew["status"], crew["output"]) == (
        "weather_crew",
        "ok",
        {"output": "Sunny in Paris"},
    )
    assert (crew["attributes"]["crewai.process"], crew["attributes"]["crewai.agents"]) == (
        "sequential",
        ["Forecaster"],
    )
    assert (task["name"], task["input"], task["output"]) == (
        "forecast",
        {"description": "Weather in Paris?"},
        {"output": "Sunny in Paris"},
    )
    assert task["attributes"]["crewai.task.agent"] == "Forecaster"
    assert (agent["name"], agent["input"], agent["output"]) == (
        "Forecaster",
        {"task": "Weather in Paris?"},
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
    calls = [(c["model"], c["tokens_in"], c["tokens_out"], c["parent_span_id"]) for c in run["llm_calls"]]
    assert calls == [
        ("gpt-4o-mini-2024-07-18", 50, 12, agent["id"]),
        ("gpt-4o-mini-2024-07-18", 70, 9, agent["id"]),
    ]
    assert {c["attributes"].get("recorded_from") for c in run["llm_calls"]} == {
        None
    }  # the OpenAI integration's


def test_the_stub_saw_each_scenarios_requests_and_nothing_else(with_openai: Scenarios) -> None:
    """Two requests per crew with a tool or two tasks, one for the failed call and the streamed one:
    ten in all, each recorded exactly once across the runs."""
    assert [r.path for r in with_openai.stub.requests] == ["/v1/chat/completions"] * 10
    recorded = sum(len(with_openai.run(name)["llm_calls"]) for name in WITH_OPENAI)
    assert recorded == 10


def test_a_failing_tool_is_an_error_span_and_the_crew_goes_on(with_openai: Scenarios) -> None:
    run = with_openai.run("failing_tool")
    _, _, agent = crew_task_agent(run)
    [weather] = by_kind(run, "tool")
    assert (weather["status"], weather["parent_span_id"], weather["attributes"]["error.type"]) == (
        "error",
        agent["id"],
        "RuntimeError",
    )
    assert weather["attributes"]["error.message"] == "no forecast for Atlantis"
    assert (run["status"], with_openai.results["failing_tool"]["raw"]) == ("success", "No forecast.")
    assert [(c["tokens_in"], c["tokens_out"]) for c in run["llm_calls"]] == [(40, 10), (60, 5)]


def test_two_tasks_are_two_task_spans_each_with_its_agent_and_its_call(with_openai: Scenarios) -> None:
    run = with_openai.run("two_tasks")
    [crew] = [s for s in by_kind(run, "agent") if s["attributes"]["crewai.kind"] == "crew"]
    tasks = by_kind(run, "chain")
    assert [(t["name"], t["parent_span_id"]) for t in tasks] == [
        ("Find the capital of France.", crew["id"]),
        ("Write one sentence about it.", crew["id"]),
    ]
    assert tasks[1]["input"]["context"] == "Paris."  # the first task's output, handed to the second
    agents = [s for s in by_kind(run, "agent") if s["attributes"]["crewai.kind"] == "agent"]
    assert [(a["name"], a["parent_span_id"]) for a in agents] == [
        ("Researcher", tasks[0]["id"]),
        ("Writer", tasks[1]["id"]),
    ]
    assert [(c["tokens_in"], c["parent_span_id"]) for c in run["llm_calls"]] == [
        (31, agents[0]["id"]),
        (45, agents[1]["id"]),
    ]
    assert crew["output"] == {"output": "Paris is the capital of France."}


def test_a_failed_llm_call_fails_the_agent_task_crew_and_run(with_openai: Scenarios) -> None:
    assert with_openai.results["llm_error"]["error"] == "BadRequestError"
    run = with_openai.run("llm_error")
    crew, task, agent = crew_task_agent(run)
    assert [s["status"] for s in (crew, task, agent)] == ["error", "error", "error"]
    assert agent["attributes"]["error.type"] == "BadRequestError"
    [call] = run["llm_calls"]
    assert (call["status"], call["model"], call["parent_span_id"]) == ("error", "gpt-4o-mini", agent["id"])
    assert by_kind(run, "tool") == []
    assert run["status"] == "error"


def test_an_async_kickoff_nests_the_same_way(with_openai: Scenarios) -> None:
    run = with_openai.run("async_crew")
    _, _, agent = crew_task_agent(run)
    assert [(t["name"], t["parent_span_id"]) for t in by_kind(run, "tool")] == [("get_weather", agent["id"])]
    assert [(c["tokens_in"], c["tokens_out"], c["parent_span_id"]) for c in run["llm_calls"]] == [
        (52, 13, agent["id"]),
        (72, 10, agent["id"]),
    ]


def test_a_streamed_llm_call_is_recorded_once_with_its_usage_and_first_token(with_openai: Scenarios) -> None:
    assert with_openai.results["streamed"]["raw"] == "Sunny tomorrow."
    [request] = [r.body for r in with_openai.stub.requests if r.body.get("stream")]
    assert request["stream_options"] == {"include_usage": True}
    run = with_openai.run("streamed")
    _, _, agent = crew_task_agent(run)
    [call] = run["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["parent_span_id"]) == (
        "gpt-4o-mini-2024-07-18",
        29,
        4,
        agent["id"],
    )
    assert (call["attributes"]["stream"], call["response_preview"]) == (True, "Sunny tomorrow.")
    assert call["attributes"]["ttft_ms"] >= 0 and "partial" not in call["attributes"]


def test_outside_any_run_a_crew_opens_one_and_without_the_openai_integration_calls_still_count(
    alone: Scenarios,
) -> None:
    [summary] = stored_runs(alone.db, agent_name="weather_crew")
    run = stored_run(alone.db, summary["run_id"])
    assert (run["workflow_name"], run["status"]) == ("crewai", "success")
    _, _, agent = crew_task_agent(run)
    [call] = run["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["parent_span_id"]) == (
        "gpt-4o-mini",
        31,
        9,
        agent["id"],
    )
    assert call["attributes"]["recorded_from"] == "crewai_usage"
    assert call["cost"] == pytest.approx(31 * 0.15e-6 + 9 * 0.6e-6)


def test_a_refused_tool_never_runs_and_the_run_is_blocked(alone: Scenarios) -> None:
    assert alone.results["blocked_tool"]["ran"] == []
    run = alone.run("blocked_tool")
    _, _, agent = crew_task_agent(run)
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
    # CrewAI handed the refusal to the model, which answered without the tool
    [_, second] = [r.body for r in alone.stub.requests][-2:]
    assert (second["messages"][-1]["role"], second["messages"][-1]["content"]) == (
        "tool",
        "Error executing tool: Tool 'delete_records' is blocked",
    )
    assert [(c["tokens_in"], c["tokens_out"]) for c in run["llm_calls"]] == [(44, 11), (66, 4)]


def test_a_refused_model_is_never_called_and_the_run_is_blocked(alone: Scenarios) -> None:
    """llm.before asked by CrewAI's own LLM call (no provider integration is on here)."""
    assert_model_refused_before_the_request(alone, "blocked_model")
