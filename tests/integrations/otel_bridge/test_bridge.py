"""The in-process OpenTelemetry bridge (real OpenTelemetry SDK, real OpenAI client against the stub
LLM server): AI spans a framework emits become the run's agent, tool and chain spans nested as they
ran; a model call is recorded once — by the OpenAI integration when it saw the request, else from
the span's own attributes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openai import OpenAI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode
from waxell_observe_otel_bridge import attach

from integrations.llm_stub import ChatReply, StubLLMServer
from waxell_observe import WaxellContext
from waxell_observe.initialization import _reset_for_tests, init
from waxell_observe.plugins import plugin_manager

LIBRARIES = frozenset({"otel_bridge", "openai"})


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    """The bridge and the OpenAI SDK instrumented; a provider of the test's own with the bridge
    attached (the global provider can be set once per process)."""
    _reset_for_tests()
    init(instrument=sorted(LIBRARIES))
    tracer_provider = TracerProvider()
    assert attach(tracer_provider) is True
    assert attach(tracer_provider) is True  # once per provider
    yield tracer_provider
    plugin_manager().hook.on_uninstrument(libraries=LIBRARIES)
    _reset_for_tests()


def _by_kind(run: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in run["spans"] if s["kind"] == kind]


def test_semconv_agent_tool_and_a_model_call_the_openai_integration_records(
    provider: TracerProvider, stub: StubLLMServer, read_run: Any
) -> None:
    stub.answer_chat(ChatReply(prompt_tokens=31, completion_tokens=4))
    tracer = provider.get_tracer("my-framework")
    client = OpenAI(base_url=stub.openai_base_url, api_key="sk-test", max_retries=0)
    with (
        WaxellContext(agent_name="bridge", enforce_policy=False) as ctx,
        tracer.start_as_current_span(
            "invoke_agent planner",
            attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"},
        ),
    ):
        with tracer.start_as_current_span(
            "chat gpt-4o-mini",
            attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"},
        ) as chat:
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Capital of France?"}]
            )
            # the framework's span reports the same call: it must not be recorded again
            chat.set_attributes({"gen_ai.usage.input_tokens": 31, "gen_ai.usage.output_tokens": 4})
        with tracer.start_as_current_span(
            "execute_tool lookup",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup",
                "gen_ai.tool.call.arguments": '{"city": "Paris"}',
            },
        ) as tool:
            tool.set_attribute("gen_ai.tool.call.result", "Paris, France")
        with tracer.start_as_current_span("GET /internal", attributes={"http.method": "GET"}):
            pass  # not an AI span: not ours to record

    run = read_run(ctx.run_id)
    [agent] = _by_kind(run, "agent")
    [tool_span] = _by_kind(run, "tool")
    assert (agent["name"], agent["status"], agent["parent_span_id"]) == ("planner", "ok", "")
    assert agent["attributes"]["gen_ai.agent.name"] == "planner"
    assert agent["attributes"]["otel.scope"] == "my-framework"
    assert (tool_span["name"], tool_span["parent_span_id"]) == ("lookup", agent["id"])
    assert tool_span["input"] == {"input": {"city": "Paris"}}
    assert tool_span["output"] == {"output": "Paris, France"}
    # besides the conversation's io spans, only the agent and its tool: the HTTP span is not recorded
    assert [s["name"] for s in run["spans"] if s["kind"] != "io"] == ["planner", "lookup"]
    [call] = run["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"]) == ("gpt-4o-mini-2024-07-18", 31, 4)
    assert call["parent_span_id"] == agent["id"]
    assert call["attributes"].get("recorded_from") is None  # the OpenAI integration's record
    assert len(stub.requests) == 1


def test_a_model_call_no_provider_saw_is_recorded_from_the_span(
    provider: TracerProvider, read_run: Any
) -> None:
    tracer = provider.get_tracer("my-framework")
    with (
        WaxellContext(agent_name="bridge", enforce_policy=False) as ctx,
        tracer.start_as_current_span(
            "chat claude", attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic"}
        ) as chat,
    ):
        chat.set_attributes(
            {
                "gen_ai.request.model": "claude-3-5-haiku-20241022",
                "gen_ai.response.model": "claude-3-5-haiku-20241022",
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 200,
                "gen_ai.response.finish_reasons": ("end_turn",),
            }
        )
    run = read_run(ctx.run_id)
    [call] = run["llm_calls"]
    assert (call["model"], call["provider"], call["tokens_in"], call["tokens_out"]) == (
        "claude-3-5-haiku-20241022",
        "anthropic",
        1000,
        200,
    )
    assert call["cost"] == pytest.approx(1000 * 0.8e-6 + 200 * 4e-6)
    assert call["task"] == "chat"
    assert call["status"] == "ok"
    assert call["attributes"]["recorded_from"] == "otel_bridge"
    assert call["attributes"]["finish_reason"] == "end_turn"
    assert run["spans"] == []


def test_openinference_chain_tool_and_llm_spans_and_a_failed_tool(
    provider: TracerProvider, read_run: Any
) -> None:
    tracer = provider.get_tracer("openinference.instrumentation.example")
    with (
        WaxellContext(agent_name="bridge", enforce_policy=False) as ctx,
        tracer.start_as_current_span(
            "RAG pipeline",
            attributes={"openinference.span.kind": "CHAIN", "input.value": "What is up?"},
        ) as chain,
    ):
        with tracer.start_as_current_span(
            "ChatCompletion",
            attributes={
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.provider": "openai",
                "llm.token_count.prompt": 120,
                "llm.token_count.completion": 30,
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "What is up?",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "The sky.",
            },
        ):
            pass
        with tracer.start_as_current_span(
            "search", attributes={"openinference.span.kind": "TOOL", "tool.name": "search"}
        ) as failing:
            failing.set_status(Status(StatusCode.ERROR, "search backend down"))
        chain.set_attribute("output.value", "The sky.")
    run = read_run(ctx.run_id)
    [chain_span] = _by_kind(run, "chain")
    [tool] = _by_kind(run, "tool")
    assert (chain_span["name"], chain_span["input"], chain_span["output"]) == (
        "RAG pipeline",
        {"input": "What is up?"},
        {"output": "The sky."},
    )
    assert (tool["name"], tool["status"], tool["error"], tool["parent_span_id"]) == (
        "search",
        "error",
        "search backend down",
        chain_span["id"],
    )
    [call] = run["llm_calls"]
    assert (call["model"], call["provider"], call["tokens_in"], call["tokens_out"]) == (
        "gpt-4o-mini",
        "openai",
        120,
        30,
    )
    assert (call["prompt_preview"], call["response_preview"]) == ("What is up?", "The sky.")
    assert call["parent_span_id"] == chain_span["id"]


def test_off_records_nothing_and_outside_a_run_only_model_calls_count(
    provider: TracerProvider, read_runs: Any, read_run: Any
) -> None:
    tracer = provider.get_tracer("my-framework")
    with (
        tracer.start_as_current_span("invoke_agent", attributes={"gen_ai.operation.name": "invoke_agent"}),
        tracer.start_as_current_span(
            "chat",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 5,
                "gen_ai.usage.output_tokens": 1,
            },
        ),
    ):
        pass
    plugin_manager().hook.on_uninstrument(libraries=frozenset({"otel_bridge"}))
    with tracer.start_as_current_span(
        "chat",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 9,
            "gen_ai.usage.output_tokens": 9,
        },
    ):
        pass
    _reset_for_tests()  # flushes the collector of calls outside runs
    [summary] = read_runs()
    run = read_run(summary["run_id"])
    assert run["agent_name"] == "auto:gpt-4o-mini"
    assert [(c["model"], c["tokens_in"], c["tokens_out"]) for c in run["llm_calls"]] == [
        ("gpt-4o-mini", 5, 1)
    ]
    assert run["spans"] == []


PROGRAM = """
import waxell_observe
waxell_observe.init(instrument=["otel_bridge"])
assert waxell_observe.diagnose()["integrations"]["otel_bridge"]["state"] == "waiting"
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
trace.set_tracer_provider(TracerProvider())  # the program's own provider, set after init()
tracer = trace.get_tracer("late-framework")
with waxell_observe.WaxellContext(agent_name="late", enforce_policy=False) as ctx:
    with tracer.start_as_current_span("invoke_agent", attributes={"gen_ai.operation.name": "invoke_agent",
                                                                  "gen_ai.agent.name": "late-agent"}):
        with tracer.start_as_current_span("chat", attributes={"gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 12,
                "gen_ai.usage.output_tokens": 3}):
            pass
assert waxell_observe.diagnose()["integrations"]["otel_bridge"]["state"] == "active"
assert waxell_observe.flush_sync(timeout=30).pending == 0
print(ctx.run_id)
"""


def test_a_global_provider_set_after_init_gets_the_bridge(tmp_path: Any, read_run: Any) -> None:
    """The OpenTelemetry SDK imported after ``init()`` loads the bridge (lazy trigger), and the
    provider the program then sets globally records onto the run."""
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    run = read_run(done.stdout.strip().splitlines()[-1])
    [agent] = [s for s in run["spans"] if s["kind"] == "agent"]
    assert agent["name"] == "late-agent"
    [call] = run["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["parent_span_id"]) == (
        "gpt-4o-mini",
        12,
        3,
        agent["id"],
    )


def test_our_own_exported_spans_are_never_recorded_again(provider: TracerProvider, read_run: Any) -> None:
    """The OTel plugin hands the spans it exports to the application's provider (which has the bridge):
    they carry waxell.run_id and are not recorded a second time."""
    from waxell_observe.vocabulary import attributes as wax

    tracer = provider.get_tracer("waxell_observe")
    with WaxellContext(agent_name="bridge", enforce_policy=False) as ctx:
        span = tracer.start_span(
            "llm gpt-4o-mini",
            attributes={
                wax.RUN_ID: "some-run",
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 3,
                "gen_ai.usage.output_tokens": 1,
            },
        )
        span.end()
    run = read_run(ctx.run_id)
    assert (run["llm_calls"], run["spans"]) == ([], [])
