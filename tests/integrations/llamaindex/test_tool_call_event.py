"""The tool call an older LlamaIndex agent announces (``AgentToolCallEvent``): a tool span."""

from __future__ import annotations

from typing import Any

from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.agent import AgentToolCallEvent
from llama_index.core.tools import ToolMetadata

from waxell_observe import WaxellContext


def test_an_announced_tool_call_is_a_tool_span_counted_on_the_run(attached: Any, read_run: Any) -> None:
    tool = ToolMetadata(name="multiply", description="Multiply two integers.")
    with WaxellContext(agent_name="announced-tool", enforce_policy=False) as ctx:
        get_dispatcher().event(AgentToolCallEvent(arguments='{"a": 6, "b": 7}', tool=tool))
        get_dispatcher().event(AgentToolCallEvent(arguments="not json", tool=tool))
    assert ctx.run is not None
    assert (ctx.run.tool_call_count, ctx.run.tool_names) == (2, ["multiply", "multiply"])
    spans = read_run(ctx.run_id)["spans"]
    assert [(s["kind"], s["name"], s["input"], s["output"], s["parent_span_id"]) for s in spans] == [
        ("tool", "multiply", {"a": 6, "b": 7}, "", ""),
        ("tool", "multiply", "not json", "", ""),
    ]
    assert spans[0]["attributes"] == {
        "tool_type": "function",
        "framework": "llamaindex",
        "description": "Multiply two integers.",
    }


def test_outside_a_run_an_announced_tool_call_records_nothing(attached: Any, read_runs: Any) -> None:
    tool = ToolMetadata(name="multiply", description="Multiply two integers.")
    get_dispatcher().event(AgentToolCallEvent(arguments="{}", tool=tool))
    assert read_runs() == []
