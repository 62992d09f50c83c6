"""A run traced by the exporter keeps its OpenTelemetry trace id in the embedded store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe import WaxellContext


def test_the_stored_run_carries_its_trace_id(spans_of: Callable[[], list[Any]], read_run: Any) -> None:
    with WaxellContext(agent_name="traced") as ctx:
        ctx.record_step("s")
    [run_span] = [s for s in spans_of() if s.name == "invoke_agent traced"]
    stored = read_run(ctx.run_id)
    assert stored["trace_id"] == f"{run_span.context.trace_id:032x}"
    assert len(stored["trace_id"]) == 32


def test_a_call_the_provider_sdk_traced_itself_gets_no_second_chat_span(
    spans_of: Callable[[], list[Any]], read_run: Any
) -> None:
    with WaxellContext(agent_name="native") as ctx:
        ctx.record_llm_call(
            model="claude-sonnet-4",
            tokens_in=10,
            tokens_out=2,
            attributes={"otel_native_span": "anthropic.messages.create", "otel_native_scope": "x"},
        )
        ctx.record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1)
    assert sorted(s.name for s in spans_of()) == ["chat gpt-4o", "invoke_agent native"]
    assert [c["model"] for c in read_run(ctx.run_id)["llm_calls"]] == ["claude-sonnet-4", "gpt-4o"]
