"""A run traced by the exporter keeps its OpenTelemetry trace id in the embedded store."""

from __future__ import annotations

from typing import Any, Callable

from waxell_observe import WaxellContext


def test_the_stored_run_carries_its_trace_id(spans_of: Callable[[], list[Any]], read_run: Any) -> None:
    with WaxellContext(agent_name="traced") as ctx:
        ctx.record_step("s")
    [run_span] = [s for s in spans_of() if s.name == "invoke_agent traced"]
    stored = read_run(ctx.run_id)
    assert stored["trace_id"] == f"{run_span.context.trace_id:032x}"
    assert len(stored["trace_id"]) == 32
