"""MCP (the real ``mcp`` package): client calls become tool spans carrying ``traceparent`` in
``_meta``; a server records what it handles, under the client's span in process, or in a run of
its own that joins the client's trace when it is another process (stdio)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from waxell_observe import WaxellContext

HERE = Path(__file__).parent


def _tools(run: dict[str, Any], side: str = "client") -> list[dict[str, Any]]:
    return [
        span
        for span in run["spans"]
        if span["kind"] == "tool" and span["attributes"].get("mcp.side", "client") == side
    ]


@pytest.fixture(autouse=True)
def quiet_server_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="mcp")  # the failing tool's traceback, on purpose


async def test_client_calls_are_tool_spans_and_the_server_records_under_each(
    weather_server: Any, read_run: Any, read_runs: Any
) -> None:
    # in process: MCP carries the caller's context to the server's handler
    async with (
        Client(weather_server) as client,
        WaxellContext(agent_name="mcp-agent", enforce_policy=False) as ctx,
    ):
        answer = await client.call_tool("forecast", {"city": "Paris"})
        failed = await client.call_tool("broken", {"city": "Paris"})
        resource = await client.read_resource("cities://list")
        prompt = await client.get_prompt("ask", {"city": "Lyon"})
        assert ctx.run is not None
        tool_calls = (ctx.run.tool_call_count, list(ctx.run.tool_names))  # what limit policies count
    assert tool_calls == (2, ["forecast", "broken"])
    assert answer.is_error is False and failed.is_error is True
    assert resource.contents[0].text == "Paris, Lyon"
    assert prompt.messages[0].content.text == "What is the weather in Lyon?"

    run = read_run(ctx.run_id)
    spans = _tools(run)
    assert [(s["name"], s["status"]) for s in spans] == [
        ("forecast", "ok"),
        ("broken", "error"),
        ("cities://list", "ok"),
        ("ask", "ok"),
    ]
    forecast, broken, resource_span, prompt_span = spans
    assert forecast["input"] == {"arguments": {"city": "Paris"}}
    assert forecast["output"] == {"result": "Sunny in Paris"}
    assert forecast["attributes"] == {
        "mcp.method": "tools/call",
        "mcp.server": "weather",
        "tool_type": "mcp",
        "openinference.span.kind": "TOOL",
    }
    assert broken["error"] == "Error executing tool broken"
    assert (resource_span["attributes"]["mcp.method"], resource_span["input"], resource_span["output"]) == (
        "resources/read",
        {"uri": "cities://list"},
        {"result": "Paris, Lyon"},
    )
    assert prompt_span["attributes"]["mcp.method"] == "prompts/get"
    assert prompt_span["output"] == {"result": "What is the weather in Lyon?"}

    # The server's handling of each request: a span under the client's, naming it by traceparent.
    server_spans = _tools(run, "server")
    assert [s["parent_span_id"] for s in server_spans] == [s["id"] for s in spans]
    for client_span, server_span in zip(spans, server_spans, strict=True):
        assert (server_span["name"], server_span["status"]) == (client_span["name"], client_span["status"])
        assert server_span["attributes"]["mcp.traceparent"] == f"00-{ctx.run_id}-{client_span['id'][-16:]}-01"
    assert [r["agent_name"] for r in read_runs()] == ["mcp-agent"]  # no run of the server's own


async def test_a_server_in_another_process_records_a_run_that_joins_the_clients_trace(
    instrumented: Any, waxell_db: Path, tmp_path: Path, read_run: Any, read_runs: Any
) -> None:
    env = {
        name: os.environ[name]
        for name in ("WAXELL_DB", "WAXELL_CONFIG_FILE", "WAXELL_JOURNAL_DIR", "XDG_DATA_HOME")
        if name in os.environ
    }
    server = StdioServerParameters(
        command=sys.executable, args=[str(HERE / "stdio_weather.py")], env=env, cwd=HERE
    )
    async with (
        Client(server) as client,
        WaxellContext(agent_name="mcp-remote-agent", enforce_policy=False) as ctx,
    ):
        await client.call_tool("forecast", {"city": "Paris"})
        await client.call_tool("broken", {"city": "Paris"})
    client_spans = _tools(read_run(ctx.run_id))
    server_runs = sorted(
        (r for r in read_runs() if r["workflow_name"] == "mcp-server"), key=lambda r: r["started_at"]
    )
    assert [r["agent_name"] for r in server_runs] == ["weather", "weather"]
    for client_span, summary in zip(client_spans, server_runs, strict=True):
        server_run = read_run(summary["run_id"])
        assert server_run["metadata"]["mcp.traceparent"] == f"00-{ctx.run_id}-{client_span['id'][-16:]}-01"
        assert server_run["metadata"]["mcp.method"] == "tools/call"
        assert server_run["trace_id"] == ctx.run_id  # the client's trace (its run's derived trace id)
        [server_span] = _tools(server_run, "server")
        assert (server_span["name"], server_span["status"]) == (client_span["name"], client_span["status"])
    first = read_run(server_runs[0]["run_id"])
    assert _tools(first, "server")[0]["input"] == {"arguments": {"city": "Paris"}}
    assert first["result"] == {"result": "Sunny in Paris"}


async def test_a_protocol_error_is_an_error_span_and_reaches_the_caller(
    weather_server: Any, read_run: Any
) -> None:
    from mcp.shared.exceptions import MCPError

    async with Client(weather_server) as client:
        with pytest.raises(MCPError) as raised:
            async with WaxellContext(agent_name="mcp-missing", enforce_policy=False) as ctx:
                await client.read_resource("cities://nowhere")
    [span] = _tools(read_run(ctx.run_id))
    assert span["status"] == "error"
    assert span["attributes"]["error.type"] == "MCPError"
    assert span["attributes"]["error.message"] == str(raised.value)


async def test_nothing_is_recorded_after_uninstrument(weather_server: Any, read_runs: Any) -> None:
    import waxell_observe_mcp

    waxell_observe_mcp.uninstrument()
    async with (
        Client(weather_server) as client,
        WaxellContext(agent_name="mcp-off", enforce_policy=False),
    ):
        await client.call_tool("forecast", {"city": "Paris"})
    [run] = read_runs()
    assert (run["agent_name"], run["span_count"]) == ("mcp-off", 0)


async def test_a_blocked_server_or_tool_never_leaves_the_client(weather_server: Any, read_run: Any) -> None:
    from waxell_observe.config import get_config
    from waxell_observe.errors import PolicyViolationError
    from waxell_observe.governance import load_policies
    from waxell_observe.governance.policy_store import add_policies
    from waxell_observe.store import get_store

    policies = """
policies:
  - name: no-weather-server
    category: mcp-server-allowlist
    scope: {agents: ["mcp-server-blocked"]}
    rules: {blocked_servers: ["weather"]}
  - name: no-forecasts
    category: tool-allowlist
    scope: {agents: ["mcp-tool-blocked"]}
    rules: {blocked_tools: ["forecast"]}
"""
    add_policies(get_store(get_config().db_url), load_policies(policies))
    async with Client(weather_server) as client:
        for agent, refusal in (
            ("mcp-server-blocked", "MCP server 'weather' is blocked"),
            ("mcp-tool-blocked", "Tool 'forecast' is blocked"),
        ):
            with pytest.raises(PolicyViolationError) as raised:
                async with WaxellContext(agent_name=agent) as ctx:
                    await client.call_tool("forecast", {"city": "Paris"})
            run = read_run(ctx.run_id)
            assert run["status"] == "blocked"
            assert _tools(run) == [] and _tools(run, "server") == []  # the request never left
            assert str(raised.value) == refusal


WARN_FORECAST = "policies:\n  - {name: careful, category: safety, rules: {blocked_tools: [forecast]}}\n"


def _warns(run: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (s["attributes"]["metadata"]["surface"], s["name"], s["attributes"]["action"])
        for s in run["spans"]
        if s["kind"] == "policy"
    ]


async def test_a_tool_call_is_asked_once_by_client_server_and_framework(
    weather_server: Any, read_run: Any
) -> None:
    """In process the client's and the server's gates see the same call, and a framework tool wrapping the
    MCP tool sees it first: ``tool.before`` is asked once each time (the outer gate holds the tool)."""
    from langchain_core.tools import tool
    from waxell_observe_langchain import WaxellLangChainHandler

    from waxell_observe.config import get_config
    from waxell_observe.governance import load_policies
    from waxell_observe.governance.policy_store import add_policies
    from waxell_observe.store import get_store

    add_policies(get_store(get_config().db_url), load_policies(WARN_FORECAST))
    async with Client(weather_server) as client:

        @tool
        async def forecast(city: str) -> str:
            """Tomorrow's weather (the MCP server's tool)."""
            answer = await client.call_tool("forecast", {"city": city})
            return str(answer.content[0].text)

        async with WaxellContext(agent_name="mcp-warned") as ctx:
            await client.call_tool("forecast", {"city": "Paris"})
            direct = ctx.take_feedback()
            await forecast.ainvoke({"city": "Lyon"}, config={"callbacks": [WaxellLangChainHandler("unused")]})
            wrapped = ctx.take_feedback()
    assert [(f["surface"], f["policy"]) for f in direct] == [("tool.before", "careful")]
    assert [(f["surface"], f["policy"]) for f in wrapped] == [("tool.before", "careful")]
    assert _warns(read_run(ctx.run_id)) == [("tool.before", "careful", "warn")] * 2
