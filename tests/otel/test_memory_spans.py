"""Issue 12: memory and code-execution spans over OpenTelemetry — ``waxell.memory.*`` on memory reads
and writes, ``waxell.code.*`` on code executions (previews only with ``capture_content``)."""

from __future__ import annotations

import json
from typing import Any

from waxell_observe import WaxellContext, WaxellObserveClient

from .conftest import finished_spans


def _run(exporter: Any, *, capture_content: bool) -> tuple[str, dict[str, dict[str, Any]]]:
    WaxellObserveClient.configure(otel_span_exporter=exporter, capture_content=capture_content)
    with WaxellContext(agent_name="i12-otel", enforce_policy=False, session_id="s-1") as ctx:
        ctx.record_memory_recall(query="drinks", store="redis", results_count=2, top_score=0.75)
        ctx.remember_episodic(slot_name="prefs", data={"drink": "tea"})
        ctx.record_code_execution(
            language="python", code="print('secret-code')", execution_time=0.5, output="secret-output"
        )
        ctx.record_code_execution(language="bash", code="false", error="exit status 1")
    spans = {s.name: dict(s.attributes or {}) for s in finished_spans(exporter)}
    return ctx.run_id, spans


def test_memory_spans_carry_the_waxell_memory_attributes(memory_exporter: Any) -> None:
    run_id, spans = _run(memory_exporter, capture_content=False)
    read = spans["memory.read:drinks"]
    assert {k: v for k, v in read.items() if k.startswith("waxell.memory.")} == {
        "waxell.memory.operation": "read",
        "waxell.memory.tier": "episodic",
        "waxell.memory.store": "redis",
        "waxell.memory.hit": True,
        "waxell.memory.recall_results_count": 2,
        "waxell.memory.recall_top_score": 0.75,
    }
    assert (read["waxell.span.kind"], read["waxell.run_id"]) == ("memory", run_id)
    assert json.loads(read["waxell.span.output"]) == {"hit": True, "results_count": 2, "top_score": 0.75}
    write = spans["memory.write:prefs"]
    assert {k: v for k, v in write.items() if k.startswith("waxell.memory.")} == {
        "waxell.memory.operation": "write",
        "waxell.memory.tier": "episodic",
        "waxell.memory.slot_name": "prefs",
        "waxell.memory.scope_key": "i12-otel:s-1",
    }


def test_code_executions_carry_the_waxell_code_attributes(memory_exporter: Any) -> None:
    _, spans = _run(memory_exporter, capture_content=False)
    python = spans["execute_tool code_exec:python"]
    assert {k: v for k, v in python.items() if k.startswith("waxell.code.")} == {
        "waxell.code.language": "python",
        "waxell.code.length": len("print('secret-code')"),
    }
    assert python["gen_ai.tool.type"] == "code_execution"
    assert not [k for k, v in python.items() if isinstance(v, str) and "secret" in v]  # content stays home
    bash = spans["execute_tool code_exec:bash"]
    assert bash["waxell.code.error"] == "exit status 1"

    memory_exporter.clear()
    _, spans = _run(memory_exporter, capture_content=True)
    python = spans["execute_tool code_exec:python"]
    assert (python["waxell.code.preview"], python["waxell.code.output_preview"]) == (
        "print('secret-code')",
        "secret-output",
    )
