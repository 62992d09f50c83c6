"""``waxell_observe.mcp`` (reference §6.4): server-side governance of a real ``MCPServer`` (the ``mcp``
package, called in process through its ``Client``), with a real policy in the test's embedded store;
what each call did is read back from the store."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating import forget
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.mcp import GovernanceMiddleware, MiddlewareConfig, ToolGovernanceConfig, governance
from waxell_observe.store import get_store

NO_RM = "policies:\n  - {name: no-rm, category: tool-allowlist, rules: {blocked_tools: [rm_rf]}}\n"
Reader = Callable[[str], dict[str, Any]]


@pytest.fixture(autouse=True)
def _fresh_gates(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    for name in ("WAXELL_SURFACE_GATE", "WAXELL_GATE_FAIL_CLOSED", "WAXELL_AGENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    caplog.set_level(logging.CRITICAL, logger="mcp")  # the refused tool's error, on purpose
    add_policies(get_store(get_config().db_url), load_policies(NO_RM))
    forget()
    # the MCP integration, armed by an earlier test of this process that imported mcp after init(),
    # would gate the client's call before it reaches the middleware under test: off meanwhile
    import waxell_observe_mcp

    was_on = waxell_observe_mcp.is_instrumented()
    waxell_observe_mcp.uninstrument()
    yield
    if was_on:
        waxell_observe_mcp.instrument()
    forget()


def _server(ran: list[str], config: MiddlewareConfig | None = None) -> MCPServer:
    server = MCPServer(
        "files", middleware=[GovernanceMiddleware(config or MiddlewareConfig(server_name="files"))]
    )

    @server.tool()
    def ls(path: str) -> str:
        ran.append(f"ls {path}")
        return f"a.txt b.txt in {path}"

    @server.tool()
    def rm_rf(path: str) -> str:
        ran.append(f"rm_rf {path}")
        return "gone"

    return server


def _tool_spans(run: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["name"], s["status"]) for s in run["spans"] if s["kind"] == "tool"]


async def test_the_middleware_gates_and_records_each_tool_call_on_the_callers_run(read_run: Reader) -> None:
    ran: list[str] = []
    async with Client(_server(ran)) as client, WaxellContext(agent_name="mcp-governed") as ctx:
        listed = await client.call_tool("ls", {"path": "/tmp"})
        refused = await client.call_tool("rm_rf", {"path": "/"})
    assert ran == ["ls /tmp"]  # the refused tool never ran
    assert (listed.is_error, listed.content[0].text) == (False, "a.txt b.txt in /tmp")  # type: ignore[union-attr]
    assert (refused.is_error, refused.content[0].text) == (  # type: ignore[union-attr]
        True,
        "Policy violation: Tool 'rm_rf' is blocked",
    )
    run = read_run(ctx.run_id)
    assert _tool_spans(run) == [("ls", "ok"), ("rm_rf", "error")]
    ls_span, rm_span = (s for s in run["spans"] if s["kind"] == "tool")
    assert ls_span["attributes"] == {
        "mcp.method": "tools/call",
        "tool_type": "mcp",
        "mcp.side": "server",
        "mcp.governed": True,
        "mcp.server": "files",
        "openinference.span.kind": "TOOL",
    }
    assert (ls_span["input"], ls_span["output"]) == (
        {"arguments": {"path": "/tmp"}},
        {"result": "a.txt b.txt in /tmp"},
    )
    assert (rm_span["error"], rm_span["output"]) == ("Tool 'rm_rf' is blocked", None)
    assert [(s["name"], s["attributes"]["action"]) for s in run["spans"] if s["kind"] == "policy"] == [
        ("no-rm", "block")
    ]
    assert (run["status"], run["error"]) == ("blocked", "Tool 'rm_rf' is blocked")


async def test_outside_any_run_each_call_gets_a_run_of_the_servers_own(
    read_run: Reader, read_runs: Callable[..., list[dict[str, Any]]]
) -> None:
    ran: list[str] = []
    async with Client(_server(ran)) as client:
        await client.call_tool("ls", {"path": "/srv"})
        await client.call_tool("rm_rf", {"path": "/srv"})
    assert ran == ["ls /srv"]
    runs = sorted(read_runs(), key=lambda r: r["started_at"])
    assert [(r["agent_name"], r["workflow_name"], r["status"]) for r in runs] == [
        ("files", "mcp-server", "success"),
        ("files", "mcp-server", "blocked"),
    ]
    listed, refused = (read_run(r["run_id"]) for r in runs)
    assert (listed["inputs"], listed["result"]) == (
        {"tool": "ls", "arguments": {"path": "/srv"}},
        {"result": "a.txt b.txt in /srv"},
    )
    assert listed["metadata"]["mcp.server"] == "files" and listed["metadata"]["mcp.method"] == "tools/call"
    assert _tool_spans(listed) == [("ls", "ok")] and _tool_spans(refused) == [("rm_rf", "error")]
    assert refused["result"] == {"result": "Policy violation: Tool 'rm_rf' is blocked"}


async def test_per_tool_settings_and_a_refusal_raised_to_the_server(read_run: Reader) -> None:
    ran: list[str] = []
    config = MiddlewareConfig(
        server_name="files",
        tools={
            "ls": ToolGovernanceConfig(record=False),
            "rm_rf": ToolGovernanceConfig(capture_arguments=False),
        },
        refusal_as_tool_error=False,
    )
    async with Client(_server(ran, config)) as client, WaxellContext(agent_name="mcp-settings") as ctx:
        await client.call_tool("ls", {"path": "/home"})
        with pytest.raises(MCPError):  # the PolicyViolationError, answered as a JSON-RPC error
            await client.call_tool("rm_rf", {"path": "/home"})
    assert ran == ["ls /home"]
    run = read_run(ctx.run_id)
    [rm_span] = (s for s in run["spans"] if s["kind"] == "tool")  # ls is not recorded
    assert (rm_span["name"], rm_span["status"], rm_span["input"]) == ("rm_rf", "error", None)

    ungated = MiddlewareConfig(server_name="files", default_tool=ToolGovernanceConfig(gate=False))
    async with Client(_server(ran, ungated)) as client, WaxellContext(agent_name="mcp-ungated") as ctx2:
        done = await client.call_tool("rm_rf", {"path": "/tmp/x"})
    assert (done.is_error, ran[-1]) == (False, "rm_rf /tmp/x")
    assert _tool_spans(read_run(ctx2.run_id)) == [("rm_rf", "ok")]


async def test_the_governance_decorator_on_a_tool_function(read_run: Reader) -> None:
    ran: list[str] = []
    server = MCPServer("shell")

    @server.tool()
    @governance
    def rm_rf(path: str) -> str:
        """Remove a tree."""
        ran.append(path)
        return "gone"

    @server.tool()
    @governance(name="ls", config=ToolGovernanceConfig(capture_result=False))
    async def listing(path: str) -> str:
        """List a directory."""
        ran.append(f"ls {path}")
        return "a.txt"

    tools = {t.name: t for t in await server.list_tools()}
    assert tools["rm_rf"].input_schema["required"] == ["path"]  # the signature survives the wrapper
    async with Client(server) as client, WaxellContext(agent_name="mcp-decorated") as ctx:
        listed = await client.call_tool("listing", {"path": "/"})
        refused = await client.call_tool("rm_rf", {"path": "/"})
    assert ran == ["ls /"] and listed.is_error is False and refused.is_error is True
    run = read_run(ctx.run_id)
    assert _tool_spans(run) == [("ls", "ok"), ("rm_rf", "error")]
    ls_span, rm_span = (s for s in run["spans"] if s["kind"] == "tool")
    assert (ls_span["input"], ls_span["output"]) == ({"arguments": {"path": "/"}}, None)
    assert (rm_span["error"], rm_span["attributes"]["error.type"]) == (
        "PolicyViolationError: Tool 'rm_rf' is blocked",
        "PolicyViolationError",
    )


def test_the_decorator_outside_a_run_opens_one(read_runs: Callable[..., list[dict[str, Any]]]) -> None:
    @governance(agent_name="tool-host")
    def rm_rf(path: str) -> str:
        return "gone"

    @governance(agent_name="tool-host")
    def ls(path: str) -> str:
        return f"listed {path}"

    assert ls(path="/x") == "listed /x"
    with pytest.raises(PolicyViolationError, match="Tool 'rm_rf' is blocked"):
        rm_rf(path="/")
    runs = sorted(read_runs(), key=lambda r: r["started_at"])
    assert [(r["agent_name"], r["workflow_name"], r["status"]) for r in runs] == [
        ("tool-host", "mcp-server", "success"),
        ("tool-host", "mcp-server", "blocked"),
    ]


def test_bad_settings_are_named() -> None:
    with pytest.raises(
        ValueError, match=r"MiddlewareConfig.tools\['ls'\] must be a ToolGovernanceConfig, got dict"
    ):
        MiddlewareConfig(tools={"ls": {"gate": False}})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="config must be a MiddlewareConfig, got dict"):
        GovernanceMiddleware({"server_name": "x"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="config must be a ToolGovernanceConfig, got bool"):
        governance(config=True)  # type: ignore[call-overload]
    assert MiddlewareConfig().run_agent_name == "mcp-server"
    assert MiddlewareConfig(server_name="files").run_agent_name == "files"
    assert MiddlewareConfig(server_name="files", agent_name="ops").run_agent_name == "ops"


def test_importing_the_module_imports_neither_mcp_nor_the_policy_machinery() -> None:
    program = (
        "import sys, waxell_observe.mcp, waxell_observe.decisions\n"
        "heavy = [m for m in ('mcp', 'waxell_observe.context', 'waxell_observe.governance.engine', 'httpx')"
        " if m in sys.modules]\n"
        "assert heavy == [], heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
