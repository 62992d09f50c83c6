"""Issue 12: memory and actions against our real server (``waxell-observe serve`` on 127.0.0.1, over
SQLite and PostgreSQL): what a run records is read back through the read API, what
``remember_episodic`` / ``remember_semantic`` keep goes through the memory endpoints, and the
client's memory methods (coroutines and ``_sync`` twins) answer the stored memory."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient

EMBEDDING = [0.125] * 1536


def _agent(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _read(server: Any, path: str, **params: Any) -> dict[str, Any]:
    reply = httpx.get(f"{server.url}/api/v1/read/{path}", params=params, timeout=10)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_memory_and_actions_of_a_run_reach_the_server(shared_server: Any) -> None:
    WaxellObserveClient.configure(api_url=shared_server.url, api_key="")
    agent = _agent("i12-remote-mem")
    with WaxellContext(agent_name=agent, enforce_policy=False, session_id="sess-9") as ctx:
        ctx.set_memory_state(memory_item_count=2, cross_session_loaded=True)
        waxell_observe.remember_episodic("prefs", {"drink": "tea"}, max_items=3)
        waxell_observe.remember_semantic(
            "facts", "user is vegan", fact_key="diet", content_embedding=EMBEDDING
        )
        waxell_observe.recall("drinks", results=[{"drink": "tea"}], top_score=0.9, store="server")
        ctx.record_code_execution(language="python", code="print(2)", execution_time=0.5, output="2")
        ctx.record_network_request(url="https://api.example.com/items")
        ctx.record_pending_action(kind="tool_call", tool="search", args={"q": "tea"})
        ctx.record_delegation(delegate="helper", depth=1)
    report = waxell_observe.flush_sync(timeout=30)
    assert report.pending == 0, report
    run = shared_server.read_run(ctx.run_id)

    spans = {s["name"]: s for s in run["spans"]}
    assert (spans["memory.write:prefs"]["kind"], spans["memory.write:prefs"]["attributes"]) == (
        "memory",
        {"operation": "write", "tier": "episodic", "slot_name": "prefs", "scope_key": f"{agent}:sess-9"},
    )
    assert spans["memory.read:drinks"]["attributes"] == {
        "operation": "read",
        "tier": "episodic",
        "store": "server",
        "hit": True,
        "recall_results_count": 1,
        "recall_top_score": 0.9,
    }
    code = spans["code_exec:python"]
    assert (code["kind"], code["duration_ms"], code["attributes"]["tool_type"]) == (
        "tool",
        500.0,
        "code_execution",
    )
    assert [s["name"] for s in run["steps"]] == ["code_exec:python", "delegate:helper"]
    conversation = run["conversation"]
    assert conversation["network_requests"] == ["https://api.example.com/items"]
    assert conversation["pending_actions"] == [{"kind": "tool_call", "tool": "search", "args": {"q": "tea"}}]
    assert conversation["delegation_data"]["delegations"] == [
        {"delegate": "helper", "depth": 1, "approved": True, "policies_inherited": True}
    ]
    assert conversation["code_executions"][0]["code"] == "print(2)"

    memory = _read(shared_server, f"runs/{ctx.run_id}/memory/")
    assert memory["agent_name"] == agent
    assert memory["state"] == {"cross_session_loaded": True, "memory_item_count": 2}
    assert [(w["memory_type"], w["slot_name"]) for w in memory["writes"]] == [
        ("episodic", "prefs"),
        ("semantic", "facts"),
    ]
    assert [(r["query"], r["hit"], r["results"]) for r in memory["recalls"]] == [
        ("drinks", True, [{"drink": "tea"}])
    ]
    assert memory["summary"] == {
        "read_count": 1,
        "write_count": 2,
        "hit_count": 1,
        "hit_rate": 1.0,
        "stores": ["server"],
        "tiers": ["episodic", "semantic"],
    }
    assert [
        (m["tier"], m["slot_name"], m["data"], m["content"], m["max_items"]) for m in memory["stored"]
    ] == [
        ("episodic", "prefs", {"drink": "tea"}, "", 3),
        ("semantic", "facts", None, "user is vegan", None),
    ]
    listed = _read(shared_server, f"agents/{agent}/memories/")
    assert listed["total"] == 2
    assert {m["agent_name"] for m in listed["memories"]} == {agent}


def test_client_memory_methods_against_the_server(shared_server: Any) -> None:
    client = WaxellObserveClient(api_url=shared_server.url, api_key="")
    run_id = uuid.uuid4().hex
    episodic = client.write_episodic_memory_sync(
        run_id=run_id, slot_name="prefs", scope_key="scope-1", data=[1, 2], ttl_seconds=60
    )
    assert (episodic["run_id"], episodic["memory_type"], episodic["data"], episodic["ttl_seconds"]) == (
        run_id,
        "list",
        [1, 2],
        60,
    )

    async def write_fact() -> dict[str, Any]:
        return await client.write_semantic_fact(
            run_id=run_id,
            slot_name="facts",
            scope_key="scope-1",
            content="the sky is blue",
            content_embedding=EMBEDDING,
            importance=0.4,
            tags=["colour"],
            fact_key="sky",
            source_tool="eyes",
            metadata={"seen": "today"},
        )

    fact = asyncio.run(write_fact())
    assert (
        fact["content"],
        fact["importance"],
        fact["tags"],
        fact["fact_key"],
        fact["source_tool"],
        fact["metadata"],
    ) == (
        "the sky is blue",
        0.4,
        ["colour"],
        "sky",
        "eyes",
        {"seen": "today"},
    )
    refused = client.write_semantic_fact_sync(
        run_id=run_id, slot_name="facts", scope_key="scope-1", content="x", content_embedding=[0.1]
    )
    assert refused == {}  # 422: the client answers an empty value and logs
    memory = _read(shared_server, f"runs/{run_id}/memory/")
    assert [(m["tier"], m["slot_name"]) for m in memory["stored"]] == [
        ("episodic", "prefs"),
        ("semantic", "facts"),
    ]
    with pytest.raises(TypeError):
        client.write_episodic_memory_sync(run_id, "prefs", "scope-1", 1)  # type: ignore[misc]
