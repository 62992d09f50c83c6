"""Google ADK (the real package, in its own venv: google-adk 2.x needs Python 3.11 and would move the
workspace's google-genai and OpenTelemetry pins), its ``Gemini`` model talking to the stub server
through google-genai: agents, workflow agents, graph workflows, agent transfers and agents behind an
``AgentTool`` are spans nested as ADK runs them, tools pass the tool.before gate and are tool spans,
model calls pass llm.before and are recorded once — from ADK's usage_metadata when the Gemini
integration is off, by the Gemini integration when it is on (and the OTel bridge, on beside them,
records nothing twice).

Each fixture runs ``adk_program.py`` once for several scenarios (each its own run) and the tests read
those runs back from the program's store.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integrations.google_adk.gemini_replies import SERVED, answer, error, function_calls, streamed_answer
from integrations.isolated_env import (
    NO_DELETES,
    Reply,
    Scenarios,
    by_kind,
    calls,
    run_scenarios,
    stored_run,
    stored_runs,
)

pytestmark = [
    pytest.mark.isolated_env,
    pytest.mark.timeout(900),
    pytest.mark.skipif(sys.version_info < (3, 11), reason="google-adk 2.x needs Python 3.11+"),
]

PROGRAM = Path(__file__).with_name("adk_program.py")

ALONE: dict[str, list[Reply]] = {
    "tool_agent": [
        function_calls(("get_weather", {"city": "Paris"}), prompt=50, candidates=12, thoughts=5),
        answer("Sunny in Paris", 70, 9, cached=40),
    ],
    "streamed": [streamed_answer(["Sunny ", "tomorrow."], 31, 9)],
    "llm_error": [error(400, "stub: bad request")],
    "failing_tool": [function_calls(("get_weather", {"city": "Atlantis"}), prompt=40, candidates=10)],
    "blocked_tool": [
        function_calls(("delete_records", {"table": "orders"}), prompt=44, candidates=11),
        answer("Refused.", 66, 4),
    ],
    "blocked_model": [],
    "transfer": [
        function_calls(("transfer_to_agent", {"agent_name": "weather"}), prompt=20, candidates=5),
        answer("Sunny.", 25, 3),
    ],
    "workflow": [  # the two parallel branches get the same answer (either may ask first)
        answer("Noted.", 10, 2),
        answer("Noted.", 10, 2),
        answer("Draft 1", 12, 3),
        answer("Draft 2", 14, 3),
    ],
    "graph": [answer("A haiku.", 10, 4), answer("Fine.", 16, 2)],
    "agent_tool": [
        function_calls(("forecaster", {"request": "Weather in Paris?"}), prompt=30, candidates=8),
        answer("Sunny.", 21, 2),  # the forecaster, run by the tool
        answer("Yes, sunny.", 45, 4),
    ],
    "own_run": [answer("Sunny tomorrow.", 31, 9)],
}

WITH_GEMINI: dict[str, list[Reply]] = {
    "sized_tool_agent": [
        function_calls(("get_weather", {"city": "Paris"}), prompt=50, candidates=12, thoughts=5),
        answer("Sunny in Paris", 70, 9, cached=40),
    ],
    "streamed": [streamed_answer(["Sunny ", "tomorrow."], 31, 9)],
    "blocked_tool": [function_calls(("delete_records", {"table": "orders"}), prompt=44, candidates=11)],
    "bridge_only": [
        function_calls(("get_weather", {"city": "Paris"}), prompt=50, candidates=12),
        answer("Sunny in Paris", 70, 9),
    ],
}

REFUSALS = NO_DELETES + "  - {name: models, category: llm, rules: {blocked_models: [gemini-2.5-pro]}}\n"
WARNINGS = NO_DELETES + (
    "  - {name: watch-weather, category: tool-allowlist,"
    " rules: {blocked_tools: [get_weather], action: warn}}\n"
    "  - {name: size, category: llm, rules: {max_tokens_per_call: 100, action_on_token_violation: warn}}\n"
)
"""Warnings at ``tool.before`` (any get_weather call) and ``llm.before`` (a request asking up to 500
tokens back): each must be given once although two integrations see the call; and a refusal."""


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenarios]:
    """Only ADK's integration on (the Gemini integration off), with refusing policies."""
    yield from run_scenarios(
        "google_adk",
        PROGRAM,
        tmp_path_factory.mktemp("adk-alone"),
        ALONE,
        instrument="google_adk",
        policies=REFUSALS,
    )


@pytest.fixture(scope="module")
def with_gemini(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenarios]:
    """ADK's, the Gemini integration and the OTel bridge on, in a program that set a global
    OpenTelemetry SDK provider of its own (a double count, by the provider or the bridge, would show)."""
    yield from run_scenarios(
        "google_adk",
        PROGRAM,
        tmp_path_factory.mktemp("adk-gemini"),
        WITH_GEMINI,
        instrument="google_adk,gemini,otel_bridge",
        policies=WARNINGS,
        extra_env={"OWN_TRACER_PROVIDER": "1", "OTEL_SDK_DISABLED": "false"},
    )


def named(run: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in by_kind(run, kind)}


def policies(run: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["name"], s["attributes"]["metadata"]["surface"]) for s in by_kind(run, "policy")]


def gemini_cost(tokens_in: int, tokens_out: int, cached: int = 0) -> float:
    """gemini-2.5-flash: $0.30 / 1M input, $0.03 / 1M cached input, $2.50 / 1M output."""
    return round(((tokens_in - cached) * 0.30 + cached * 0.03 + tokens_out * 2.50) / 1e6, 10)


# -- ADK's integration alone: agents, tools and calls from ADK's own usage --------------------------


def test_an_agent_its_tool_and_two_model_calls_from_adks_usage(alone: Scenarios) -> None:
    result = alone.results["tool_agent"]
    assert (result["answer"], result["ran"]) == ("Sunny in Paris", ["get_weather:Paris"])
    run = alone.run("tool_agent")
    assert run["status"] == "success"
    [agent] = by_kind(run, "agent")
    assert (agent["name"], agent["status"], agent["parent_span_id"]) == ("forecaster", "ok", "")
    assert (agent["input"], agent["output"]) == ({"input": "Weather in Paris?"}, {"output": "Sunny in Paris"})
    attributes = agent["attributes"]
    assert (attributes["agent.class"], attributes["agent.model"], attributes["agent.tools"]) == (
        "LlmAgent",
        "gemini-2.5-flash",
        ["get_weather"],
    )
    [tool] = by_kind(run, "tool")
    assert (tool["name"], tool["status"], tool["parent_span_id"], tool["input"], tool["output"]) == (
        "get_weather",
        "ok",
        agent["id"],
        {"city": "Paris"},
        {"output": {"result": "Sunny in Paris"}},
    )
    assert (
        tool["attributes"]["google_adk.tool.class"],
        tool["attributes"]["google_adk.function_call_id"],
    ) == (
        "FunctionTool",
        "call-0",
    )
    assert calls(run) == [(SERVED, 50, 17, agent["id"]), (SERVED, 70, 9, agent["id"])]
    first, second = run["llm_calls"]
    assert (first["provider"], first["attributes"]["recorded_from"]) == ("gemini", "google_adk_usage")
    assert (first["attributes"]["reasoning_tokens"], second["attributes"]["cached_tokens_in"]) == (5, 40)
    assert (first["cost"], second["cost"]) == (gemini_cost(50, 17), gemini_cost(70, 9, cached=40))
    assert (first["attributes"]["finish_reason"], second["response_preview"]) == ("STOP", "Sunny in Paris")
    assert (second["prompt_preview"], first["attributes"]["framework"]) == ("Weather in Paris?", "google_adk")


def test_a_streamed_call_is_recorded_once_with_time_to_first_token(alone: Scenarios) -> None:
    assert alone.results["streamed"]["answer"] == "Sunny tomorrow."
    run = alone.run("streamed")
    [agent] = by_kind(run, "agent")
    assert agent["output"] == {"output": "Sunny tomorrow."}
    [call] = run["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["parent_span_id"]) == (
        SERVED,
        31,
        9,
        agent["id"],
    )
    attributes = call["attributes"]
    assert (attributes["stream"], attributes["chunk_count"], call["response_preview"]) == (
        True,
        2,
        "Sunny tomorrow.",
    )
    assert attributes["ttft_ms"] >= 0
    assert call["cost"] == gemini_cost(31, 9)


def test_a_failed_model_call_fails_the_agent_and_the_run(alone: Scenarios) -> None:
    assert alone.results["llm_error"]["error"] == "ClientError"
    run = alone.run("llm_error")
    [agent] = by_kind(run, "agent")
    assert (agent["status"], agent["attributes"]["error.type"]) == ("error", "ClientError")
    [call] = run["llm_calls"]
    assert (call["status"], call["model"], call["error_type"], call["parent_span_id"]) == (
        "error",
        "gemini-2.5-flash",
        "ClientError",
        agent["id"],
    )
    assert "stub: bad request" in call["error_message"]
    assert run["status"] == "error"


def test_a_tool_that_raises_is_an_error_span_and_fails_the_run(alone: Scenarios) -> None:
    result = alone.results["failing_tool"]
    assert (result["error"], result["ran"]) == ("RuntimeError", ["get_weather:Atlantis"])
    run = alone.run("failing_tool")
    [agent] = by_kind(run, "agent")
    [weather] = by_kind(run, "tool")
    assert (weather["status"], weather["parent_span_id"], weather["attributes"]["error.type"]) == (
        "error",
        agent["id"],
        "RuntimeError",
    )
    assert weather["attributes"]["error.message"] == "no forecast for Atlantis"
    assert (agent["status"], run["status"]) == ("error", "error")
    assert [(c[1], c[2]) for c in calls(run)] == [(40, 10)]


def test_a_refused_tool_never_runs_the_model_is_told_and_the_run_is_blocked(alone: Scenarios) -> None:
    result = alone.results["blocked_tool"]
    assert (result["answer"], result["ran"]) == ("Refused.", [])
    run = alone.run("blocked_tool")
    [agent] = by_kind(run, "agent")
    [refused] = by_kind(run, "tool")
    refusal = {"error": "Tool 'delete_records' is blocked"}
    assert (refused["name"], refused["status"], refused["parent_span_id"], refused["input"]) == (
        "delete_records",
        "error",
        agent["id"],
        {"table": "orders"},
    )
    assert (refused["attributes"]["error.type"], refused["output"]) == (
        "PolicyViolationError",
        {"output": refusal},
    )
    assert policies(run) == [("no-deletes", "tool.before")]
    assert run["status"] == "blocked"
    # ADK handed the refusal to the model as the tool's function response
    second = alone.stub.requests[alone_request_index(alone, "blocked_tool") + 1].body
    responses = [
        p["functionResponse"] for c in second["contents"] for p in c["parts"] if "functionResponse" in p
    ]
    assert [(r["name"], r["response"]) for r in responses] == [("delete_records", refusal)]
    assert [(c[1], c[2]) for c in calls(run)] == [(44, 11), (66, 4)]


def alone_request_index(scenarios: Scenarios, scenario: str) -> int:
    """The index of ``scenario``'s first request among the stub's requests (scenarios ran in order)."""
    index = 0
    for name, replies in ALONE.items():
        if name == scenario:
            return index
        index += len(replies)
    raise KeyError(scenario)


def test_a_refused_model_is_never_called(alone: Scenarios) -> None:
    assert alone.results["blocked_model"]["error"] == "PolicyViolationError"
    run = alone.run("blocked_model")
    [agent] = by_kind(run, "agent")
    assert (agent["status"], agent["attributes"]["error.type"]) == ("error", "PolicyViolationError")
    assert (run["llm_calls"], policies(run), run["status"]) == ([], [("models", "llm.before")], "blocked")
    assert not [r for r in alone.stub.requests if "gemini-2.5-pro" in r.path]


def test_a_transfer_to_a_sub_agent(alone: Scenarios) -> None:
    """The coordinator hands over with transfer_to_agent (a tool span); ADK 2 then runs the sub-agent
    after the coordinator ends: a span beside it. Run by the synchronous Runner.run, in ADK's thread."""
    assert alone.results["transfer"]["answer"] == "Sunny."
    run = alone.run("transfer")
    agents = named(run, "agent")
    assert set(agents) == {"coordinator", "weather"}
    coordinator, weather = agents["coordinator"], agents["weather"]
    assert coordinator["attributes"]["agent.sub_agents"] == ["billing", "weather"]
    assert (coordinator["attributes"]["agent.transferred_to"], coordinator["output"]) == (["weather"], None)
    [transfer] = by_kind(run, "tool")
    assert (transfer["name"], transfer["parent_span_id"], transfer["input"]) == (
        "transfer_to_agent",
        coordinator["id"],
        {"agent_name": "weather"},
    )
    assert (weather["parent_span_id"], weather["output"]) == ("", {"output": "Sunny."})
    assert calls(run) == [(SERVED, 20, 5, coordinator["id"]), (SERVED, 25, 3, weather["id"])]


def test_workflow_agents_nest_their_sub_agents(alone: Scenarios) -> None:
    assert alone.results["workflow"]["answer"] == "Draft 2"
    run = alone.run("workflow")
    spans = by_kind(run, "agent")
    shape = sorted((s["name"], s["attributes"]["agent.class"]) for s in spans)
    assert shape == [
        ("docs", "LlmAgent"),
        ("editor", "LlmAgent"),
        ("editor", "LlmAgent"),
        ("pipeline", "SequentialAgent"),
        ("refine", "LoopAgent"),
        ("research", "ParallelAgent"),
        ("web", "LlmAgent"),
    ]
    ids = {s["name"]: s["id"] for s in spans}
    parents = sorted(
        (s["name"], next(n for n, i in ids.items() if i == s["parent_span_id"])) for s in spans[1:]
    )
    assert spans[0]["name"] == "pipeline" and spans[0]["parent_span_id"] == ""
    assert parents == [
        ("docs", "research"),
        ("editor", "refine"),
        ("editor", "refine"),
        ("refine", "pipeline"),
        ("research", "pipeline"),
        ("web", "research"),
    ]
    of = {s["id"]: s for s in spans}
    by_agent = sorted((of[c[3]]["name"], c[1], c[2], of[c[3]]["output"]["output"]) for c in calls(run))
    assert by_agent == [
        ("docs", 10, 2, "Noted."),
        ("editor", 12, 3, "Draft 1"),
        ("editor", 14, 3, "Draft 2"),
        ("web", 10, 2, "Noted."),
    ]


def test_a_graph_workflow_is_a_chain_span_over_its_agent_nodes(alone: Scenarios) -> None:
    assert alone.results["graph"]["answer"] == "Fine."
    run = alone.run("graph")
    [chain] = by_kind(run, "chain")
    assert (chain["name"], chain["parent_span_id"], chain["attributes"]["google_adk.nodes"]) == (
        "drafting",
        "",
        ["writer", "reviewer"],
    )
    agents = named(run, "agent")
    assert [(name, s["parent_span_id"]) for name, s in agents.items()] == [
        ("writer", chain["id"]),
        ("reviewer", chain["id"]),
    ]
    assert calls(run) == [(SERVED, 10, 4, agents["writer"]["id"]), (SERVED, 16, 2, agents["reviewer"]["id"])]


def test_an_agent_behind_an_agent_tool_nests_under_that_tool(alone: Scenarios) -> None:
    assert alone.results["agent_tool"]["answer"] == "Yes, sunny."
    run = alone.run("agent_tool")
    orchestrator, forecaster = sorted(by_kind(run, "agent"), key=lambda s: s["parent_span_id"] != "")
    [tool] = by_kind(run, "tool")
    assert (tool["name"], tool["parent_span_id"], tool["output"]) == (
        "forecaster",
        orchestrator["id"],
        {"output": {"result": "Sunny."}},
    )
    assert (tool["attributes"]["tool_type"], tool["attributes"]["google_adk.tool.class"]) == (
        "agent",
        "AgentTool",
    )
    assert (orchestrator["name"], forecaster["name"], forecaster["parent_span_id"]) == (
        "orchestrator",
        "forecaster",
        tool["id"],
    )
    assert calls(run) == [
        (SERVED, 30, 8, orchestrator["id"]),
        (SERVED, 21, 2, forecaster["id"]),
        (SERVED, 45, 4, orchestrator["id"]),
    ]


def test_outside_any_run_an_invocation_opens_one(alone: Scenarios) -> None:
    [summary] = stored_runs(alone.db, agent_name="forecaster")
    run = stored_run(alone.db, summary["run_id"])
    assert (run["workflow_name"], run["status"], run["session_id"]) == (
        "google_adk",
        "success",
        alone.results["own_run"]["session_id"],
    )
    assert (run["inputs"], run["result"]) == ({"input": "Weather tomorrow?"}, {"output": "Sunny tomorrow."})
    [agent] = by_kind(run, "agent")
    assert calls(run) == [(SERVED, 31, 9, agent["id"])]


def test_the_stub_saw_each_request_once_recorded(alone: Scenarios) -> None:
    expected = sum(len(replies) for replies in ALONE.values())
    assert len(alone.stub.requests) == expected == 19
    own = stored_runs(alone.db, agent_name="forecaster")[0]["run_id"]
    recorded = [alone.run(name) for name in ALONE if "run_id" in alone.results[name]] + [
        stored_run(alone.db, own)
    ]
    assert sum(len(run["llm_calls"]) for run in recorded) == expected


# -- with the Gemini integration and the OTel bridge: recorded and gated once ------------------------


def test_the_gemini_integration_records_each_call_and_each_warning_is_given_once(
    with_gemini: Scenarios,
) -> None:
    run = with_gemini.run("sized_tool_agent")
    assert with_gemini.results["sized_tool_agent"]["answer"] == "Sunny in Paris"
    [agent] = by_kind(run, "agent")
    [tool] = by_kind(run, "tool")
    assert (tool["name"], tool["parent_span_id"]) == ("get_weather", agent["id"])
    assert calls(run) == [(SERVED, 50, 17, agent["id"]), (SERVED, 70, 9, agent["id"])]
    first, second = run["llm_calls"]
    for call in (first, second):
        assert (call["provider"], call["attributes"].get("recorded_from")) == ("gemini", None)
    assert (first["attributes"]["reasoning_tokens"], second["attributes"]["cached_tokens_in"]) == (5, 40)
    assert (first["cost"], second["cost"]) == (gemini_cost(50, 17), gemini_cost(70, 9, cached=40))
    assert policies(run) == [("size", "llm.before"), ("watch-weather", "tool.before"), ("size", "llm.before")]


def test_a_streamed_call_is_the_gemini_integrations_record(with_gemini: Scenarios) -> None:
    run = with_gemini.run("streamed")
    [agent] = by_kind(run, "agent")
    [call] = run["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["parent_span_id"]) == (
        SERVED,
        31,
        9,
        agent["id"],
    )
    assert (call["attributes"]["stream"], call["attributes"].get("recorded_from")) == (True, None)


def test_with_the_gemini_integration_a_refused_tool_refuses_the_models_response(
    with_gemini: Scenarios,
) -> None:
    """The Gemini integration gates the function calls of a response before ADK sees them: the refusal
    fails the model call there (recorded once, by the Gemini integration), so ADK never reaches the tool."""
    result = with_gemini.results["blocked_tool"]
    assert (result["error"], result["ran"]) == ("PolicyViolationError", [])
    run = with_gemini.run("blocked_tool")
    [agent] = by_kind(run, "agent")
    assert (agent["status"], agent["attributes"]["error.type"]) == ("error", "PolicyViolationError")
    assert (by_kind(run, "tool"), policies(run), run["status"]) == (
        [],
        [("no-deletes", "tool.before")],
        "blocked",
    )
    assert calls(run) == [(SERVED, 44, 11, agent["id"])]


def test_the_bridge_skips_adks_own_spans_while_the_integration_records_them(with_gemini: Scenarios) -> None:
    """ADK's tracer (scope ``gcp.vertex.agent``) is in the bridge's PATCHED_SCOPES: while this integration
    is on, not even ``invoke_workflow`` (the one span the bridge could read) is recorded a second time.
    Agents, tools and calls are recorded once, the root agent at the top of the run."""
    run = with_gemini.run("sized_tool_agent")
    assert [s for s in run["spans"] if s["kind"] not in ("agent", "tool", "policy", "io", "decision")] == []
    [agent] = by_kind(run, "agent")
    assert agent["parent_span_id"] == ""
    assert [r.path.rsplit(":", 1)[-1] for r in with_gemini.stub.requests] == [
        "generateContent",
        "generateContent",
        "streamGenerateContent?alt=sse",
        "generateContent",
        "generateContent",
        "generateContent",
    ]
    assert sum(len(with_gemini.run(name)["llm_calls"]) for name in WITH_GEMINI) == 6


def test_without_the_adk_integration_the_bridge_records_no_agent_or_tool(with_gemini: Scenarios) -> None:
    """Why the integration patches ADK: ADK sets the GenAI attributes of its invoke_agent, execute_tool
    and generate_content spans after starting them, so the bridge (which decides at the start) sees
    none of them, and it could not refuse a tool anyway."""
    run = with_gemini.run("bridge_only")
    assert (by_kind(run, "agent"), by_kind(run, "tool")) == ([], [])
    assert [(s["kind"], s["name"]) for s in run["spans"] if s["kind"] == "custom"] == [
        ("custom", "invoke_workflow forecaster")
    ]
    assert [(c[1], c[2]) for c in calls(run)] == [(50, 12), (70, 9)]  # the Gemini integration's


def test_the_programs_own_provider_still_exports_adks_spans(with_gemini: Scenarios) -> None:
    exported = set(with_gemini.results["exported_spans"])
    assert {
        "invoke_workflow forecaster",
        "invoke_agent forecaster",
        "execute_tool get_weather",
        "generate_content gemini-2.5-flash",
    } <= exported
