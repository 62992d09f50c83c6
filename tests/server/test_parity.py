"""A run delivered over the wire reads back exactly like the same run recorded embedded.

The run is recorded with ``WaxellContext`` into the embedded store; a client that speaks only
the wire protocol (behaviour records as ``_kind`` steps with the ``record_*`` parameters, as the
spec describes) then delivers the same run to the server, and ``get_run`` of both stores must
be equal, field for field.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from waxell_observe import WaxellContext
from waxell_observe.store import get_store
from waxell_observe.store.schema import llm_calls, runs, scores, spans, steps


def _record_embedded() -> str:
    with WaxellContext(
        agent_name="parity-agent",
        workflow_name="deep-research",
        inputs={"query": "weather?"},
        metadata={"version": "2.1"},
        enforce_policy=False,
        session_id="session-7",
        user_id="user-3",
        user_group="free",
        tags={"env": "test"},
    ) as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=300, tokens_out=150, task="plan", prompt_preview="Plan",
                            response_preview="Steps", duration_ms=350)  # fmt: skip
        ctx.record_step("research", output={"sources": 5})
        ctx.record_tool_call(name="web_search", input={"query": "news"}, output={"results": [1, 2]},
                             duration_ms=250, tool_type="api")  # fmt: skip
        ctx.record_tool_call(name="db", status="error", error="connection refused")
        ctx.record_retrieval(query="billing?", documents=[{"id": "doc1", "score": 0.92}], source="pinecone",
                             duration_ms=120, top_k=5, scores=[0.92])  # fmt: skip
        ctx.record_decision(name="route", options=["billing", "tech"], chosen="billing", reasoning="invoice",
                            confidence=0.95, metadata={"k": 1})  # fmt: skip
        ctx.record_reasoning(step="evaluate", thought="A is newer", evidence=["A: 2024"], conclusion="use A")
        ctx.record_retry(attempt=2, reason="rate limited", strategy="fallback", original_error="429",
                         fallback_to="claude-sonnet-4", max_attempts=3)  # fmt: skip
        ctx.record_user_message("What's the weather?")
        ctx.record_agent_response("It's sunny in Paris today.")
        ctx.record_llm_call(model="claude-sonnet-4", tokens_in=2000, tokens_out=500, task="synthesize")
        ctx.record_step("refine")
        ctx.record_score("relevance", 0.92, comment="Highly relevant")
        ctx.record_score("contains_hallucination", False, data_type="boolean")
        ctx.record_score("tone", "professional", data_type="categorical")
        ctx.set_tag("pipeline", "rag-v2")
        ctx.set_metadata("retrieval_count", 5)
        ctx.set_result({"answer": "sunny"})
        return ctx.run_id


_KIND_OF_SPAN = {
    "tool": "tool_call",
    "retrieval": "retrieval",
    "decision": "decision",
    "reasoning": "reasoning",
    "retry": "retry",
}


def _behaviour_step(span: Any) -> dict[str, Any]:
    """What a spec client sends for one behaviour: a ``_kind`` step with the record_* parameters."""
    a = span.attributes
    kind = span.kind
    if kind == "tool":
        output = {
            "_kind": "tool_call",
            "input": span.input,
            "output": span.output,
            "duration_ms": span.duration_ms,
            "status": span.status,
            "tool_type": a["tool_type"],
            "error": a.get("error", ""),
        }
        name = f"tool:{span.name}"
    elif kind == "retrieval":
        output = {
            "_kind": "retrieval",
            "query": span.input["query"],
            "documents": span.output["documents"],
            "source": a["source"],
            "duration_ms": span.duration_ms,
            "top_k": a.get("top_k"),
            "scores": a.get("scores"),
        }
        name = f"retrieval:{a['source']}"
    elif kind == "decision":
        output = {
            "_kind": "decision",
            "name": span.name,
            "options": span.input["options"],
            "chosen": span.output["chosen"],
            "reasoning": a["reasoning"],
            "confidence": a["confidence"],
            "metadata": a.get("metadata"),
            "instrumentation_type": a["instrumentation_type"],
        }
        name = f"decision:{span.name}"
    elif kind == "reasoning":
        output = {
            "_kind": "reasoning",
            "step": span.name,
            "thought": a["thought"],
            "evidence": a["evidence"],
            "conclusion": a["conclusion"],
        }
        name = f"reasoning:{span.name}"
    elif kind == "retry":
        output = {
            "_kind": "retry",
            **{
                k: a[k]
                for k in ("attempt", "reason", "strategy", "original_error", "fallback_to", "max_attempts")
            },
        }
        name = f"retry:{a['strategy']}"
    else:
        assert kind == "io", kind
        output = {"_kind": span.name, "preview": span.input if span.name == "user_message" else span.output}
        name = f"io:{span.name}"
    return {"step_name": name, "output": output, "position": span.position, "id": span.id,
            "started_at": span.started_at}  # fmt: skip


def _deliver(api: Any, embedded_url: str, run_id: str) -> None:
    with get_store(embedded_url).read() as conn:
        run = conn.execute(select(runs).where(runs.c.run_id == run_id)).one()
        calls = conn.execute(select(llm_calls).where(llm_calls.c.run_id == run_id)).all()
        plain = conn.execute(select(steps).where(steps.c.run_id == run_id)).all()
        behaviours = conn.execute(select(spans).where(spans.c.run_id == run_id)).all()
        score_rows = conn.execute(select(scores).where(scores.c.run_id == run_id)).all()
    api.start(
        agent_name=run.agent_name,
        workflow_name=run.workflow_name,
        inputs=run.inputs,
        metadata={"version": "2.1"},
        session_id=run.session_id,
        user_id=run.user_id,
        user_group=run.user_group,
        trace_id="",
        interaction_mode=run.interaction_mode,
        run_id=run_id,
        tags={"env": "test"},
        started_at=run.started_at,
    )
    api.post(
        f"runs/{run_id}/llm-calls/",
        {
            "calls": [
                {
                    "id": c.id,
                    "model": c.model,
                    "tokens_in": c.tokens_in,
                    "tokens_out": c.tokens_out,
                    "cost": c.cost,
                    "task": c.task,
                    "prompt_preview": c.prompt_preview,
                    "response_preview": c.response_preview,
                    "status": c.status,
                    "error_type": c.error_type,
                    "error_message": c.error_message,
                    "prompt_hash": c.prompt_hash,
                    "provider": c.provider,
                    "duration_ms": c.duration_ms,
                    "started_at": c.started_at,
                    "position": c.position,
                    "parent_span_id": c.parent_span_id,
                    "attributes": c.attributes,
                }
                for c in calls
            ]
        },
    )
    wire_steps = [
        {
            "step_name": s.name,
            "output": s.output,
            "position": s.position,
            "seq": s.seq,
            "started_at": s.started_at,
        }
        for s in plain
    ] + [_behaviour_step(s) for s in behaviours]
    api.post(f"runs/{run_id}/steps/", {"steps": wire_steps})
    wire_scores = []
    for s in score_rows:
        score = {"name": s.name, "data_type": s.data_type, "comment": s.comment, "created_at": s.created_at}
        if s.numeric_value is not None:
            score["numeric_value"] = s.numeric_value
        if s.string_value is not None:
            score["string_value"] = s.string_value
        wire_scores.append(score)
    api.post(f"runs/{run_id}/scores/", {"scores": wire_scores})
    api.post(
        f"runs/{run_id}/complete/",
        {"result": run.result, "status": run.status, "error": run.error, "steps": [],
         "conversation_state": {**run.conversation, "metadata": run.metadata}, "tags": run.tags,
         "metadata": run.metadata, "ended_at": run.ended_at},
    )  # fmt: skip


def test_a_run_reads_back_the_same_embedded_and_remote(
    api: Any, read_run: Callable[[str], dict[str, Any]], waxell_db: Path
) -> None:
    run_id = _record_embedded()
    embedded = read_run(run_id)
    assert len(embedded["spans"]) == 8 and len(embedded["llm_calls"]) == 2 and len(embedded["steps"]) == 2
    _deliver(api, f"sqlite:///{waxell_db}", run_id)
    remote = api.run(run_id)
    for key in embedded:
        assert remote[key] == embedded[key], key
    assert remote == embedded


def test_runs_recorded_embedded_show_up_in_the_server_on_the_same_file(
    read_run: Callable[[str], dict[str, Any]], waxell_db: Path
) -> None:
    """``serve`` defaults to the embedded store, so what the SDK recorded locally is served."""
    from fastapi.testclient import TestClient
    from waxell_observe_server import create_app

    run_id = _record_embedded()
    embedded = read_run(run_id)
    with TestClient(create_app(str(waxell_db))) as client:
        listing = client.get("/api/v1/read/runs/").json()
        assert [r["run_id"] for r in listing["runs"]] == [run_id]
        assert client.get(f"/api/v1/read/runs/{run_id}/").json() == embedded
        session = client.get("/api/v1/read/sessions/session-7/").json()
        assert [(c["kind"], c["text"]) for c in session["conversation"]] == [
            ("user_message", "What's the weather?"),
            ("agent_response", "It's sunny in Paris today."),
        ]
