"""The program the Strands Agents tests run in Strands' isolated venv (see ``test_strands.py``).

``python agent_program.py SCENARIO...`` with ``STUB_BASE_URL`` (the stub LLM server's OpenAI base URL)
and ``WAXELL_INSTRUMENT`` (the integrations ``init()`` turns on, comma-separated) in the environment.
With ``OWN_TRACER_PROVIDER=1`` the program first sets a global OpenTelemetry SDK provider of its own,
as a program exporting its traces would, and reports the Strands spans it exported. Nothing but
``init()`` is added to plain Strands code; the scenarios run in the order given (the stub answers in
that order) and the program prints one JSON line: ``{scenario: {"run_id": ..., ...}}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import waxell_observe

waxell_observe.init(instrument=os.environ["WAXELL_INSTRUMENT"].split(","))

exported: Any = None
if os.environ.get("OWN_TRACER_PROVIDER") == "1":
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider()
    exported = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    trace.set_tracer_provider(provider)

from strands import Agent, tool  # noqa: E402 - imported after init(), as users may
from strands.models.openai import OpenAIModel  # noqa: E402

from waxell_observe import WaxellContext  # noqa: E402

ran: list[str] = []
"""The tools that actually ran (a refused one must not)."""


@tool
def get_weather(city: str) -> str:
    """Tomorrow's weather in a city.

    Args:
        city: the city.
    """
    ran.append(f"get_weather:{city}")
    if city == "Atlantis":
        raise RuntimeError("no forecast for Atlantis")
    return f"Sunny in {city}"


@tool
def delete_records(table: str) -> str:
    """Delete every record of a table.

    Args:
        table: the table.
    """
    ran.append(f"delete_records:{table}")
    return f"deleted {table}"


def model(model_id: str = "gpt-4o-mini") -> OpenAIModel:
    return OpenAIModel(
        client_args={"base_url": os.environ["STUB_BASE_URL"], "api_key": "sk-test", "max_retries": 0},
        model_id=model_id,
    )


def forecaster(*tools: Any, model_id: str = "gpt-4o-mini") -> Agent:
    return Agent(model=model(model_id), tools=list(tools), name="forecaster", callback_handler=None)


@tool
def ask_forecaster(question: str) -> str:
    """Ask the forecaster agent a weather question.

    Args:
        question: the question.
    """
    return str(forecaster(get_weather)(question)).strip()


def in_run(name: str, agent: Agent, prompt: str) -> dict[str, Any]:
    with WaxellContext(agent_name=name) as ctx:
        result = agent(prompt)
    return {"run_id": ctx.run_id, "answer": str(result).strip()}


def tool_agent() -> dict[str, Any]:
    return in_run("strands-tools", forecaster(get_weather), "Weather in Paris?")


def failing_tool() -> dict[str, Any]:
    return in_run("strands-failing-tool", forecaster(get_weather), "Weather in Atlantis?")


def llm_error() -> dict[str, Any]:
    ctx = WaxellContext(agent_name="strands-llm-error")
    try:
        with ctx:
            forecaster(get_weather)("Weather in Paris?")
    except Exception as exc:
        return {"run_id": ctx.run_id, "error": type(exc).__name__}
    raise AssertionError("the agent did not fail")


def streamed_events() -> dict[str, Any]:
    """The caller iterates ``stream_async`` itself."""

    async def main() -> dict[str, Any]:
        agent = forecaster(get_weather)
        texts = []
        with WaxellContext(agent_name="strands-stream") as ctx:
            async for event in agent.stream_async("Weather in Paris?"):
                if "data" in event:
                    texts.append(event["data"])
        return {"run_id": ctx.run_id, "answer": "".join(texts)}

    return asyncio.run(main())


def agent_as_tool() -> dict[str, Any]:
    orchestrator = Agent(model=model(), tools=[ask_forecaster], name="orchestrator", callback_handler=None)
    return in_run("strands-agents-as-tools", orchestrator, "Will it be sunny in Paris?")


def readable_span() -> dict[str, Any]:
    """A span from Strands' own tracer that carries its GenAI attributes from the start (as the bridge
    could read it; Strands 1.62 sets them after the start): the bridge leaves it to the integration."""
    from strands.telemetry.tracer import get_tracer

    attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "probe"}
    tracer = get_tracer().tracer
    with (
        WaxellContext(agent_name="strands-readable-span") as ctx,
        tracer.start_as_current_span("invoke_agent probe", attributes=attributes),
    ):
        pass
    return {"run_id": ctx.run_id}


def own_run() -> dict[str, Any]:
    """An agent invoked outside any run opens one of its own."""
    return {"answer": str(forecaster()("Weather tomorrow?")).strip()}


def blocked_tool() -> dict[str, Any]:
    result = in_run("strands-blocked", forecaster(delete_records), "Empty the orders table.")
    return {**result, "ran": list(ran)}


def blocked_model() -> dict[str, Any]:
    ctx = WaxellContext(agent_name="strands-blocked-model")
    try:
        with ctx:
            forecaster(get_weather, model_id="o1-preview")("Weather in Paris?")
    except Exception as exc:
        return {"run_id": ctx.run_id, "error": type(exc).__name__}
    raise AssertionError("the agent ran a refused model")


SCENARIOS = {
    "tool_agent": tool_agent,
    "failing_tool": failing_tool,
    "llm_error": llm_error,
    "streamed_events": streamed_events,
    "agent_as_tool": agent_as_tool,
    "readable_span": readable_span,
    "own_run": own_run,
    "blocked_tool": blocked_tool,
    "blocked_model": blocked_model,
}

if __name__ == "__main__":
    results: dict[str, Any] = {}
    for name in sys.argv[1:]:
        ran.clear()
        results[name] = SCENARIOS[name]()
    if exported is not None:
        results["exported_spans"] = sorted({span.name for span in exported.get_finished_spans()})
    print(json.dumps(results))
