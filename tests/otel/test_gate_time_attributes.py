"""Per-run gate time on the run span (spec §8): ``waxell.governance.overhead_ms``, ``.gate_calls`` and
``.surface.<surface_with_underscores>.ms|calls``, from a run whose gates consulted a policy."""

from __future__ import annotations

from typing import Any

from waxell_observe import WaxellContext, WaxellObserveClient, gate_tool
from waxell_observe.config import get_config
from waxell_observe.gating import forget
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store

from .conftest import finished_spans


def test_the_run_span_carries_the_gate_time(memory_exporter: Any) -> None:
    forget()
    WaxellObserveClient.configure(otel_span_exporter=memory_exporter)
    add_policies(
        get_store(get_config().db_url),
        load_policies(
            "policies:\n  - {name: tools, category: tool-allowlist, rules: {blocked_tools: [rm_rf]}}\n"
        ),
    )
    with WaxellContext(agent_name="gate-otel") as ctx:
        gate_tool("ls")
        gate_tool("cat")
        ctx.record_tool_call(name="ls", output="a b")  # no policy at tool.after: not counted
    forget()
    run_span = next(s for s in finished_spans(memory_exporter) if s.name == "invoke_agent gate-otel")
    attributes = dict(run_span.attributes or {})
    gates = {
        k: v
        for k, v in attributes.items()
        if k.startswith("waxell.governance.") and k != "waxell.governance.action"
    }
    assert set(gates) == {
        "waxell.governance.overhead_ms",
        "waxell.governance.gate_calls",
        "waxell.governance.surface.tool_before.ms",
        "waxell.governance.surface.tool_before.calls",
    }
    assert gates["waxell.governance.gate_calls"] == 2
    assert gates["waxell.governance.surface.tool_before.calls"] == 2
    assert gates["waxell.governance.overhead_ms"] == gates["waxell.governance.surface.tool_before.ms"] > 0
    assert ctx.run_id == attributes["waxell.run_id"]
