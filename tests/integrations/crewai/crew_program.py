"""The program the CrewAI tests run in CrewAI's isolated venv (see ``test_crewai.py``).

``python crew_program.py SCENARIO...`` with ``STUB_BASE_URL`` (the stub LLM server's OpenAI base URL)
and ``WAXELL_INSTRUMENT`` (the integrations ``init()`` turns on, comma-separated) in the environment.
Nothing but ``init()`` is added to plain CrewAI code; the scenarios run in the order given (the stub
answers in that order) and the program prints one JSON line: ``{scenario: {"run_id": ..., ...}}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import waxell_observe

waxell_observe.init(instrument=os.environ["WAXELL_INSTRUMENT"].split(","))

from crewai import LLM, Agent, Crew, Task  # noqa: E402 - imported after init(), as users may
from crewai.tools import tool  # noqa: E402

from waxell_observe import WaxellContext  # noqa: E402

ran: list[str] = []
"""The tools that actually ran (a refused one must not)."""


@tool("get_weather")
def get_weather(city: str) -> str:
    """Tomorrow's weather in a city."""
    ran.append(f"get_weather:{city}")
    if city == "Atlantis":
        raise RuntimeError("no forecast for Atlantis")
    return f"Sunny in {city}"


@tool("delete_records")
def delete_records(table: str) -> str:
    """Delete every record of a table."""
    ran.append(f"delete_records:{table}")
    return f"deleted {table}"


def llm(*, stream: bool = False, model: str = "openai/gpt-4o-mini") -> LLM:
    return LLM(model=model, base_url=os.environ["STUB_BASE_URL"], api_key="sk-test", stream=stream)


def forecaster(*tools: Any, stream: bool = False, model: str = "openai/gpt-4o-mini") -> Agent:
    return Agent(
        role="Forecaster",
        goal="Answer weather questions",
        backstory="You read forecasts.",
        llm=llm(stream=stream, model=model),
        tools=list(tools),
        max_retry_limit=0,
        verbose=False,
    )


def weather_crew(question: str, *tools: Any, stream: bool = False, model: str = "openai/gpt-4o-mini") -> Crew:
    agent = forecaster(*tools, stream=stream, model=model)
    task = Task(description=question, expected_output="The weather", agent=agent, name="forecast")
    return Crew(agents=[agent], tasks=[task], name="weather_crew", verbose=False)


def in_run(name: str, crew: Crew) -> dict[str, Any]:
    with WaxellContext(agent_name=name) as ctx:
        output = crew.kickoff()
    return {"run_id": ctx.run_id, "raw": output.raw}


def tool_crew() -> dict[str, Any]:
    return in_run("crewai-tools", weather_crew("Weather in Paris?", get_weather))


def failing_tool() -> dict[str, Any]:
    return in_run("crewai-failing-tool", weather_crew("Weather in Atlantis?", get_weather))


def two_tasks() -> dict[str, Any]:
    researcher = Agent(
        role="Researcher", goal="Find facts", backstory="You look things up.", llm=llm(), verbose=False
    )
    writer = Agent(role="Writer", goal="Write answers", backstory="You write.", llm=llm(), verbose=False)
    research = Task(description="Find the capital of France.", expected_output="A city", agent=researcher)
    write = Task(description="Write one sentence about it.", expected_output="A sentence", agent=writer)
    crew = Crew(agents=[researcher, writer], tasks=[research, write], name="writing_crew", verbose=False)
    return in_run("crewai-two-tasks", crew)


def failed_run(agent_name: str, crew: Any) -> dict[str, Any]:
    """Kick ``crew`` off in a run that must fail: the run id and the error's type."""
    ctx = WaxellContext(agent_name=agent_name)
    try:
        with ctx:
            crew.kickoff()
    except Exception as exc:
        return {"run_id": ctx.run_id, "error": type(exc).__name__}
    raise AssertionError(f"the crew of {agent_name} did not fail")


def llm_error() -> dict[str, Any]:
    return failed_run("crewai-llm-error", weather_crew("Weather in Paris?", get_weather))


def async_crew() -> dict[str, Any]:
    crew = weather_crew("Weather in Paris?", get_weather)

    async def main() -> dict[str, Any]:
        with WaxellContext(agent_name="crewai-async") as ctx:
            output = await crew.akickoff()
        return {"run_id": ctx.run_id, "raw": output.raw}

    return asyncio.run(main())


def streamed() -> dict[str, Any]:
    """The agent's LLM streams its answer (the crew itself does not stream)."""
    return in_run("crewai-streamed", weather_crew("Weather tomorrow?", stream=True))


def own_run() -> dict[str, Any]:
    """A crew kicked off outside any run opens one of its own."""
    return {"raw": weather_crew("Weather in Paris?").kickoff().raw}


def blocked_tool() -> dict[str, Any]:
    result = in_run("crewai-blocked", weather_crew("Empty the orders table.", delete_records))
    return {**result, "ran": list(ran)}


def blocked_model() -> dict[str, Any]:
    crew = weather_crew("Weather in Paris?", get_weather, model="openai/o1-preview")
    return failed_run("crewai-blocked-model", crew)


SCENARIOS = {
    "tool_crew": tool_crew,
    "failing_tool": failing_tool,
    "two_tasks": two_tasks,
    "llm_error": llm_error,
    "async_crew": async_crew,
    "streamed": streamed,
    "own_run": own_run,
    "blocked_tool": blocked_tool,
    "blocked_model": blocked_model,
}

if __name__ == "__main__":
    results = {}
    for name in sys.argv[1:]:
        ran.clear()
        results[name] = SCENARIOS[name]()
    print(json.dumps(results))
