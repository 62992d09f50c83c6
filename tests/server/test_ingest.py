"""Every ingest endpoint of the wire protocol, with exact stored values, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from waxell_observe_server.ingest_store import derived_id

from waxell_observe.pricing import estimate_cost
from waxell_observe.store.reader import iso

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def start(api: Any, run_id: str = "run-1", **body: Any) -> dict[str, Any]:
    return api.start(run_id=run_id, started_at=T0, **body)


# -- runs/start ------------------------------------------------------------------------------


def test_start_honours_client_run_id_and_stores_every_field(api: Any) -> None:
    reply = api.start(
        agent_name="support-bot",
        workflow_name="triage",
        inputs={"ticket": 7},
        metadata={"version": "2.1"},
        trace_id="",
        session_id="sess-1",
        user_id="user-9",
        user_group="enterprise",
        run_id="0123456789abcdef0123456789abcdef",
        tags={"env": "prod", "n": 3},
        started_at=T0,
        pre_execution_evaluations=[{"policy_name": "budget", "action": "allow"}],
        agent_id="ignored",
    )
    assert reply == {
        "run_id": "0123456789abcdef0123456789abcdef",
        "workflow_id": "0123456789abcdef0123456789abcdef",
        "started_at": "2023-11-14T22:13:20+00:00",
    }
    run = api.run("0123456789abcdef0123456789abcdef")
    assert {
        k: run[k]
        for k in (
            "agent_name",
            "workflow_name",
            "status",
            "session_id",
            "user_id",
            "user_group",
            "parent_run_id",
            "root_run_id",
            "started_at",
            "ended_at",
            "inputs",
            "metadata",
            "tags",
            "interaction_mode",
            "governance",
            "auto_collected",
            "tokens_in",
            "llm_call_count",
        )
    } == {
        "agent_name": "support-bot",
        "workflow_name": "triage",
        "status": "running",
        "session_id": "sess-1",
        "user_id": "user-9",
        "user_group": "enterprise",
        "parent_run_id": "",
        "root_run_id": "",
        "started_at": "2023-11-14T22:13:20+00:00",
        "ended_at": None,
        "inputs": {"ticket": 7},
        "metadata": {"version": "2.1"},
        "tags": {"env": "prod", "n": "3"},
        "interaction_mode": "interactive",
        "governance": {"pre_execution_evaluations": [{"policy_name": "budget", "action": "allow"}]},
        "auto_collected": False,
        "tokens_in": 0,
        "llm_call_count": 0,
    }


def test_start_retry_returns_the_same_run_and_a_taken_id_gets_a_new_one(api: Any) -> None:
    first = start(api, "abc", agent_name="a")
    assert first["run_id"] == "abc"
    again = api.start(expect=200, run_id="abc", agent_name="a", started_at=T0 + 50)
    assert again == first  # idempotent: same id, original start time
    other = api.start(run_id="abc", agent_name="another-agent")
    assert other["run_id"] != "abc"
    assert len(other["run_id"]) == 32 and int(other["run_id"], 16) >= 0
    assert other["workflow_id"] == other["run_id"]
    assert api.run("abc")["agent_name"] == "a"
    assert api.run(other["run_id"])["agent_name"] == "another-agent"


def test_start_without_run_id_generates_one_and_defaults(api: Any) -> None:
    reply = api.start(agent_name="sparse")
    run = api.run(reply["run_id"])
    assert len(reply["run_id"]) == 32
    assert run["workflow_name"] == "default"
    assert run["interaction_mode"] == "autonomous"
    assert run["inputs"] == {} and run["metadata"] == {} and run["tags"] == {}
    assert run["started_at"] == reply["started_at"]


def test_nested_run_maps_parent_and_root_workflow_ids(api: Any) -> None:
    start(api, "root-run", agent_name="orchestrator")
    start(api, "child-run", agent_name="worker", parent_workflow_id="root-run", root_workflow_id="root-run")
    start(api, "grandchild", agent_name="sub", parent_workflow_id="child-run", root_workflow_id="root-run")
    child = api.run("child-run")
    assert (child["parent_run_id"], child["root_run_id"]) == ("root-run", "root-run")
    grandchild = api.run("grandchild")
    assert (grandchild["parent_run_id"], grandchild["root_run_id"]) == ("child-run", "root-run")
    assert [c["run_id"] for c in api.run("root-run")["children"]] == ["child-run"]


# -- llm-calls ---------------------------------------------------------------------------------


def test_llm_calls_are_stored_exactly_and_totals_recomputed(api: Any) -> None:
    start(api)
    reply = api.post(
        "runs/run-1/llm-calls/",
        {
            "calls": [
                {
                    "id": "call-1", "model": "gpt-4o", "tokens_in": 300, "tokens_out": 150, "cost": 0.5,
                    "task": "summarize", "prompt_preview": "Summarize", "response_preview": "Done",
                    "status": "ok", "provider": "openai", "duration_ms": 350.5, "started_at": T0 + 1,
                    "position": 1, "prompt_hash": "ph", "parent_span_id": "span-x",
                    "attributes": {"cached_tokens_in": 0, "finish_reason": "stop"},
                },
                {"model": "claude-sonnet-4", "tokens_in": 1000, "tokens_out": 10, "status": "error",
                 "error_type": "RateLimit", "error_message": "429", "started_at": T0 + 2},
            ],
            "conversation_state": {"user_turns": 2, "message_count": 5, "metadata": {"from_state": True}},
            "hardware_uuid": "hw",
        },
    )  # fmt: skip
    assert reply == {}
    run = api.run("run-1")
    first, second = run["llm_calls"]
    assert first == {
        "id": "call-1",
        "position": 1,
        "model": "gpt-4o",
        "provider": "openai",
        "tokens_in": 300,
        "tokens_out": 150,
        "cost": 0.5,
        "task": "summarize",
        "prompt_preview": "Summarize",
        "response_preview": "Done",
        "duration_ms": 350.5,
        "status": "ok",
        "error_type": "",
        "error_message": "",
        "started_at": iso(T0 + 1),
        "parent_span_id": "span-x",
        "attributes": {"cached_tokens_in": 0, "finish_reason": "stop"},
    }
    expected_cost = estimate_cost("claude-sonnet-4", 1000, 10)
    assert expected_cost > 0
    assert {
        k: second[k]
        for k in ("position", "model", "provider", "cost", "status", "error_type", "error_message")
    } == {
        "position": 2,  # after the highest position given
        "model": "claude-sonnet-4",
        "provider": "anthropic",
        "cost": expected_cost,
        "status": "error",
        "error_type": "RateLimit",
        "error_message": "429",
    }
    assert (run["tokens_in"], run["tokens_out"], run["llm_call_count"]) == (1300, 160, 2)
    assert run["total_cost"] == round(0.5 + expected_cost, 10)
    assert run["conversation"] == {"user_turns": 2, "message_count": 5}
    assert run["metadata"] == {"from_state": True}


def test_llm_calls_delivered_twice_are_stored_once(api: Any) -> None:
    start(api)
    batch = {
        "calls": [
            {"id": "c1", "model": "gpt-4o-mini", "tokens_in": 10, "tokens_out": 5, "cost": 0.25},
            {"model": "gpt-4o-mini", "tokens_in": 20, "tokens_out": 5, "cost": 0.25, "position": 7},
        ]
    }
    api.post("runs/run-1/llm-calls/", batch)
    api.post("runs/run-1/llm-calls/", batch)
    run = api.run("run-1")
    assert sorted(c["id"] for c in run["llm_calls"]) == sorted(["c1", derived_id("run-1", "llm", 7)])
    assert (run["llm_call_count"], run["tokens_in"], run["total_cost"]) == (2, 30, 0.5)


# -- steps ---------------------------------------------------------------------------------------


def test_plain_and_delegation_steps_stay_steps(api: Any) -> None:
    start(api)
    api.post(
        "runs/run-1/steps/",
        {
            "steps": [
                {"step_name": "research", "output": {"sources": 5}, "position": 1, "started_at": T0 + 1},
                {"step_name": "delegate:worker", "position": 2, "started_at": T0 + 2,
                 "output": {"_kind": "delegation", "child_run_id": "c", "child_agent": "worker"}},
                {"step_name": "refine", "started_at": T0 + 3},
            ]
        },
    )  # fmt: skip
    run = api.run("run-1")
    assert run["steps"] == [
        {"name": "research", "position": 1, "seq": 0, "output": {"sources": 5}, "started_at": iso(T0 + 1)},
        {"name": "delegate:worker", "position": 2, "seq": 0, "started_at": iso(T0 + 2),
         "output": {"_kind": "delegation", "child_run_id": "c", "child_agent": "worker"}},
        {"name": "refine", "position": 3, "seq": 0, "output": None, "started_at": iso(T0 + 3)},
    ]  # fmt: skip
    assert (run["step_count"], run["span_count"]) == (3, 0)


BEHAVIOUR_STEPS = [
    {"step_name": "tool:web_search", "position": 1, "started_at": T0 + 1, "output": {
        "_kind": "tool_call", "input": {"query": "news"}, "output": {"results": [1]}, "duration_ms": 250,
        "status": "ok", "tool_type": "api"}},
    {"step_name": "tool:db", "position": 2, "started_at": T0 + 2, "output": {
        "_kind": "tool_call", "status": "error", "error": "connection refused"}},
    {"step_name": "retrieval:pinecone", "position": 3, "started_at": T0 + 3, "output": {
        "_kind": "retrieval", "query": "billing?", "documents": [{"id": "doc1", "score": 0.92}],
        "source": "pinecone", "duration_ms": 120, "top_k": 5, "scores": [0.92]}},
    {"step_name": "decision:route", "position": 4, "started_at": T0 + 4, "output": {
        "_kind": "decision", "name": "route", "options": ["billing", "tech"], "chosen": "billing",
        "reasoning": "invoice", "confidence": 0.95, "metadata": {"k": 1}}},
    {"step_name": "reasoning:evaluate", "position": 5, "started_at": T0 + 5, "output": {
        "_kind": "reasoning", "step": "evaluate", "thought": "A is newer", "evidence": ["A: 2024"],
        "conclusion": "use A"}},
    {"step_name": "retry:fallback", "position": 6, "started_at": T0 + 6, "output": {
        "_kind": "retry", "attempt": 2, "reason": "rate limited", "strategy": "fallback",
        "original_error": "429", "fallback_to": "claude-sonnet-4", "max_attempts": 3}},
    {"step_name": "io:user_message", "position": 7, "started_at": T0 + 7, "output": {
        "_kind": "user_message", "preview": "What's the weather?"}},
    {"step_name": "io:agent_response", "position": 8, "started_at": T0 + 8, "output": {
        "_kind": "agent_response", "preview": "Sunny."}},
]  # fmt: skip

EXPECTED_SPANS = [
    ("tool", "web_search", "ok", 250.0, {"tool_type": "api"}, {"query": "news"}, {"results": [1]}, ""),
    (
        "tool",
        "db",
        "error",
        None,
        {"tool_type": "function", "error": "connection refused"},
        "",
        "",
        "connection refused",
    ),
    (
        "retrieval",
        "pinecone",
        "ok",
        120.0,
        {"source": "pinecone", "document_count": 1, "top_k": 5, "scores": [0.92]},
        {"query": "billing?"},
        {"documents": [{"id": "doc1", "score": 0.92}]},
        "",
    ),
    (
        "decision",
        "route",
        "ok",
        None,
        {"reasoning": "invoice", "confidence": 0.95, "instrumentation_type": "manual", "metadata": {"k": 1}},
        {"options": ["billing", "tech"]},
        {"chosen": "billing"},
        "",
    ),
    (
        "reasoning",
        "evaluate",
        "ok",
        None,
        {"thought": "A is newer", "evidence": ["A: 2024"], "conclusion": "use A"},
        None,
        None,
        "",
    ),
    (
        "retry",
        "fallback",
        "ok",
        None,
        {
            "attempt": 2,
            "reason": "rate limited",
            "strategy": "fallback",
            "original_error": "429",
            "fallback_to": "claude-sonnet-4",
            "max_attempts": 3,
        },
        None,
        None,
        "",
    ),
    (
        "io",
        "user_message",
        "ok",
        None,
        {"preview": "What's the weather?", "source": "manual", "length": 19},
        "What's the weather?",
        None,
        "",
    ),
    (
        "io",
        "agent_response",
        "ok",
        None,
        {"preview": "Sunny.", "source": "manual", "length": 6},
        None,
        "Sunny.",
        "",
    ),
]


def test_behaviour_steps_are_stored_as_spans_in_the_sdk_layout(api: Any) -> None:
    start(api)
    assert api.post("runs/run-1/steps/", {"steps": BEHAVIOUR_STEPS}) == {}
    run = api.run("run-1")
    assert run["steps"] == []
    got = [
        (
            s["kind"],
            s["name"],
            s["status"],
            s["duration_ms"],
            s["attributes"],
            s["input"],
            s["output"],
            s["error"],
        )
        for s in run["spans"]
    ]
    assert got == EXPECTED_SPANS
    assert [s["position"] for s in run["spans"]] == list(range(1, 9))
    assert [s["id"] for s in run["spans"]] == [derived_id("run-1", "step", p) for p in range(1, 9)]
    assert run["spans"][0]["started_at"] == iso(T0 + 1)
    assert (run["step_count"], run["span_count"]) == (0, 8)
    # delivered again (a retry): nothing doubles
    api.post("runs/run-1/steps/", {"steps": BEHAVIOUR_STEPS})
    assert api.run("run-1")["span_count"] == 8


def test_behaviour_steps_with_parameters_nested_as_input_and_output(api: Any) -> None:
    """Our SDK (and others) may send the span's input/output objects instead of flat parameters."""
    start(api)
    api.post(
        "runs/run-1/steps/",
        {"steps": [
            {"step_name": "retrieval:es", "position": 1, "output": {
                "_kind": "retrieval", "source": "es", "document_count": 1,
                "input": {"query": "q"}, "output": {"documents": [{"id": 1}]}}},
            {"step_name": "decision:pick", "position": 2, "output": {
                "_kind": "decision", "reasoning": "", "confidence": None, "instrumentation_type": "auto",
                "input": {"options": ["x", "y"]}, "output": {"chosen": "y"}}},
        ]},
    )  # fmt: skip
    retrieval, decision = api.run("run-1")["spans"]
    assert (retrieval["input"], retrieval["output"]) == ({"query": "q"}, {"documents": [{"id": 1}]})
    assert retrieval["attributes"] == {"source": "es", "document_count": 1}
    assert (decision["name"], decision["input"], decision["output"]) == (
        "pick",
        {"options": ["x", "y"]},
        {"chosen": "y"},
    )
    assert decision["attributes"] == {"reasoning": "", "confidence": None, "instrumentation_type": "auto"}


# -- spans ----------------------------------------------------------------------------------------


def test_spans_map_kinds_offsets_parents_and_errors(api: Any) -> None:
    start(api)
    reply = api.post(
        "runs/run-1/spans/",
        {
            "spans": [
                {"name": "agent", "kind": "agent", "position": 1, "start_offset_ms": 0, "duration_ms": 900},
                {
                    "name": "search",
                    "kind": "retriever",
                    "position": 2,
                    "parent_position": 1,
                    "start_offset_ms": 1500,
                    "attributes": {"k": 3},
                    "input_data": {"q": "x"},
                    "output_data": ["d1"],
                },
                {
                    "name": "budget",
                    "kind": "governance",
                    "position": 3,
                    "status": "error",
                    "start_offset_ms": 2000,
                    "attributes": {
                        "policy_name": "budget",
                        "action": "block",
                        "category": "budget",
                        "reason": "over budget",
                        "phase": "mid_execution",
                    },
                    "events": [{"name": "exception", "attributes": {"exception.message": "over budget"}}],
                },
                {"name": "odd", "kind": "workflow-step", "position": 4, "start_offset_ms": 10},
            ]
        },
    )
    assert reply == {}
    spans = api.run("run-1")["spans"]
    assert [(s["kind"], s["name"], s["status"], s["started_at"]) for s in spans] == [
        ("agent", "agent", "ok", iso(T0)),
        ("retrieval", "search", "ok", iso(T0 + 1.5)),
        ("policy", "budget", "error", iso(T0 + 2)),
        ("custom", "odd", "ok", iso(T0 + 0.01)),
    ]
    assert spans[1]["parent_span_id"] == spans[0]["id"] == derived_id("run-1", "span", 1)
    assert (spans[1]["attributes"], spans[1]["input"], spans[1]["output"]) == ({"k": 3}, {"q": "x"}, ["d1"])
    assert spans[2]["error"] == "over budget"
    assert spans[2]["attributes"]["events"] == [
        {"name": "exception", "attributes": {"exception.message": "over budget"}}
    ]
    assert spans[3]["attributes"] == {"wire_kind": "workflow-step"}
    audit = api.read("audit/", run_id="run-1")
    assert audit["total"] == 1
    event = audit["events"][0]
    assert {k: event[k] for k in ("ts", "event", "policy_name", "category", "action", "reason", "phase")} == {
        "ts": iso(T0 + 2),
        "event": "policy_decision",
        "policy_name": "budget",
        "category": "budget",
        "action": "block",
        "reason": "over budget",
        "phase": "mid_execution",
    }
    api.post("runs/run-1/spans/", {"spans": [{"name": "budget", "kind": "governance", "position": 3}]})
    assert api.read("audit/", run_id="run-1")["total"] == 1  # a re-delivered policy span is audited once


def test_spans_with_our_extensions(api: Any) -> None:
    start(api)
    api.post(
        "runs/run-1/spans/",
        {"spans": [
            {"name": "docs", "kind": "retriever", "waxell_kind": "retrieval", "id": "span-a", "position": 4,
             "started_at": T0 + 9, "parent_span_id": "outer", "error": ""},
        ]},
    )  # fmt: skip
    (span,) = api.run("run-1")["spans"]
    assert (span["id"], span["kind"], span["started_at"], span["parent_span_id"]) == (
        "span-a",
        "retrieval",
        iso(T0 + 9),
        "outer",
    )


# -- scores ----------------------------------------------------------------------------------------


def test_scores_of_every_type(api: Any) -> None:
    start(api)
    api.post(
        "runs/run-1/scores/",
        {
            "scores": [
                {
                    "name": "relevance",
                    "data_type": "numeric",
                    "numeric_value": 0.92,
                    "comment": "good",
                    "created_at": T0 + 1,
                },
                {
                    "name": "hallucination",
                    "data_type": "boolean",
                    "numeric_value": 0.0,
                    "string_value": "false",
                    "created_at": T0 + 2,
                },
                {"name": "thumbs", "data_type": "boolean", "numeric_value": 1.0, "created_at": T0 + 3},
                {
                    "name": "tone",
                    "data_type": "categorical",
                    "string_value": "professional",
                    "created_at": T0 + 4,
                },
                {"name": "plain", "numeric_value": 3, "created_at": T0 + 5},
            ]
        },
    )
    scores = api.run("run-1")["scores"]
    assert [s.pop("source") for s in scores] == ["sdk"] * 5  # recorded by the agent, not an evaluator
    assert scores == [
        {
            "name": "relevance",
            "data_type": "numeric",
            "value": 0.92,
            "comment": "good",
            "created_at": iso(T0 + 1),
        },
        {
            "name": "hallucination",
            "data_type": "boolean",
            "value": False,
            "comment": "",
            "created_at": iso(T0 + 2),
        },
        {"name": "thumbs", "data_type": "boolean", "value": True, "comment": "", "created_at": iso(T0 + 3)},
        {
            "name": "tone",
            "data_type": "categorical",
            "value": "professional",
            "comment": "",
            "created_at": iso(T0 + 4),
        },
        {"name": "plain", "data_type": "numeric", "value": 3.0, "comment": "", "created_at": iso(T0 + 5)},
    ]


# -- complete ----------------------------------------------------------------------------------------


def test_complete_stores_outcome_merges_tags_and_metadata(api: Any) -> None:
    start(api, tags={"env": "prod"}, metadata={"a": 1})
    api.post(
        "runs/run-1/llm-calls/",
        {"calls": [{"model": "gpt-4o", "tokens_in": 10, "tokens_out": 2, "cost": 1.5}]},
    )
    reply = api.post(
        "runs/run-1/complete/",
        {
            "result": {"answer": 42},
            "status": "error",
            "error": "boom",
            "error_type": "ValueError",
            "traceback": "Traceback...\nValueError: boom",
            "trace_id": "a" * 32,
            "root_span_id": "b" * 16,
            "steps": [{"step_name": "final", "position": 1, "started_at": T0 + 3}],
            "conversation_state": {"user_turns": 1, "tools_used": ["web"]},
            "tags": {"pipeline": "rag"},
            "metadata": {"b": 2},
            "ended_at": T0 + 12.5,
        },
    )
    assert reply == {
        "run_id": "run-1",
        "duration": 12.5,
        "governance": {"action": "allow", "reason": "", "retry_feedback": "", "max_retries": 0},
    }
    run = api.run("run-1")
    assert {
        k: run[k]
        for k in (
            "status",
            "error",
            "error_type",
            "traceback",
            "trace_id",
            "result",
            "tags",
            "metadata",
            "conversation",
            "ended_at",
            "duration_ms",
            "total_cost",
            "step_count",
            "llm_call_count",
        )
    } == {
        "status": "error",
        "error": "boom",
        "error_type": "ValueError",
        "traceback": "Traceback...\nValueError: boom",
        "trace_id": "a" * 32,
        "result": {"answer": 42},
        "tags": {"env": "prod", "pipeline": "rag"},
        "metadata": {"a": 1, "b": 2},
        "conversation": {"user_turns": 1, "tools_used": ["web"]},
        "ended_at": iso(T0 + 12.5),
        "duration_ms": 12500.0,
        "total_cost": 1.5,
        "step_count": 1,
        "llm_call_count": 1,
    }


def test_complete_defaults_and_non_object_result(api: Any) -> None:
    start(api)
    reply = api.post("runs/run-1/complete/", {"result": "just text"})
    run = api.run("run-1")
    assert (run["status"], run["result"], run["error"]) == ("success", {"output": "just text"}, "")
    assert run["ended_at"] is not None and reply["duration"] >= 0
    # a client's own post-execution outcome (ours) is kept when this server has no governance
    start(api, "run-2")
    api.post("runs/run-2/complete/", {"status": "blocked", "governance": {"action": "block", "reason": "r"}})
    assert api.run("run-2")["governance"] == {"action": "block", "reason": "r"}
    assert api.run("run-2")["status"] == "blocked"


# -- audit trail -------------------------------------------------------------------------------------


def test_events_and_governance_decisions_go_to_the_audit_trail(api: Any) -> None:
    start(api, workflow_name="wf")
    assert (
        api.post(
            "events/",
            {
                "events": [
                    {
                        "workflow_id": "run-1",
                        "agent_name": "agent",
                        "workflow_name": "wf",
                        "event": "approval_requested",
                        "metadata": {
                            "policy_name": "human-review",
                            "action": "warn",
                            "reason": "needs approval",
                        },
                    },
                    {"event": "approval_granted"},
                ]
            },
        )
        == {}
    )
    assert api.post(
        "governance-decision/",
        {
            "agent_name": "agent",
            "workflow_id": "run-1",
            "surface": "llm.after",
            "span_only": False,
            "decisions": [
                {"category": "content", "policy": "pii", "action": "redact", "reason": "email found"}
            ],
        },
    ) == {"run_found": True}
    assert api.post("governance-decision/", {"workflow_id": "nope", "decisions": []}) == {"run_found": False}
    events = api.read("audit/")["events"]
    assert [
        (e["event"], e["run_id"], e["policy_name"], e["action"], e["reason"], e["phase"]) for e in events
    ] == [
        ("governance_decision", "run-1", "pii", "redact", "email found", "mid_execution"),
        ("approval_granted", "", "", "", "", ""),
        ("approval_requested", "run-1", "human-review", "warn", "needs approval", ""),
    ]
    assert events[0]["metadata"] == {"surface": "llm.after", "span_only": False}
    assert events[0]["workflow_name"] == "wf"
    assert api.read("audit/", action="redact")["total"] == 1


# -- policies, config, prompts -------------------------------------------------------------------------


def test_policy_endpoints_allow_until_the_engine_is_wired(api: Any) -> None:
    assert api.post("policy-check/", {"agent_name": "a", "workflow_name": "", "inputs": {"q": 1}}) == {
        "action": "allow",
        "reason": "",
        "metadata": {},
        "evaluations": [],
    }
    assert api.post(
        "policy-check/", {"agent_name": "a", "surface": "llm.after", "categories": ["content"]}
    ) == {
        "action": "allow",
        "reason": "",
        "metadata": {},
        "evaluations": [],
    }
    response = api.http.get(
        "/api/v1/observe/policy-manifest/", params={"agent_name": "a", "workflow_name": ""}
    )
    assert response.status_code == 200
    assert response.json() == {
        "manifest_version": "1",
        "ttl_seconds": 60,
        "checkpoints": [],
        "surfaces": {},
        "policies": [],
    }
    assert api.read("policies/") == {"policies": []}


def test_config_endpoint(api: Any) -> None:
    response = api.http.get("/api/v1/observe/config/")
    assert response.status_code == 200
    # No --otel-endpoint: the server's own OTLP receiver (/v1/traces) is named, as the client reached it.
    assert response.json() == {
        "otel_endpoint": "http://testserver",
        "tenant_id": "local",
        "tenant_slug": "local",
        "batch_ingest": "runs/batch/",
        "batch_max_runs": 1000,
    }
