"""Issue 14: what the reference SDK's ``WaxellContext`` methods record, exported over OTLP —
container spans nest what is recorded inside them, prompt use is a ``prompt`` span, activity
signals travel in the run span's conversation state."""

from __future__ import annotations

import json
from collections.abc import Callable

from opentelemetry.sdk.trace import ReadableSpan

from waxell_observe import WaxellContext

from .conftest import span_tree

Spans = Callable[[], list[ReadableSpan]]


def test_containers_prompts_and_signals_over_otlp(spans_of: Spans) -> None:
    with WaxellContext(agent_name="i14-otel", enforce_policy=False) as ctx:
        handle = ctx.enter_span("plan", kind="agent", attributes={"goal": "answer"})
        ctx.record_prompt_use(name="triage", version=2, label="prod")
        ctx.record_tool_call(name="search")
        ctx.exit_span(handle, output_data={"ok": True})
        ctx.record_data_access(source="crm", records=2)
    spans = spans_of()
    assert span_tree(spans) == [
        (0, "invoke_agent i14-otel"),
        (1, "invoke_agent plan"),
        (2, "prompt.use:triage"),
        (2, "execute_tool search"),
    ]
    by_name = {s.name: s for s in spans}
    prompt = by_name["prompt.use:triage"].attributes
    assert (prompt["waxell.span.kind"], prompt["waxell.prompt.name"]) == ("prompt", "triage")
    assert (prompt["waxell.prompt.version"], prompt["waxell.prompt.label"]) == (2, "prod")
    run_span = by_name["invoke_agent i14-otel"].attributes
    conversation = json.loads(str(run_span["waxell.conversation"]))
    assert conversation["data_accesses"] == [{"source": "crm", "operation": "read", "records": 2}]
