"""The program the Google ADK tests run in ADK's isolated venv (see ``test_google_adk.py``).

``python adk_program.py SCENARIO...`` with ``STUB_BASE_URL`` (the stub LLM server's base URL) and
``WAXELL_INSTRUMENT`` (the integrations ``init()`` turns on, comma-separated) in the environment. ADK's
``Gemini`` model talks to the stub through google-genai (``base_url``, an API key). With
``OWN_TRACER_PROVIDER=1`` the program first sets a global OpenTelemetry SDK provider of its own, as a
program exporting its traces would, and reports the ADK spans it exported. Nothing but ``init()`` is
added to plain ADK code; the scenarios run in the order given (the stub answers in that order) and the
program prints one JSON line: ``{scenario: {"run_id": ..., ...}}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import warnings
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

# imported after init(), as users may
from google.adk.agents import LlmAgent, LoopAgent, ParallelAgent, SequentialAgent  # noqa: E402
from google.adk.agents.run_config import RunConfig, StreamingMode  # noqa: E402
from google.adk.models import Gemini  # noqa: E402
from google.adk.runners import InMemoryRunner  # noqa: E402
from google.adk.tools.agent_tool import AgentTool  # noqa: E402
from google.genai import types  # noqa: E402

from waxell_observe import WaxellContext  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)  # the workflow agents are deprecated in 2.x

BASE_URL = os.environ["STUB_BASE_URL"].removesuffix("/v1")
APP = "adk-tests"
USER = "user-1"

ran: list[str] = []
"""The tools that actually ran (a refused one must not)."""
sessions: list[str] = []
"""The ADK sessions the scenarios ran in."""


def get_weather(city: str) -> str:
    """Tomorrow's weather in a city."""
    ran.append(f"get_weather:{city}")
    if city == "Atlantis":
        raise RuntimeError("no forecast for Atlantis")
    return f"Sunny in {city}"


def delete_records(table: str) -> str:
    """Delete every record of a table."""
    ran.append(f"delete_records:{table}")
    return f"deleted {table}"


def gemini(model: str = "gemini-2.5-flash") -> Gemini:
    return Gemini(model=model, base_url=BASE_URL, client_kwargs={"api_key": "test-key"})


def agent(name: str, *tools: Any, model: str = "gemini-2.5-flash", **options: Any) -> LlmAgent:
    return LlmAgent(name=name, model=gemini(model), instruction="Be brief.", tools=list(tools), **options)


def text_of(event: Any) -> str:
    parts = event.content.parts if event.content and event.content.parts else []
    return "".join(part.text for part in parts if part.text and not part.thought)


async def invoke(root: Any, prompt: str, *, streaming: bool = False) -> str:
    """Run ``root`` on ``prompt`` as ADK's quickstart does; the last final response's text."""
    runner = InMemoryRunner(agent=root, app_name=APP)
    session = await runner.session_service.create_session(app_name=APP, user_id=USER)
    sessions.append(session.id)
    config = RunConfig(streaming_mode=StreamingMode.SSE) if streaming else None
    answer = ""
    async for event in runner.run_async(
        user_id=USER, session_id=session.id, new_message=types.UserContent(prompt), run_config=config
    ):
        if event.is_final_response() and text_of(event):
            answer = text_of(event)
    return answer


def in_run(name: str, root: Any, prompt: str, *, streaming: bool = False) -> dict[str, Any]:
    ctx = WaxellContext(agent_name=name)
    try:
        with ctx:
            answer = asyncio.run(invoke(root, prompt, streaming=streaming))
    except Exception as exc:
        return {"run_id": ctx.run_id, "error": type(exc).__name__, "message": str(exc), "ran": list(ran)}
    return {"run_id": ctx.run_id, "answer": answer, "ran": list(ran)}


def tool_agent() -> dict[str, Any]:
    return in_run("adk-tools", agent("forecaster", get_weather), "Weather in Paris?")


def sized_tool_agent() -> dict[str, Any]:
    """The same, asking for up to 500 tokens back (a size policy warns at ``llm.before``)."""
    config = types.GenerateContentConfig(max_output_tokens=500)
    forecaster = agent("forecaster", get_weather, generate_content_config=config)
    return in_run("adk-tools-sized", forecaster, "Weather in Paris?")


def streamed() -> dict[str, Any]:
    return in_run("adk-stream", agent("forecaster"), "Weather tomorrow?", streaming=True)


def llm_error() -> dict[str, Any]:
    return in_run("adk-llm-error", agent("forecaster", get_weather), "Weather in Paris?")


def failing_tool() -> dict[str, Any]:
    return in_run("adk-failing-tool", agent("forecaster", get_weather), "Weather in Atlantis?")


def blocked_tool() -> dict[str, Any]:
    return in_run("adk-blocked-tool", agent("janitor", delete_records), "Empty the orders table.")


def blocked_model() -> dict[str, Any]:
    return in_run("adk-blocked-model", agent("forecaster", model="gemini-2.5-pro"), "Weather?")


def transfer() -> dict[str, Any]:
    """A coordinator hands the conversation to one of its sub-agents (``transfer_to_agent``); run by
    the synchronous ``Runner.run`` (ADK runs it in a thread of its own)."""
    coordinator = agent(
        "coordinator",
        sub_agents=[agent("billing"), agent("weather", description="Answers weather questions.")],
    )
    runner = InMemoryRunner(agent=coordinator, app_name=APP)
    session = asyncio.run(runner.session_service.create_session(app_name=APP, user_id=USER))
    answers = []
    with WaxellContext(agent_name="adk-transfer") as ctx:
        for event in runner.run(user_id=USER, session_id=session.id, new_message=types.UserContent("Rain?")):
            if event.is_final_response() and text_of(event):
                answers.append(text_of(event))
    return {"run_id": ctx.run_id, "answer": answers[-1] if answers else ""}


def workflow() -> dict[str, Any]:
    """A sequence of a parallel agent (two branches) and a loop of two iterations."""
    pipeline = SequentialAgent(
        name="pipeline",
        sub_agents=[
            ParallelAgent(name="research", sub_agents=[agent("web"), agent("docs")]),
            LoopAgent(name="refine", sub_agents=[agent("editor")], max_iterations=2),
        ],
    )
    return in_run("adk-workflow", pipeline, "Write a haiku.")


def graph() -> dict[str, Any]:
    """ADK 2's graph workflow: two agents as nodes, one after the other."""
    from google.adk.workflow import Workflow

    drafting = Workflow(name="drafting", edges=[("START", agent("writer"), agent("reviewer"))])
    return in_run("adk-graph", drafting, "Write a haiku.")


def agent_tool() -> dict[str, Any]:
    orchestrator = agent("orchestrator", AgentTool(agent=agent("forecaster", get_weather)))
    return in_run("adk-agent-tool", orchestrator, "Will it be sunny in Paris?")


def own_run() -> dict[str, Any]:
    """An invocation outside any run opens one of its own."""
    answer = asyncio.run(invoke(agent("forecaster"), "Weather tomorrow?"))
    return {"answer": answer, "session_id": sessions[-1]}


def bridge_only() -> dict[str, Any]:
    """The ADK integration switched off: what the OTel bridge makes of ADK's own spans."""
    import waxell_observe_google_adk

    waxell_observe_google_adk.uninstrument()
    try:
        return in_run("adk-bridge-only", agent("forecaster", get_weather), "Weather in Paris?")
    finally:
        waxell_observe_google_adk.instrument()


SCENARIOS = {
    "tool_agent": tool_agent,
    "sized_tool_agent": sized_tool_agent,
    "streamed": streamed,
    "llm_error": llm_error,
    "failing_tool": failing_tool,
    "blocked_tool": blocked_tool,
    "blocked_model": blocked_model,
    "transfer": transfer,
    "workflow": workflow,
    "graph": graph,
    "agent_tool": agent_tool,
    "own_run": own_run,
    "bridge_only": bridge_only,
}

if __name__ == "__main__":
    results: dict[str, Any] = {}
    for name in sys.argv[1:]:
        ran.clear()
        results[name] = SCENARIOS[name]()
    if exported is not None:
        results["exported_spans"] = sorted({span.name for span in exported.get_finished_spans()})
    print(json.dumps(results))
