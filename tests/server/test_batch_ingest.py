"""``POST runs/batch/``: many runs per request, stored exactly as the per-run endpoints store them.

The reference for every check is the per-run protocol: the same runs are sent to a second,
empty store (``twin``, same database kind) through ``runs/start/``, ``llm-calls/``, ``steps/``,
``spans/``, ``scores/`` and ``complete/``, and both stores must read back the same through the
read API, the rollups and the governance counters. Every record carries its own times (and an
id or a position where the server would otherwise make up a random id), so both deliveries can
be compared value for value; costs are multiples of 1/64 so that rollup sums are exact in any
order.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from waxell_observe_server import create_app

from waxell_observe.config import db_url_from
from waxell_observe.pricing import estimate_cost
from waxell_observe.store import get_store

OBSERVE = "/api/v1/observe"
A = "/api/v1/admin"
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
C = 1 / 64  # a cost unit whose sums are exact


@pytest.fixture
def twin_url(store_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A second empty store of the same kind as ``store_url``."""
    if store_url.startswith("sqlite"):
        yield db_url_from(str(tmp_path / "twin.db"))
        return
    server = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield db_url_from(server.url(name))
    finally:
        get_store(db_url_from(server.url(name))).dispose()
        server.drop_database(name)


@pytest.fixture
def twin(api: Any, twin_url: str) -> Iterator[Any]:
    """The wire protocol and read API of a server over ``twin_url`` (the per-run reference)."""
    with TestClient(create_app(twin_url, key_cache_seconds=0), raise_server_exceptions=False) as client:
        yield type(api)(client)


def send_batch(api: Any, entries: list[Any], expect: int = 200) -> Any:
    response = api.http.post(f"{OBSERVE}/runs/batch/", json={"runs": entries})
    assert response.status_code == expect, (response.status_code, response.text)
    body = response.json()
    return body["runs"] if expect == 200 else body


def deliver_per_run(api: Any, entry: dict[str, Any]) -> dict[str, Any]:
    """Send one entry through the per-run endpoints, in the batch endpoint's order; the replies."""
    run_id = entry["run_id"]
    replies: dict[str, Any] = {}
    if entry.get("start") is not None:
        response = api.http.post(f"{OBSERVE}/runs/start/", json={**entry["start"], "run_id": run_id})
        assert response.status_code in (200, 201), response.text
        replies["start"] = (response.status_code, response.json())
    if entry.get("llm_calls") or entry.get("conversation_state") is not None:
        body = {"calls": entry.get("llm_calls") or []}
        if entry.get("conversation_state") is not None:
            body["conversation_state"] = entry["conversation_state"]
        replies["llm-calls"] = api.post(f"runs/{run_id}/llm-calls/", body)
    for kind, key in (("steps", "steps"), ("spans", "spans"), ("scores", "scores")):
        if entry.get(key):
            replies[kind] = api.post(f"runs/{run_id}/{kind}/", {key: entry[key]})
    if entry.get("complete") is not None:
        replies["complete"] = api.post(f"runs/{run_id}/complete/", entry["complete"])
    return replies


def read_everything(api: Any, run_ids: list[str]) -> dict[str, Any]:
    """What the read API answers about the runs and their aggregates."""
    wide = {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}
    return {
        "runs": {run_id: api.read(f"runs/{run_id}/") for run_id in run_ids},
        "listing": api.read("runs/", limit=500),
        "costs": api.read("costs/", **wide),
        "sessions": api.read("sessions/", limit=500),
        "users": api.read("users/", limit=500),
        "agents": api.read("agents/"),
        "audit": api.read("audit/", limit=500),
        "tagged": api.read("runs/", tag="team:search", limit=500),
    }


_ROLLUP_SUMS = {
    "rollup_runs": (("day", "agent_name", "status", "is_root"), ("runs", "tokens", "cost")),
    "rollup_calls": (
        ("day", "agent_name", "model", "provider"),
        ("calls", "tokens_in", "tokens_out", "cost"),
    ),
    "rollup_tags": (("tag_key", "tag_value", "day", "status", "is_root"), ("runs", "tokens", "cost")),
}


def stored_aggregates(url: str) -> dict[str, Any]:
    """The rollups (summed per key: PostgreSQL keeps logs of changes) and the governance counters
    (without the times they were counted at)."""
    found: dict[str, Any] = {}
    with get_store(url).read() as conn:
        for table, (keys, sums) in _ROLLUP_SUMS.items():
            columns = ", ".join(keys)
            totals = ", ".join(f"sum({c})" for c in sums)
            rows = conn.execute(
                text(f"SELECT {columns}, {totals} FROM {table} GROUP BY {columns} ORDER BY {columns}")
            )
            found[table] = [tuple(r) for r in rows if any(r[len(keys) :])]
        for table, order in (("run_tags", "run_id, tag_key"), ("rollup_sessions", "session_id"),
                             ("rollup_users", "user_id")):  # fmt: skip
            found[table] = [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))]
        found["gov_run_outcomes"] = [tuple(r) for r in conn.execute(text(
            "SELECT run_id, agent_name, workflow_name, user_group, error, tokens, cost FROM gov_run_outcomes "
            "ORDER BY run_id"))]  # fmt: skip
        found["gov_usage"] = [tuple(r) for r in conn.execute(text(
            "SELECT agent_name, workflow_name, user_group, model, sum(tokens), sum(cost) FROM gov_usage "
            "GROUP BY agent_name, workflow_name, user_group, model ORDER BY 1, 2, 3, 4"))]  # fmt: skip
        found["gov_outcome_buckets"] = [tuple(r) for r in conn.execute(text(
            "SELECT agent_name, workflow_name, user_group, sum(errors), sum(total) FROM gov_outcome_buckets "
            "GROUP BY agent_name, workflow_name, user_group ORDER BY 1, 2, 3"))]  # fmt: skip
    return found


def full_run(run_id: str, **start: Any) -> dict[str, Any]:
    """A run with every kind of record, behaviour steps, a policy span, records without a
    position, conversation state and a completion that sets everything it can."""
    return {
        "run_id": run_id,
        "start": {
            "agent_name": "researcher",
            "workflow_name": "deep",
            "inputs": {"q": "weather?"},
            "metadata": {"version": "2.1"},
            "session_id": "s-1",
            "user_id": "u-1",
            "user_group": "pro",
            "tags": {"team": "search", "n": 3},
            "started_at": T0,
            "trace_id": "ab" * 16,
            "pre_execution_evaluations": [
                {"policy_name": "p", "action": "allow", "metadata": {"admission_id": "adm-1"}}
            ],
            **start,
        },
        "llm_calls": [
            {
                "id": f"{run_id}-c1",
                "model": "gpt-4o",
                "tokens_in": 300,
                "tokens_out": 150,
                "cost": 3 * C,
                "task": "plan",
                "prompt_preview": "Plan",
                "response_preview": "Steps",
                "duration_ms": 350.0,
                "position": 1,
                "started_at": T0 + 1,
                "attributes": {"cached_tokens_in": 20, "finish": "stop"},
            },
            {
                "model": "claude-sonnet-4",
                "provider": "anthropic",
                "tokens_in": 2000,
                "tokens_out": 500,
                "cost": 5 * C,
                "status": "error",
                "error_type": "Timeout",
                "error_message": "slow",
                "position": 2,
                "started_at": T0 + 2,
                "parent_span_id": "span-root",
            },
        ],
        "steps": [
            {
                "step_name": "research",
                "output": {"sources": 5},
                "position": 1,
                "seq": 1,
                "started_at": T0 + 3,
            },
            {"step_name": "refine", "started_at": T0 + 4},  # no position: the next free one
            {
                "step_name": "tool:web_search",
                "id": f"{run_id}-t1",
                "seq": 4,
                "started_at": T0 + 5,
                "output": {
                    "_kind": "tool_call",
                    "input": {"query": "news"},
                    "output": {"results": [1, 2]},
                    "duration_ms": 250,
                    "tool_type": "api",
                },
            },
            {
                "step_name": "retrieval:pinecone",
                "id": f"{run_id}-r1",
                "started_at": T0 + 6,
                "output": {
                    "_kind": "retrieval",
                    "query": "billing?",
                    "documents": [{"id": "d1"}],
                    "top_k": 5,
                },
            },
            {
                "step_name": "io:user_message",
                "id": f"{run_id}-m1",
                "seq": 6,
                "started_at": T0 + 7,
                "output": {"_kind": "user_message", "preview": "What's the weather?", "length": 19},
            },
        ],
        "spans": [
            {
                "id": f"{run_id}-g1",
                "name": "budget-check",
                "kind": "governance",
                "position": 10,
                "start_offset_ms": 500,
                "duration_ms": 1.5,
                "attributes": {
                    "policy_name": "budget",
                    "action": "warn",
                    "category": "budget",
                    "phase": "mid_execution",
                    "reason": "80% used",
                },
            },
            {
                "name": "lookup",
                "kind": "retriever",
                "position": 11,
                "parent_position": 10,
                "started_at": T0 + 8,
                "status": "error",
                "events": [{"attributes": {"exception.message": "index down"}}],
            },
            {"id": f"{run_id}-x1", "name": "odd", "kind": "mystery", "started_at": T0 + 9},  # no position
        ],
        "scores": [
            {
                "id": f"{run_id}-q1",
                "name": "relevance",
                "numeric_value": 0.92,
                "comment": "good",
                "created_at": T0 + 10,
            },
            {
                "id": f"{run_id}-q2",
                "name": "hallucination",
                "data_type": "boolean",
                "string_value": "false",
                "created_at": T0 + 10,
            },
            {
                "id": f"{run_id}-q3",
                "name": "tone",
                "data_type": "categorical",
                "string_value": "formal",
                "created_at": T0 + 10,
            },
        ],
        "conversation_state": {"user_turns": 2, "message_count": 5, "metadata": {"from_conversation": 1}},
        "complete": {
            "status": "success",
            "result": "It is sunny.",
            "ended_at": T0 + 12.5,
            "tags": {"outcome": "ok"},
            "metadata": {"retrieval_count": 5},
            "trace_id": "cd" * 16,
            "conversation_state": {"user_turns": 3, "metadata": {"late": True}},
            "steps": [{"step_name": "final", "started_at": T0 + 11}],
        },
    }


def parity_runs() -> list[dict[str, Any]]:
    child = {
        "run_id": "child-1",
        "start": {
            "agent_name": "writer",
            "parent_workflow_id": "full-1",
            "started_at": T0 + 2,
            "user_id": "u-2",
        },
        "llm_calls": [
            {
                "id": "child-1-c1",
                "model": "gpt-4o-mini",
                "tokens_in": 10,
                "tokens_out": 5,
                "cost": C,
                "position": 1,
                "started_at": T0 + 2.5,
            }
        ],
        "complete": {
            "status": "error",
            "error": "boom",
            "error_type": "ValueError",
            "traceback": "Traceback...",
            "ended_at": T0 + 3,
        },
    }
    running = {
        "run_id": "running-1",
        "start": {
            "agent_name": "researcher",
            "workflow_name": "deep",
            "session_id": "s-1",
            "started_at": T0 + 20,
        },
        "llm_calls": [
            {
                "id": "running-1-c1",
                "model": "gpt-4o",
                "tokens_in": 7,
                "cost": 2 * C,
                "position": 1,
                "started_at": T0 + 21,
            }
        ],
        "steps": [{"step_name": "thinking", "position": 1, "started_at": T0 + 22}],
        "conversation_state": {"user_turns": 1},
    }
    return [full_run("full-1"), child, running, full_run("full-2", agent_name="support", session_id="s-2")]


def test_a_batch_reads_back_exactly_as_the_per_run_endpoints_store_it(api: Any, twin: Any, store_url: str,
                                                                       twin_url: str) -> None:  # fmt: skip
    entries = parity_runs()
    results = send_batch(api, entries)
    replies = [deliver_per_run(twin, entry) for entry in entries]
    assert [r["status"] for r in results] == [201, 201, 201, 201]
    assert [r["workflow_id"] for r in results] == ["full-1", "child-1", "running-1", "full-2"]
    for result, reply in zip(results, replies, strict=True):
        assert reply["start"][0] == 201
        assert "governance" not in result and "error" not in result
        if "complete" in reply:
            assert result["complete"] == reply["complete"]
        else:
            assert "complete" not in result
    assert results[0]["complete"] == {
        "run_id": "full-1",
        "duration": 12.5,
        "governance": {"action": "allow", "reason": "", "retry_feedback": "", "max_retries": 0},
    }
    run_ids = [e["run_id"] for e in entries]
    batched, per_run = read_everything(api, run_ids), read_everything(twin, run_ids)
    assert batched == per_run
    assert stored_aggregates(store_url) == stored_aggregates(twin_url)
    # and what was stored is what the entry says (not only the same on both sides)
    full = batched["runs"]["full-1"]
    assert (full["status"], full["tokens_in"], full["tokens_out"], full["total_cost"]) == (
        "success",
        2300,
        650,
        8 * C,
    )
    assert (full["llm_call_count"], full["step_count"], full["span_count"]) == (2, 3, 6)
    assert [s["name"] for s in full["steps"]] == ["research", "refine", "final"]
    assert [(s["name"], s["position"]) for s in full["steps"]] == [
        ("research", 1),
        ("refine", 2),
        ("final", 3),
    ]
    assert sorted((s["kind"], s["name"], s["position"]) for s in full["spans"]) == [
        ("custom", "odd", 12), ("io", "user_message", 6), ("policy", "budget-check", 10),
        ("retrieval", "lookup", 11), ("retrieval", "pinecone", 1), ("tool", "web_search", 4),
    ]  # fmt: skip
    assert full["conversation"] == {"user_turns": 3}
    assert full["metadata"] == {"version": "2.1", "from_conversation": 1, "retrieval_count": 5}
    assert full["tags"] == {"team": "search", "n": "3", "outcome": "ok"}
    assert full["result"] == {"output": "It is sunny."}
    assert full["trace_id"] == "cd" * 16
    assert [e["policy_name"] for e in batched["audit"]["events"]] == ["budget", "budget"]
    assert batched["runs"]["running-1"]["status"] == "running"
    assert batched["listing"]["total"] == 4
    counters = stored_aggregates(store_url)
    assert counters["gov_run_outcomes"] == [
        ("child-1", "writer", "default", "", True, 15, C),
        ("full-1", "researcher", "deep", "pro", False, 2950, 8 * C),
        ("full-2", "support", "deep", "pro", False, 2950, 8 * C),
    ]  # fmt: skip
    assert counters["gov_outcome_buckets"] == [
        ("researcher", "deep", "pro", 0, 1),
        ("support", "deep", "pro", 0, 1),
        ("writer", "default", "", 1, 1),
    ]


def test_mixed_entries_get_their_own_status_and_only_valid_ones_are_stored(api: Any) -> None:
    valid = {
        "run_id": "ok-1",
        "start": {"agent_name": "a", "started_at": T0},
        "llm_calls": [
            {
                "id": "ok-1-c",
                "model": "gpt-4o",
                "tokens_in": 4,
                "tokens_out": 2,
                "cost": C,
                "position": 1,
                "started_at": T0,
            }
        ],
        "scores": [{"id": "ok-1-s", "name": "q", "numeric_value": 1.0, "created_at": T0}],
        "complete": {"status": "success", "ended_at": T0 + 2},
    }
    invalid = {"run_id": "bad-1", "start": {"agent_name": "a"}, "llm_calls": [{"tokens_in": 3}]}
    unknown = {"run_id": "ghost-1", "llm_calls": [{"model": "gpt-4o", "position": 1}], "complete": {}}
    results = send_batch(
        api,
        [
            valid,
            invalid,
            unknown,
            {"run_id": "not ok!"},
            7,
            {"run_id": "ok-1", "start": {"agent_name": "a", "run_id": "other"}},
        ],
    )
    assert results == [
        {
            "run_id": "ok-1",
            "status": 201,
            "workflow_id": "ok-1",
            "complete": {
                "run_id": "ok-1",
                "duration": 2.0,
                "governance": {"action": "allow", "reason": "", "retry_feedback": "", "max_retries": 0},
            },
        },
        {"run_id": "bad-1", "status": 422, "error": "llm_calls.0.model: Field required"},
        {
            "run_id": "ghost-1",
            "status": 404,
            "error": "unknown run 'ghost-1': send its start (in this batch, or with POST runs/start/) first",
        },
        {
            "run_id": "not ok!",
            "status": 422,
            "error": "run_id: String should match pattern '^[A-Za-z0-9._~-]{1,64}$'",
        },
        {
            "run_id": None,
            "status": 422,
            "error": "entry: Input should be a valid dictionary or instance of BatchRunIn",
        },
        {
            "run_id": "ok-1",
            "status": 422,
            "error": "entry: Value error, start.run_id 'other' differs from the "
            "entry's run_id 'ok-1' (omit it or repeat it)",
        },
    ]
    run = api.run("ok-1")
    assert (run["status"], run["llm_call_count"], run["tokens_in"], run["total_cost"]) == ("success", 1, 4, C)
    assert [(s["name"], s["value"]) for s in run["scores"]] == [("q", 1.0)]
    api.read("runs/bad-1/", expect=404)
    api.read("runs/ghost-1/", expect=404)
    assert api.read("runs/")["total"] == 1


def test_a_body_that_is_not_a_list_of_runs_is_refused_whole(api: Any, client: Any) -> None:
    def post(content: bytes, content_type: str = "application/json") -> Any:
        return client.post(f"{OBSERVE}/runs/batch/", content=content, headers={"content-type": content_type})

    for body, message in (
        (b'{"runs": {}}', "runs: expected a list of runs"),
        (b"{}", "runs: Field required"),
        (b"[1, 2]", 'body: expected an object {"runs": [...]}'),
        (b'{"runs": [', "body: invalid JSON (JSON decode error: Expecting value)"),
    ):
        response = post(body)
        assert (response.status_code, response.json()["message"]) == (422, message)
    plain = post(b'{"runs": [{"run_id": "p", "start": {"agent_name": "a"}}]}', "text/plain")
    assert plain.status_code == 422
    assert post(b"\xff\xfe\x00").status_code == 400
    assert api.read("runs/")["total"] == 0


def identified(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``entries`` with a position on the steps that have neither an id nor a position (those are
    stored again when delivered twice, by any endpoint: nothing tells them apart)."""
    entries = copy.deepcopy(entries)
    for entry in entries:
        for steps in (entry.get("steps") or [], (entry.get("complete") or {}).get("steps") or []):
            for step in steps:
                if "id" not in step and "position" not in step:
                    step["position"] = 100 + len(step["step_name"])
    return entries


def test_the_same_batch_twice_stores_every_record_once(api: Any, store_url: str) -> None:
    entries = identified(parity_runs())
    first = send_batch(api, entries)
    once = read_everything(api, [e["run_id"] for e in entries])
    counted = stored_aggregates(store_url)
    again = send_batch(api, copy.deepcopy(entries))
    assert [r["status"] for r in first] == [201, 201, 201, 201]
    assert [r["status"] for r in again] == [200, 200, 200, 200]
    assert [r.get("complete") for r in again] == [r.get("complete") for r in first]
    assert read_everything(api, [e["run_id"] for e in entries]) == once
    assert stored_aggregates(store_url) == counted
    full = once["runs"]["full-1"]
    assert (full["llm_call_count"], full["step_count"], full["span_count"], len(full["scores"])) == (
        2,
        3,
        6,
        3,
    )
    assert once["audit"]["total"] == 2  # the two policy spans, audited once each
    assert len(counted["gov_run_outcomes"]) == 3  # completed runs counted once


def test_records_of_runs_started_in_an_earlier_batch(api: Any) -> None:
    send_batch(api, [
        {"run_id": "a-1", "start": {"agent_name": "a", "started_at": T0}},
        {"run_id": "b-1", "start": {"agent_name": "b", "started_at": T0},
         "llm_calls": [{"id": "b-1-c1", "model": "gpt-4o", "tokens_in": 10, "cost": C, "position": 1,
                        "started_at": T0}]},
    ])  # fmt: skip
    assert api.run("a-1")["status"] == "running"
    results = send_batch(
        api,
        [
            {
                "run_id": "a-1",
                "steps": [{"step_name": "s", "started_at": T0 + 1}],
                "llm_calls": [
                    {"id": "a-1-c1", "model": "gpt-4o", "tokens_in": 5, "cost": 2 * C, "started_at": T0 + 1}
                ],
                "complete": {"status": "success", "ended_at": T0 + 4},
            },
            {
                "run_id": "b-1",
                "llm_calls": [
                    {"id": "b-1-c2", "model": "gpt-4o", "tokens_in": 1, "cost": C, "started_at": T0 + 1}
                ],
            },
            {"run_id": "b-1", "complete": {"status": "interrupted", "ended_at": T0 + 5}},
        ],
    )
    assert [(r["status"], r["workflow_id"]) for r in results] == [(200, "a-1"), (200, "b-1"), (200, "b-1")]
    assert [r["complete"]["duration"] for r in (results[0], results[2])] == [4.0, 5.0]
    a, b = api.run("a-1"), api.run("b-1")
    assert (a["status"], a["tokens_in"], a["total_cost"], a["step_count"]) == ("success", 5, 2 * C, 1)
    assert [(s["name"], s["position"]) for s in a["steps"]] == [("s", 1)]
    assert (b["status"], b["tokens_in"], b["total_cost"], b["llm_call_count"]) == (
        "interrupted",
        11,
        2 * C,
        2,
    )
    assert [(c["id"], c["position"]) for c in b["llm_calls"]] == [("b-1-c1", 1), ("b-1-c2", 2)]


def test_a_start_taken_by_another_agent_makes_a_new_run(api: Any) -> None:
    api.start(run_id="taken", agent_name="first", started_at=T0)
    results = send_batch(
        api,
        [
            {
                "run_id": "taken",
                "start": {"agent_name": "second", "started_at": T0},
                "llm_calls": [{"model": "gpt-4o", "tokens_in": 3, "position": 1}],
            }
        ],
    )
    new_id = results[0]["workflow_id"]
    assert (results[0]["status"], len(new_id)) == (201, 32)
    assert (api.run("taken")["llm_call_count"], api.run(new_id)["llm_call_count"]) == (0, 1)
    assert api.run(new_id)["agent_name"] == "second"


def test_costs_are_estimated_and_sparse_records_accepted(api: Any) -> None:
    send_batch(api, [{"run_id": "e-1", "start": {"agent_name": "a"}, "llm_calls": [
        {"model": "gpt-4o", "tokens_in": 1000, "tokens_out": 100}], "steps": [{}],
        "scores": [{"name": "n", "numeric_value": 2}], "spans": [{"name": "bare"}]}])  # fmt: skip
    run = api.run("e-1")
    assert run["llm_calls"][0]["cost"] == estimate_cost("gpt-4o", 1000, 100)
    assert (run["llm_calls"][0]["provider"], run["llm_calls"][0]["position"]) == ("openai", 1)
    assert [(s["name"], s["position"]) for s in run["steps"]] == [("", 1)]
    assert [(s["name"], s["kind"], s["position"]) for s in run["spans"]] == [("bare", "custom", 1)]


def test_config_advertises_the_batch_endpoint_and_its_limits(api: Any, client: Any, store_url: str) -> None:
    config = client.get(f"{OBSERVE}/config/").json()
    assert {k: config[k] for k in ("batch_ingest", "batch_max_runs")} == {"batch_ingest": "runs/batch/",
                                                                          "batch_max_runs": 1000}  # fmt: skip
    too_many = send_batch(api, [{"run_id": f"r{i}"} for i in range(1001)], expect=413)
    assert too_many == {
        "detail": "too many runs in one batch: 1001, the limit is 1000 (send smaller batches)"
    }
    assert len(send_batch(api, [{"run_id": f"r{i}"} for i in range(1000)])) == 1000  # all 404, none refused
    with TestClient(create_app(store_url, max_body_bytes=2000), raise_server_exceptions=False) as small:
        entries = [{"run_id": f"r{i}", "start": {"agent_name": "a"}} for i in range(100)]
        big = small.post(f"{OBSERVE}/runs/batch/", json={"runs": entries})
        assert (big.status_code, big.json()) == (
            413,
            {"detail": "request body too large: the limit is 2000 bytes"},
        )
    assert api.read("runs/")["total"] == 0
    schema = client.get("/openapi.json").json()
    body = schema["paths"][f"{OBSERVE}/runs/batch/"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    refs = {ref.rsplit("/", 1)[1] for ref in _refs(body)}
    assert refs == {"RunStartBody", "LLMCallIn", "StepIn", "SpanIn", "ScoreIn", "CompleteBody"}
    assert refs <= set(schema["components"]["schemas"])


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "$ref":
                yield inner
            else:
                yield from _refs(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _refs(inner)


# -- governance ----------------------------------------------------------------------------------------

POLICIES = [
    {
        "name": "models",
        "category": "llm",
        "scope": {"agents": ["gov-*"]},
        "rules": {"allowed_models": ["gpt-4o-mini"]},
    },
    {
        "name": "cite",
        "category": "quality",
        "scope": {"agents": ["gov-*"]},
        "rules": {
            "template_checks": [{"type": "contains", "value": "[1]"}],
            "retry_config": {"max_retries": 2},
        },
    },
]


def _timeless(value: Any) -> Any:
    """``value`` without the times governance takes from the clock (evaluation durations, the
    start of post-execution policy spans, the audit times)."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k not in ("duration_ms", "ts")
                and not (k == "started_at" and value.get("kind") == "policy")}  # fmt: skip
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def test_governance_verdicts_are_those_of_the_per_run_endpoints(api: Any, twin: Any, store_url: str,
                                                                 twin_url: str) -> None:  # fmt: skip
    for side in (api, twin):
        assert side.http.post(f"{A}/policies/", json={"policies": POLICIES}).status_code == 200
    entries = [
        {
            "run_id": "g-1",
            "start": {"agent_name": "gov-a", "started_at": T0},
            "llm_calls": [
                {"id": "g-1-c", "model": "gpt-4o", "tokens_in": 5, "cost": C, "position": 1, "started_at": T0}
            ],
            "steps": [{"step_name": "s", "position": 1, "started_at": T0}],
            "complete": {"status": "success", "result": {"answer": "Paris"}, "ended_at": T0 + 1},
        },
        {
            "run_id": "g-2",
            "start": {"agent_name": "gov-b", "started_at": T0},
            "llm_calls": [
                {
                    "id": "g-2-c",
                    "model": "gpt-4o-mini",
                    "tokens_in": 5,
                    "cost": C,
                    "position": 1,
                    "started_at": T0,
                }
            ],
            "complete": {"status": "success", "result": {"answer": "Paris [1]"}, "ended_at": T0 + 2},
        },
        {
            "run_id": "free-1",
            "start": {"agent_name": "free", "started_at": T0},
            "llm_calls": [
                {"id": "f-1-c", "model": "gpt-4o", "tokens_in": 5, "cost": C, "position": 1, "started_at": T0}
            ],
            "complete": {"status": "success", "result": {"answer": "Paris"}, "ended_at": T0 + 3},
        },
    ]
    results = send_batch(api, entries)
    replies = [deliver_per_run(twin, entry) for entry in entries]
    blocked = "Model 'gpt-4o' is not allowed (allowed: gpt-4o-mini)"
    assert [
        (r["status"], r.get("governance", {}).get("action"), r["complete"]["governance"]["action"])
        for r in results
    ] == [(201, "block", "retry"), (201, None, "allow"), (201, None, "allow")]
    assert results[0]["governance"]["reason"] == blocked
    assert _timeless(results[0]["governance"]) == _timeless(replies[0]["steps"]["governance"])
    assert _timeless(replies[0]["llm-calls"]["governance"]) == _timeless(replies[0]["steps"]["governance"])
    assert "governance" not in replies[1]["llm-calls"] and "governance" not in replies[2]["llm-calls"]
    for result, reply in zip(results, replies, strict=True):
        assert _timeless(result["complete"]) == _timeless(reply["complete"])
    assert results[0]["complete"]["governance"]["max_retries"] == 2
    run_ids = [e["run_id"] for e in entries]
    assert _timeless(read_everything(api, run_ids)) == _timeless(read_everything(twin, run_ids))
    assert stored_aggregates(store_url) == stored_aggregates(twin_url)
    stored = api.run("g-1")
    assert stored["governance"]["action"] == "retry"
    assert [s["name"] for s in stored["spans"] if s["kind"] == "policy"] == ["cite"]


def test_completions_free_concurrency_slots_when_a_policy_limits_them(api: Any) -> None:
    policy = {"name": "one", "category": "rate-limit", "rules": {"max_concurrent": 1}}
    assert api.http.post(f"{A}/policies/", json={"policies": [policy]}).status_code == 200
    assert api.post("policy-check/", {"agent_name": "a", "run_id": "run-1"})["action"] == "allow"
    assert api.post("policy-check/", {"agent_name": "a", "run_id": "run-2"})["action"] == "throttle"
    results = send_batch(
        api, [{"run_id": "run-1", "start": {"agent_name": "a"}, "complete": {"status": "success"}}]
    )
    assert (results[0]["status"], results[0]["complete"]["governance"]["action"]) == (201, "allow")
    assert api.post("policy-check/", {"agent_name": "a", "run_id": "run-2"})["action"] == "allow"


# -- failures ------------------------------------------------------------------------------------------


def test_a_run_the_database_refuses_loses_no_other_run(api: Any, store_url: str) -> None:
    store = get_store(store_url)
    with store.write() as conn:
        if store.dialect == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    "IF NEW.name = 'explode' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; "
                    "END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text("CREATE TRIGGER refuse BEFORE INSERT ON spans FOR EACH ROW EXECUTE FUNCTION refuse()")
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON spans WHEN NEW.name = 'explode' "
                    "BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )

    def entry(run_id: str, span: str) -> dict[str, Any]:
        return {"run_id": run_id, "start": {"agent_name": "a", "started_at": T0},
                "spans": [{"id": f"{run_id}-s", "name": span, "position": 1}],
                "complete": {"status": "success", "ended_at": T0 + 1}}  # fmt: skip

    results = send_batch(api, [entry("ok-1", "fine"), entry("bad-1", "explode"), entry("ok-2", "fine")])
    assert [(r["run_id"], r["status"]) for r in results] == [("ok-1", 201), ("bad-1", 500), ("ok-2", 201)]
    assert results[1]["error"].startswith("the database refused this run: ")
    assert "refused" in results[1]["error"]
    assert [api.run(r)["span_count"] for r in ("ok-1", "ok-2")] == [1, 1]
    api.read("runs/bad-1/", expect=404)
    with store.read() as conn:
        assert conn.execute(text("SELECT run_id FROM gov_run_outcomes ORDER BY run_id")).scalars().all() == [
            "ok-1", "ok-2"]  # fmt: skip


def test_a_total_beyond_the_integer_column_is_refused_never_wrapped(api: Any, store_url: str) -> None:
    # Each call's tokens fit (at most 2**31 - 1), their sum does not fit PostgreSQL's integer
    # column: the database refuses that run (on SQLite, whose integers are 64-bit, it is stored).
    # Rows reach PostgreSQL by a binary COPY, where a too-large integer must not wrap around.
    most = 2**31 - 1

    def entry(run_id: str, tokens: int) -> dict[str, Any]:
        calls = [{"id": f"{run_id}-c{i}", "model": "gpt-4o", "tokens_in": tokens, "tokens_out": 1, "cost": C,
                  "position": i, "started_at": T0} for i in (1, 2)]  # fmt: skip
        return {"run_id": run_id, "start": {"agent_name": "a", "started_at": T0}, "llm_calls": calls,
                "complete": {"status": "success", "ended_at": T0 + 1}}  # fmt: skip

    results = send_batch(api, [entry("ok-1", 7), entry("big-1", most), entry("ok-2", 5)])
    assert [api.run(r)["tokens_in"] for r in ("ok-1", "ok-2")] == [14, 10]
    if get_store(store_url).dialect == "postgresql":
        assert [(r["run_id"], r["status"]) for r in results] == [("ok-1", 201), ("big-1", 500), ("ok-2", 201)]
        assert "out of range" in results[1]["error"]
        api.read("runs/big-1/", expect=404)
    else:
        assert [r["status"] for r in results] == [201, 201, 201]
        assert api.run("big-1")["tokens_in"] == 2 * most


def test_generated_batches_never_get_a_5xx(api: Any, client: Any) -> None:
    rng = random.Random(20250101)
    template = full_run("fuzz-0")
    statuses: dict[int, int] = {}
    for i in range(60):
        entries = []
        for n in range(rng.randint(1, 5)):
            entry: Any = copy.deepcopy(template)
            entry["run_id"] = f"fuzz-{i}-{n}" if rng.random() < 0.9 else rng.choice(["", "a" * 80, "x y", 5])
            for _ in range(rng.randint(0, 3)):
                entry = _mutate(rng, entry)
            entries.append(entry)
        response = client.post(
            f"{OBSERVE}/runs/batch/",
            content=json.dumps({"runs": entries}, allow_nan=True).encode(),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 200, (i, response.text)
        results = response.json()["runs"]
        assert len(results) == len(entries)
        for result in results:
            statuses[result["status"]] = statuses.get(result["status"], 0) + 1
    assert statuses.get(201, 0) > 20 and statuses.get(422, 0) > 20
    assert set(statuses) <= {200, 201, 404, 422}
    for run in api.read("runs/", limit=500)["runs"]:
        api.read(f"runs/{run['run_id']}/")


_ODD = [None, True, -1, 2**31, 2**70, 1e308, float("nan"), float("inf"), "", "\x00a", "\ud800", "z" * 600,
        "2023-01-01T00:00:00Z", "9999-12-31", [], {}, [1, "a"], {"k": {"n": [None]}}]  # fmt: skip


def _mutate(rng: random.Random, value: Any) -> Any:
    """A copy of ``value`` with one random change somewhere inside."""
    if isinstance(value, dict) and value and rng.random() < 0.75:
        key = rng.choice(list(value))
        changed = dict(value)
        roll = rng.randrange(3)
        if roll == 0:
            del changed[key]
        elif roll == 1:
            changed[key] = rng.choice(_ODD)
        else:
            changed[key] = _mutate(rng, value[key])
        return changed
    if isinstance(value, list) and value and rng.random() < 0.75:
        changed_list = list(value)
        index = rng.randrange(len(changed_list))
        changed_list[index] = _mutate(rng, changed_list[index])
        return changed_list
    return rng.choice(_ODD)
