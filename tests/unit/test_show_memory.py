"""Issue 12: ``waxell-observe show`` prints a run's memory (state, summary, writes, recalls) and its
code executions, network requests, pending actions and delegations, read from the embedded store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import waxell_observe
from waxell_observe import WaxellContext


def test_show_prints_memory_and_actions(read_run: Callable[[str], dict[str, Any]]) -> None:
    from click.testing import CliRunner

    from waxell_observe.cli import main

    with WaxellContext(agent_name="i12-show", enforce_policy=False, session_id="s-1") as ctx:
        ctx.set_memory_state(memory_item_count=3, cross_session_loaded=True)
        waxell_observe.remember_episodic("prefs", {"drink": "tea"})
        waxell_observe.recall("drinks", results=["tea"], top_score=0.9, store="redis")
        waxell_observe.recall("weather")
        ctx.record_code_execution(language="python", code="print(1)", execution_time=0.5, packages=["os"])
        ctx.record_network_request(url="https://api.example.com/x")
        ctx.record_pending_action(kind="tool_call", tool="search", args={"q": "x"})
        ctx.record_delegation(delegate="helper", depth=2, approved=False)
    read_run(ctx.run_id)  # flushed
    result = CliRunner().invoke(main, ["show", ctx.run_id])
    assert result.exit_code == 0, result.output
    lines = [line.strip(" │├└─") for line in result.output.splitlines()]
    memory_lines = [line.rsplit("  ", 1)[0] for line in lines if line.startswith("MEMORY ")]
    assert memory_lines == [
        "MEMORY memory.write:prefs  episodic @ i12-show:s-1",
        "MEMORY memory.read:drinks  episodic: hit, 1 result(s), top 0.9",
        "MEMORY memory.read:weather  episodic: miss",
    ]
    start = lines.index(
        "memory: 3 item(s) at start (loaded from an earlier session); 1 write(s), 2 read(s); "
        "1 hit(s) (hit rate 0.5); stores: redis; tiers: episodic"
    )
    assert lines[start + 1 :] == [
        "WRITE episodic prefs i12-show:s-1  {'drink': 'tea'}",
        "READ episodic redis 'drinks'  hit, 1 result(s), top 0.9",
        "READ episodic 'weather'  miss",
        "code executions: 1",
        "python 0.50s  print(1)  packages: os",
        "network requests: 1",
        "https://api.example.com/x",
        "pending actions: 1",
        'tool_call search  {"q":"x"}',
        "delegations: 1 delegation(s), depth 2, 1 in flight at the end",
        "helper (depth 2, not approved)",
    ]
