"""Issue 14: what the reference SDK's ``WaxellContext`` methods record, delivered to our real server
and read back through its read API (the same values the embedded store holds)."""

from __future__ import annotations

import uuid
from typing import Any

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient


def _workload(agent: str) -> str:
    first = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Sunny."},
        {"role": "user", "content": "And in Rome?"},
    ]
    with WaxellContext(agent_name=agent, enforce_policy=False) as ctx:
        ctx.record_llm_call(
            model="gpt-4o",
            tokens_in=3600,
            tokens_out=40,
            messages=first,
            prompt_hash="ph-9",
            prompt_variables={"city": "Rome"},
            is_streaming=True,
            ttft_ms=80.0,
            chunk_count=12,
        )
        ctx.record_llm_call(  # a shorter side call: the state keeps the conversation's picture
            model="gpt-4o-mini", tokens_in=20, tokens_out=4, messages=[{"role": "user", "content": "Title?"}]
        )
        ctx.record_step("lookup", output={"hits": 2}, kind="tool", attributes={"index": "docs"})
        handle = ctx.enter_span("plan", kind="agent", input_data={"goal": "answer"})
        ctx.record_prompt_use(name="triage", version=2, label="prod")
        ctx.exit_span(handle, output_data={"ok": True})
        ctx.record_communication(channel="slack", recipient="#ops", body="Done.")
        ctx.record_scope_impact(records_modified=2)
        ctx.record_grounding(grounding_scores=[0.5, 1.0])
        ctx.set_privacy_context(execution_region="eu-west-1")
        ctx.set_prompt_name("triage")
        ctx.record_erasure_request(subject_id="user-9")
        ctx.flush_sync()
    return ctx.run_id


def test_reference_methods_reach_the_server(shared_server: Any) -> None:
    WaxellObserveClient.configure(api_url=shared_server.url, api_key="")
    run_id = _workload(f"i14-remote-{uuid.uuid4().hex[:8]}")
    report = waxell_observe.flush_sync(timeout=30)
    assert report.pending == 0, report
    run = shared_server.read_run(run_id)

    first_call = run["llm_calls"][0]
    attributes = first_call["attributes"]
    assert {
        k: attributes[k] for k in ("prompt_hash", "prompt_variables", "stream", "ttft_ms", "chunk_count")
    } == {
        "prompt_hash": "ph-9",
        "prompt_variables": {"city": "Rome"},
        "stream": True,
        "ttft_ms": 80.0,
        "chunk_count": 12,
    }
    conversation = run["conversation"]
    assert (conversation["user_turns"], conversation["message_count"]) == (2, 4)
    assert (conversation["tokens_in_context"], conversation["context_utilization_pct"]) == (3600, 2.8)
    assert len(conversation["system_prompt_hash"]) == 12
    assert conversation["communications"] == [
        {"channel": "slack", "recipient": "#ops", "body": "Done.", "subject": ""}
    ]
    assert conversation["scope_impacts"]["records_modified"] == 2
    assert conversation["grounding_data"] == [{"grounding_scores": [0.5, 1.0]}]
    assert conversation["privacy_context"] == {"execution_region": "eu-west-1"}
    assert conversation["prompt_name"] == "triage"
    assert run["metadata"]["erasure_requests"] == [{"sub_user_id": "user-9", "requested_at": ""}]

    spans = {s["name"]: s for s in run["spans"]}
    assert (spans["lookup"]["kind"], spans["lookup"]["attributes"]) == (
        "tool",
        {"index": "docs", "step_position": 1},
    )
    plan = spans["plan"]
    assert (plan["kind"], plan["input"], plan["output"]) == ("agent", {"goal": "answer"}, {"ok": True})
    prompt = spans["prompt.use:triage"]
    assert (prompt["kind"], prompt["parent_span_id"]) == ("prompt", plan["id"])
    assert prompt["attributes"] == {"name": "triage", "version": 2, "label": "prod"}
    assert spans["comm:slack"]["attributes"]["io.channel"] == "slack"
    assert [s["name"] for s in run["steps"]] == ["lookup", "comm:slack", "grounding_check"]
    assert [(s["name"], s["value"]) for s in run["scores"]] == [("grounding_score", 0.75)]


def test_interaction_mode_and_end_user_reach_the_server(shared_server: Any) -> None:
    WaxellObserveClient.configure(api_url=shared_server.url, api_key="")
    agent = f"i14-mode-remote-{uuid.uuid4().hex[:8]}"
    first_context = WaxellContext(agent, interaction_mode="interactive", end_user_id="cust-3")
    with first_context as ctx:
        pass
    with WaxellContext(agent, session_id="s-9", interaction_mode="autonomous", enforce_policy=False) as other:
        pass
    report = waxell_observe.flush_sync(timeout=30)
    assert report.pending == 0, report
    first, second = shared_server.read_run(ctx.run_id), shared_server.read_run(other.run_id)
    assert (first["interaction_mode"], first["metadata"]) == ("interactive", {"tenant_sub_user_id": "cust-3"})
    assert (second["interaction_mode"], second["session_id"]) == ("autonomous", "s-9")
