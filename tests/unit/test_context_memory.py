"""Issue 12: memory on a run — set_memory_state, record_memory_write, record_memory_recall,
remember_episodic / remember_semantic and the top-level one-liners — read back from the embedded
store with exact values (the run's records, its conversation state and the memories kept)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import waxell_observe
from waxell_observe import WaxellContext
from waxell_observe.errors import PolicyViolationError
from waxell_observe.governance.results import PolicyCheckResult

ReadRun = Callable[[str], dict[str, Any]]
EMBEDDING = [0.25] * 1536


def _context(agent: str, **kwargs: Any) -> WaxellContext:
    return WaxellContext(agent_name=agent, enforce_policy=False, **kwargs)


def _memories(db: Path, **filters: Any) -> list[dict[str, Any]]:
    from waxell_observe.store import get_store
    from waxell_observe.store.memory import list_memories

    with get_store(f"sqlite:///{db}").read() as conn:
        found, total = list_memories(conn, **filters)
    assert total == len(found)
    return found


def _summary(**counts: Any) -> dict[str, Any]:
    return {
        "read_count": 0,
        "write_count": 0,
        "hit_count": 0,
        "hit_rate": None,
        "stores": [],
        "tiers": [],
        **counts,
    }


def test_memory_state_writes_and_recalls_are_in_the_conversation_state(read_run: ReadRun) -> None:
    with _context("i12-mem-state") as ctx:
        ctx.set_memory_state(
            memory_items=[{"key": "tz", "value": "CET"}], cross_session_loaded=True, memory_item_count=1
        )
        ctx.record_memory_write(
            memory_type="episodic", content="likes tea", slot_name="prefs", data={"tea": 1}
        )
        ctx.record_memory_write(memory_type="semantic", content="sky is blue")
        ctx.record_memory_recall(
            query="drinks",
            tier="episodic",
            store="redis",
            results_count=2,
            top_score=0.875,
            results=["tea", {"k": 1}],
        )
        ctx.record_memory_recall(query="weather", tier="semantic", store="pgvector")
    memory = read_run(ctx.run_id)["conversation"]["memory_state"]
    assert memory == {
        "memory_items": [{"key": "tz", "value": "CET"}],
        "cross_session_loaded": True,
        "memory_item_count": 1,
        "memory_writes": [
            {"memory_type": "episodic", "content": "likes tea", "slot_name": "prefs", "data": {"tea": 1}},
            {"memory_type": "semantic", "content": "sky is blue"},
        ],
        "memory_recalls": [
            {
                "tier": "episodic",
                "store": "redis",
                "query": "drinks",
                "hit": True,
                "results_count": 2,
                "top_score": 0.875,
                "results": ["tea", {"k": 1}],
            },
            {
                "tier": "semantic",
                "store": "pgvector",
                "query": "weather",
                "hit": False,
                "results_count": 0,
                "top_score": None,
            },
        ],
        "snapshot": {
            "reads": [
                {
                    "query": "drinks",
                    "tier": "episodic",
                    "store": "redis",
                    "hit": True,
                    "top_score": 0.875,
                    "results": ["tea", {"k": 1}],
                },
                {
                    "query": "weather",
                    "tier": "semantic",
                    "store": "pgvector",
                    "hit": False,
                    "top_score": None,
                },
            ],
            "writes": [
                {"tier": "episodic", "content": "likes tea", "slot_name": "prefs", "data": {"tea": 1}},
                {"tier": "semantic", "content": "sky is blue"},
            ],
            "summary": _summary(
                read_count=2,
                write_count=2,
                hit_count=1,
                hit_rate=0.5,
                stores=["pgvector", "redis"],
                tiers=["episodic", "semantic"],
            ),
        },
    }


def test_a_recall_is_a_zero_length_memory_span(read_run: ReadRun) -> None:
    with _context("i12-recall-span") as ctx:
        ctx.record_memory_recall(
            query="what does the user drink", store="redis", results_count=3, top_score=0.5
        )
        ctx.record_memory_recall(query="q" * 60, slot_name="prefs", tier="semantic")
        ctx.record_memory_recall()
    spans = read_run(ctx.run_id)["spans"]
    assert [(s["kind"], s["name"], s["status"], s["parent_span_id"]) for s in spans] == [
        ("memory", "memory.read:what does the user drink", "ok", ""),
        ("memory", "memory.read:prefs", "ok", ""),
        ("memory", "memory.read:recall", "ok", ""),
    ]
    first, second, third = spans
    assert first["attributes"] == {
        "operation": "read",
        "tier": "episodic",
        "store": "redis",
        "hit": True,
        "recall_results_count": 3,
        "recall_top_score": 0.5,
    }
    assert first["input"] == {"tier": "episodic", "slot_name": "", "summary": "what does the user drink"}
    assert first["output"] == {"hit": True, "results_count": 3, "top_score": 0.5}
    assert second["attributes"] == {
        "operation": "read",
        "tier": "semantic",
        "hit": False,
        "recall_results_count": 0,
        "slot_name": "prefs",
    }
    assert second["input"]["summary"] == "q" * 60
    assert third["output"] == {"hit": False, "results_count": 0, "top_score": None}


def test_recall_results_are_cut_to_twenty_and_text_to_1000_characters(read_run: ReadRun) -> None:
    with _context("i12-recall-results") as ctx:
        ctx.record_memory_recall(query="q", results_count=30, results=["x" * 1500, *range(29)])
    recall = read_run(ctx.run_id)["conversation"]["memory_state"]["memory_recalls"][0]
    assert recall["results"] == ["x" * 1000, *[str(i) for i in range(19)]]


def test_the_snapshot_keeps_the_latest_200_and_counts_them_all(read_run: ReadRun) -> None:
    with _context("i12-snapshot") as ctx:
        for i in range(205):
            ctx.record_memory_write(memory_type="episodic", content=f"w{i}")
            ctx.record_memory_recall(query=f"r{i}", results_count=i % 2)
    memory = read_run(ctx.run_id)["conversation"]["memory_state"]
    assert len(memory["memory_writes"]) == len(memory["memory_recalls"]) == 205
    snapshot = memory["snapshot"]
    assert [w["content"] for w in snapshot["writes"]] == [f"w{i}" for i in range(5, 205)]
    assert [r["query"] for r in snapshot["reads"]] == [f"r{i}" for i in range(5, 205)]
    assert snapshot["summary"] == _summary(
        read_count=205, write_count=205, hit_count=102, hit_rate=0.498, tiers=["episodic"]
    )


def test_memory_text_is_scrubbed_unless_telemetry_redaction_is_off(
    read_run: ReadRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _context("i12-scrub") as ctx:
        ctx.record_memory_write(
            memory_type="episodic", content="mail ann@example.com", data={"to": "ann@example.com"}
        )
        ctx.record_memory_recall(
            query="ann@example.com", results=[{"mail": "ann@example.com"}], results_count=1
        )
    memory = read_run(ctx.run_id)["conversation"]["memory_state"]
    assert memory["memory_writes"] == [
        {"memory_type": "episodic", "content": "mail ##EMAIL##", "data": {"to": "##EMAIL##"}}
    ]
    assert (memory["memory_recalls"][0]["query"], memory["memory_recalls"][0]["results"]) == (
        "##EMAIL##",
        [{"mail": "##EMAIL##"}],
    )
    monkeypatch.setenv("WAXELL_REDACT_TELEMETRY", "off")
    with _context("i12-scrub-off") as raw:
        raw.record_memory_write(memory_type="episodic", content="mail ann@example.com")
    assert read_run(raw.run_id)["conversation"]["memory_state"]["memory_writes"] == [
        {"memory_type": "episodic", "content": "mail ann@example.com"}
    ]


def test_remember_episodic_records_a_write_span_and_keeps_the_memory(
    read_run: ReadRun, waxell_db: Path
) -> None:
    with _context("i12-episodic", session_id="sess-1") as ctx:
        ctx.remember_episodic(slot_name="prefs", data={"drink": "tea"})
        ctx.remember_episodic(
            slot_name="notes",
            data=["a", "b"],
            scope_key="user-7",
            ttl_seconds=None,
            max_items=5,
            memory_type="log",
        )
    run = read_run(ctx.run_id)
    spans = run["spans"]
    assert [(s["kind"], s["name"], s["status"]) for s in spans] == [
        ("memory", "memory.write:prefs", "ok"),
        ("memory", "memory.write:notes", "ok"),
    ]
    assert spans[0]["attributes"] == {
        "operation": "write",
        "tier": "episodic",
        "slot_name": "prefs",
        "scope_key": "i12-episodic:sess-1",
    }
    assert spans[0]["input"] == {"tier": "episodic", "slot_name": "prefs", "summary": "{'drink': 'tea'}"}
    assert spans[0]["output"] == {"tier": "episodic"}
    assert run["conversation"]["memory_state"]["memory_writes"] == [
        {
            "memory_type": "episodic",
            "content": "{'drink': 'tea'}",
            "slot_name": "prefs",
            "scope_key": "i12-episodic:sess-1",
            "data": {"drink": "tea"},
        },
        {
            "memory_type": "episodic",
            "content": "['a', 'b']",
            "slot_name": "notes",
            "scope_key": "user-7",
            "data": ["a", "b"],
        },
    ]
    stored = _memories(waxell_db, agent_name="i12-episodic")
    assert [
        (
            m["tier"],
            m["slot_name"],
            m["scope_key"],
            m["memory_type"],
            m["data"],
            m["ttl_seconds"],
            m["max_items"],
        )
        for m in stored
    ] == [
        ("episodic", "notes", "user-7", "log", ["a", "b"], None, 5),
        ("episodic", "prefs", "i12-episodic:sess-1", "dict", {"drink": "tea"}, 86400, None),
    ]
    assert {m["run_id"] for m in stored} == {ctx.run_id}
    assert stored[0]["expires_at"] is None and stored[1]["expires_at"] is not None


def test_the_default_scope_is_the_run_without_a_session(waxell_db: Path, read_run: ReadRun) -> None:
    with _context("i12-scope") as ctx:
        waxell_observe.remember_episodic("prefs", 42)
    read_run(ctx.run_id)
    (stored,) = _memories(waxell_db, agent_name="i12-scope")
    assert (stored["scope_key"], stored["memory_type"], stored["data"]) == (
        f"i12-scope:{ctx.run_id}",
        "value",
        42,
    )


def test_max_items_keeps_the_newest_items_of_the_slot(waxell_db: Path, read_run: ReadRun) -> None:
    with _context("i12-max-items") as ctx:
        for i in range(5):
            ctx.remember_episodic(slot_name="recent", data=i, scope_key="s", max_items=3)
    read_run(ctx.run_id)
    assert [m["data"] for m in _memories(waxell_db, slot_name="recent", scope_key="s")] == [4, 3, 2]


def test_remember_semantic_keeps_a_fact_with_its_embedding(
    waxell_db: Path, read_run: ReadRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # no embedding is asked for
    with _context("i12-semantic") as ctx:
        ctx.remember_semantic(
            slot_name="facts",
            content="The user is vegetarian",
            scope_key="user-7",
            importance=0.9,
            tags=["diet"],
            fact_key="diet",
            source_tool="profile",
            content_embedding=EMBEDDING,
        )
        ctx.remember_semantic(
            slot_name="facts",
            content="The user is vegan",
            scope_key="user-7",
            fact_key="diet",
            content_embedding=EMBEDDING,
        )
        ctx.remember_semantic(slot_name="facts", content="")  # nothing at all
        ctx.remember_semantic(
            slot_name="facts", content="no embedding: recorded, not kept", scope_key="user-7"
        )
    run = read_run(ctx.run_id)
    assert [(s["name"], s["attributes"]["tier"]) for s in run["spans"]] == [
        ("memory.write:facts", "semantic")
    ] * 3
    assert [w["content"] for w in run["conversation"]["memory_state"]["memory_writes"]] == [
        "The user is vegetarian",
        "The user is vegan",
        "no embedding: recorded, not kept",
    ]
    (fact,) = _memories(waxell_db, tier="semantic")
    assert (
        fact["content"],
        fact["fact_key"],
        fact["importance"],
        fact["tags"],
        fact["has_embedding"],
        fact["memory_type"],
    ) == ("The user is vegan", "diet", 0.7, [], True, "fact")


def test_a_memory_that_cannot_be_kept_marks_the_span_and_never_raises(
    read_run: ReadRun, waxell_db: Path
) -> None:
    with _context("i12-not-kept") as ctx:
        ctx.remember_semantic(slot_name="facts", content="short embedding", content_embedding=[0.1, 0.2])
    (span,) = read_run(ctx.run_id)["spans"]
    assert (span["status"], span["error"]) == (
        "error",
        "not kept: content_embedding must have 1536 numbers, got 2",
    )
    assert _memories(waxell_db, agent_name="i12-not-kept") == []


def test_recall_one_liner_counts_the_results(read_run: ReadRun) -> None:
    waxell_observe.recall("outside a run")  # no run: nothing, no error
    waxell_observe.remember_episodic("slot", 1)
    waxell_observe.remember_semantic("slot", "fact")
    with _context("i12-recall-top") as ctx:
        waxell_observe.recall("drinks", results=["tea", "coffee"], top_score=0.75)
        waxell_observe.recall("weather", results_count=5, results=["sunny"])
        waxell_observe.recall("nothing")
    recalls = read_run(ctx.run_id)["conversation"]["memory_state"]["memory_recalls"]
    assert [(r["query"], r["results_count"], r["hit"]) for r in recalls] == [
        ("drinks", 2, True),
        ("weather", 5, True),
        ("nothing", 0, False),
    ]


def test_memory_writes_flush_with_mid_execution_governance_and_recalls_do_not(
    read_run: ReadRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    from waxell_observe import policy_gate

    asked: list[str] = []

    def flush_run(run: Any) -> PolicyCheckResult:
        asked.append("flush")
        return PolicyCheckResult("block", reason="memory frozen")

    monkeypatch.setattr(policy_gate, "flush_run", flush_run)
    with _context("i12-mem-flush", mid_execution_governance=True) as ctx:
        ctx.record_memory_recall(query="q")
        ctx.set_memory_state(memory_item_count=3)
        assert asked == []
        with pytest.raises(PolicyViolationError, match="memory frozen"):
            ctx.record_memory_write(memory_type="episodic", content="x")
        with pytest.raises(PolicyViolationError, match="memory frozen"):
            ctx.remember_episodic(slot_name="prefs", data=1)
    assert asked == ["flush", "flush"]
    spans = read_run(ctx.run_id)["spans"]
    write = next(s for s in spans if s["name"] == "memory.write:prefs")
    assert (write["status"], write["attributes"]["error.type"]) == ("error", "PolicyViolationError")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.record_memory_write(memory_type=""), "memory_type must be a non-empty string"),
        (lambda c: c.record_memory_write(memory_type="x", content=3), "content must be a string"),
        (lambda c: c.record_memory_recall(results_count=-1), "results_count must be a non-negative integer"),
        (lambda c: c.record_memory_recall(top_score=float("nan")), "top_score must be a finite number"),
        (lambda c: c.record_memory_recall(results="abc"), "results must be a list or None"),
        (lambda c: c.set_memory_state(memory_item_count=True), "memory_item_count must be a non-negative"),
        (lambda c: c.set_memory_state(memory_items={"a": 1}), "memory_items must be a list or None"),
        (lambda c: c.remember_episodic(slot_name=" ", data=1), "slot_name must be a non-empty string"),
        (
            lambda c: c.remember_episodic(slot_name="s", data=1, ttl_seconds=0),
            "ttl_seconds must be a positive",
        ),
        (
            lambda c: c.remember_semantic(slot_name="s", content="c", tags="x"),
            "tags must be a list of strings",
        ),
    ],
)
def test_bad_arguments_are_named(call: Callable[[WaxellContext], Any], message: str) -> None:
    with _context("i12-mem-bad") as ctx, pytest.raises(ValueError, match=message):
        call(ctx)


def test_remember_semantic_embeds_with_openai_when_a_key_is_set(
    waxell_db: Path, read_run: ReadRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    from integrations.llm_stub import StubLLMServer

    stub = StubLLMServer()
    stub.start()
    try:
        stub.reply_json(
            {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.5] * 1536}],
                "model": "text-embedding-3-small",
                "usage": {"prompt_tokens": 5, "total_tokens": 5},
            }
        )
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url + "/v1")
        with _context("i12-openai-embedding") as ctx:
            ctx.remember_semantic(
                slot_name="facts", content="The user is vegan " + "x" * 9000, fact_key="diet"
            )
        read_run(ctx.run_id)
    finally:
        stub.stop()
    (request,) = stub.requests
    assert request.path == "/v1/embeddings"
    assert request.body["model"] == "text-embedding-3-small"
    assert request.body["input"] == ("The user is vegan " + "x" * 9000)[:8000]
    (fact,) = _memories(waxell_db, agent_name="i12-openai-embedding")
    assert (fact["has_embedding"], fact["content"]) == (True, ("The user is vegan " + "x" * 9000)[:8000])
