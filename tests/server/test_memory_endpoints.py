"""Issue 12: the memory endpoints (reference §4, under ``/api/v1/observability/``) and the memory read
API, on SQLite and on PostgreSQL: exact bodies, slots, expiry, fact replacement, errors."""

from __future__ import annotations

import time
from typing import Any

from conftest import Api

MEMORY = "/api/v1/observability/runs"
EMBEDDING = [0.5] * 1536


def _episodic(client: Any, run_id: str, expect: int = 201, **body: Any) -> dict[str, Any]:
    body = {"slot_name": "prefs", "scope_key": "agent:s1", "memory_type": "dict", "data": {"a": 1}, **body}
    reply = client.post(f"{MEMORY}/{run_id}/memory/episodic/", json=body)
    assert reply.status_code == expect, reply.text
    return dict(reply.json())


def _semantic(client: Any, run_id: str, expect: int = 201, **body: Any) -> dict[str, Any]:
    body = {
        "slot_name": "facts",
        "scope_key": "agent:s1",
        "content": "sky is blue",
        "content_embedding": EMBEDDING,
        "importance": 0.7,
        "tags": [],
        "source_tool": "",
        **body,
    }
    reply = client.post(f"{MEMORY}/{run_id}/memory/semantic/", json=body)
    assert reply.status_code == expect, reply.text
    return dict(reply.json())


def test_an_episodic_memory_is_stored_under_the_run_and_its_agent(client: Any, api: Api) -> None:
    run_id = api.start(agent_name="mem-agent")["run_id"]
    before = time.time()
    stored = _episodic(client, run_id, data={"drink": "tea"}, ttl_seconds=3600, max_items=10)
    assert {
        k: v for k, v in stored.items() if k not in ("memory_id", "created_at", "updated_at", "expires_at")
    } == {
        "run_id": run_id,
        "agent_name": "mem-agent",
        "tier": "episodic",
        "scope_key": "agent:s1",
        "slot_name": "prefs",
        "memory_type": "dict",
        "data": {"drink": "tea"},
        "content": "",
        "has_embedding": False,
        "importance": None,
        "tags": [],
        "fact_key": "",
        "source_tool": "",
        "metadata": {},
        "ttl_seconds": 3600,
        "max_items": 10,
    }
    assert len(stored["memory_id"]) == 32
    assert stored["created_at"] == stored["updated_at"]
    from datetime import datetime

    created = datetime.fromisoformat(stored["created_at"]).timestamp()
    expires = datetime.fromisoformat(stored["expires_at"]).timestamp()
    assert before - 1 <= created <= time.time() + 1
    assert abs(expires - created - 3600) < 1e-3
    listed = api.read("agents/mem-agent/memories/")
    assert (listed["total"], [m["memory_id"] for m in listed["memories"]]) == (1, [stored["memory_id"]])


def test_memory_type_defaults_by_the_data_and_the_run_may_come_later(client: Any, api: Api) -> None:
    kinds = [
        _episodic(client, "not-started-yet", data=data, memory_type=None)["memory_type"]
        for data in ({"a": 1}, [1, 2], "text", 3, None)
    ]
    assert kinds == ["dict", "list", "value", "value", "value"]
    assert _episodic(client, "not-started-yet")["agent_name"] == ""
    api.start(agent_name="late-agent", run_id="not-started-yet")
    listed = api.read("agents/late-agent/memories/")  # found through the run that wrote them
    assert listed["total"] == 6


def test_max_items_and_expiry_shape_the_slot(client: Any, api: Api) -> None:
    run_id = api.start(agent_name="slot-agent")["run_id"]
    for i in range(4):
        _episodic(client, run_id, slot_name="recent", data=i, max_items=2)
    _episodic(client, run_id, slot_name="recent", scope_key="other", data="kept")
    listed = api.read("agents/slot-agent/memories/", slot_name="recent", scope_key="agent:s1")
    assert [m["data"] for m in listed["memories"]] == [3, 2]
    from waxell_observe.store.memory import memories

    # an item that expired is not listed (unless asked for), and goes with the slot's next write
    store = client.app.state.store
    with store.write() as conn:
        conn.execute(
            memories.update().where(memories.c.scope_key == "other").values(expires_at=time.time() - 1)
        )
    assert api.read("agents/slot-agent/memories/", scope_key="other")["total"] == 0
    assert api.read("agents/slot-agent/memories/", scope_key="other", include_expired="true")["total"] == 1
    _episodic(client, run_id, slot_name="recent", scope_key="other", data="new")
    assert [
        m["data"]
        for m in api.read("agents/slot-agent/memories/", scope_key="other", include_expired="true")[
            "memories"
        ]
    ] == ["new"]


def test_a_semantic_fact_and_its_replacement_by_fact_key(client: Any, api: Api) -> None:
    run_id = api.start(agent_name="fact-agent")["run_id"]
    first = _semantic(
        client,
        run_id,
        content="user is vegetarian",
        fact_key="diet",
        importance=0.9,
        tags=["diet", "profile"],
        source_tool="crm",
        metadata={"confidence": "high"},
    )
    second = _semantic(client, run_id, content="user is vegan", fact_key="diet")
    other = _semantic(client, run_id, content="lives in Paris")
    assert second["memory_id"] == first["memory_id"]
    assert second["created_at"] == first["created_at"]
    listed = api.read("agents/fact-agent/memories/", tier="semantic")
    assert [
        (m["content"], m["fact_key"], m["importance"], m["tags"], m["source_tool"], m["metadata"])
        for m in listed["memories"]
    ] == [
        ("lives in Paris", "", 0.7, [], "", {}),
        ("user is vegan", "diet", 0.7, [], "", {}),
    ]
    assert {m["memory_id"] for m in listed["memories"]} == {first["memory_id"], other["memory_id"]}
    assert all(m["has_embedding"] and m["memory_type"] == "fact" for m in listed["memories"])


def test_bad_bodies_are_refused_with_the_field_named(client: Any, api: Api) -> None:
    run_id = api.start(agent_name="bad-mem")["run_id"]
    assert "1536" in _semantic(client, run_id, 422, content_embedding=[0.1] * 3)["detail"]
    assert _semantic(client, run_id, 422, content_embedding=["x"] * 1536)["detail"]
    refused = _semantic(client, run_id, 422, content="")
    assert "content" in str(refused["detail"])
    assert "ttl_seconds" in str(_episodic(client, run_id, 422, ttl_seconds=0)["detail"])
    assert "slot_name" in str(_episodic(client, run_id, 422, slot_name="")["detail"])
    reply = client.post(
        f"{MEMORY}/{'x' * 80}/memory/episodic/", json={"slot_name": "s", "scope_key": "k", "data": 1}
    )
    assert reply.status_code == 404
    assert api.read("agents/bad-mem/memories/")["total"] == 0


def test_a_runs_memory_through_the_read_api(client: Any, api: Api) -> None:
    run_id = api.start(agent_name="run-mem")["run_id"]
    _episodic(client, run_id, data={"x": 1})
    memory_state = {
        "cross_session_loaded": True,
        "memory_item_count": 4,
        "memory_writes": [{"memory_type": "episodic", "content": "x", "slot_name": "prefs"}],
        "memory_recalls": [
            {
                "tier": "episodic",
                "store": "",
                "query": "q",
                "hit": False,
                "results_count": 0,
                "top_score": None,
            }
        ],
        "snapshot": {
            "reads": [],
            "writes": [],
            "summary": {"read_count": 1, "write_count": 1, "hit_count": 0},
        },
    }
    api.post(
        f"runs/{run_id}/complete/",
        {"status": "success", "conversation_state": {"user_turns": 1, "memory_state": memory_state}},
    )
    memory = api.read(f"runs/{run_id}/memory/")
    assert {k: memory[k] for k in ("run_id", "agent_name", "state", "writes", "recalls", "summary")} == {
        "run_id": run_id,
        "agent_name": "run-mem",
        "state": {"cross_session_loaded": True, "memory_item_count": 4},
        "writes": memory_state["memory_writes"],
        "recalls": memory_state["memory_recalls"],
        "summary": {"read_count": 1, "write_count": 1, "hit_count": 0},
    }
    assert [(m["slot_name"], m["data"]) for m in memory["stored"]] == [("prefs", {"x": 1})]
    api.read("runs/no-such-run/memory/", expect=404)
    quiet = api.start(agent_name="run-mem")["run_id"]
    assert api.read(f"runs/{quiet}/memory/") == {
        "run_id": quiet,
        "agent_name": "run-mem",
        "state": {},
        "writes": [],
        "recalls": [],
        "summary": {},
        "stored": [],
    }


def test_the_memory_endpoints_need_a_key_when_the_server_asks_for_one(store_url: str) -> None:
    from fastapi.testclient import TestClient
    from waxell_observe_server import create_app

    with TestClient(create_app(store_url, allow_local=False, key_cache_seconds=0)) as locked:
        reply = locked.post(
            f"{MEMORY}/r1/memory/episodic/", json={"slot_name": "s", "scope_key": "k", "data": 1}
        )
        assert reply.status_code == 401
        assert locked.get("/api/v1/read/agents/a/memories/").status_code == 401
