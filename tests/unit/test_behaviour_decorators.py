"""Behaviour decorators record spans and steps on the current run; outside one they are transparent."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

import waxell_observe
from waxell_observe import (
    WaxellContext,
    decision,
    observe,
    reasoning_dec,
    retrieval,
    retry_dec,
    step_dec,
    tool,
)

ReadRun = Callable[[str], dict[str, Any]]
ReadRuns = Callable[..., list[dict[str, Any]]]


def spans_of(run: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in run["spans"] if s["kind"] == kind]


def view(span: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: span[k] for k in keys}


# -- tool ----------------------------------------------------------------------------------


def test_tool_records_inputs_output_and_duration(read_run: ReadRun) -> None:
    @tool(tool_type="api")
    def web_search(query: str, limit: int = 3) -> dict[str, Any]:
        return {"results": [query] * limit}

    @tool(name="calculator")
    def add(a: int, b: int) -> int:
        return a + b

    with WaxellContext(agent_name="researcher") as ctx:
        assert web_search("tides", limit=2) == {"results": ["tides", "tides"]}
        assert add(2, 3) == 5

    run = read_run(ctx.run_id)
    first, second = spans_of(run, "tool")
    assert view(first, "name", "status", "input", "output", "error", "attributes") == {
        "name": "web_search",
        "status": "ok",
        "input": {"query": "tides", "limit": 2},
        "output": {"results": ["tides", "tides"]},
        "error": "",
        "attributes": {"tool_type": "api"},
    }
    assert first["duration_ms"] >= 0
    assert view(second, "name", "input", "output", "attributes") == {
        "name": "calculator",
        "input": {"a": 2, "b": 3},
        "output": 5,
        "attributes": {"tool_type": "function"},
    }


def test_tool_error_is_recorded_and_reraised_unchanged(read_run: ReadRun) -> None:
    error = TimeoutError("search backend timed out")

    @tool
    def search(query: str) -> list[str]:
        raise error

    with WaxellContext(agent_name="agent") as ctx:
        with pytest.raises(TimeoutError) as info:
            search("x")
        assert info.value is error

    [span] = spans_of(read_run(ctx.run_id), "tool")
    assert view(span, "name", "status", "error", "input", "output") == {
        "name": "search",
        "status": "error",
        "error": "TimeoutError: search backend timed out",
        "input": {"query": "x"},
        "output": "",
    }
    assert span["attributes"] == {"tool_type": "function", "error": "TimeoutError: search backend timed out"}


async def test_async_tool_and_method_tool(read_run: ReadRun) -> None:
    class Database:
        table = "users"

        @tool(tool_type="database")
        async def query(self, sql: str) -> list[dict[str, int]]:
            return [{"id": 1}]

    db = Database()
    async with WaxellContext(agent_name="dba") as ctx:
        assert await db.query("select 1") == [{"id": 1}]
    [span] = spans_of(read_run(ctx.run_id), "tool")
    assert view(span, "name", "input", "output", "attributes") == {
        "name": "query",
        "input": {"sql": "select 1"},
        "output": [{"id": 1}],
        "attributes": {"tool_type": "database"},
    }


def test_outside_a_run_decorators_are_transparent(read_runs: ReadRuns) -> None:
    @tool
    def t(x: int) -> int:
        return x + 1

    @decision(name="d", options=["a", "b"])
    def d() -> str:
        return "a"

    @retrieval(source="kb")
    def r(query: str) -> list[dict[str, str]]:
        return [{"id": "1"}]

    @reasoning_dec(step="think")
    def th() -> str:
        return "thought"

    @step_dec(name="s")
    def s() -> dict[str, int]:
        return {"n": 1}

    assert (t(1), d(), r("q"), th(), s()) == (2, "a", [{"id": "1"}], "thought", {"n": 1})
    assert read_runs() == []


# -- decision ------------------------------------------------------------------------------


def test_decision_from_a_dict_and_from_a_string(read_run: ReadRun) -> None:
    @decision(name="route_to_agent", options=["billing", "technical", "general"])
    def route(message: str) -> dict[str, Any]:
        return {"chosen": "billing", "reasoning": "mentions invoice", "confidence": 0.95}

    @decision("pick_model", ["gpt-4o", "claude-sonnet-4"])
    def pick() -> str:
        return "gpt-4o"

    with WaxellContext(agent_name="router") as ctx:
        assert route("my invoice") == {
            "chosen": "billing",
            "reasoning": "mentions invoice",
            "confidence": 0.95,
        }
        assert pick() == "gpt-4o"

    first, second = spans_of(read_run(ctx.run_id), "decision")
    assert view(first, "name", "input", "output", "attributes") == {
        "name": "route_to_agent",
        "input": {"options": ["billing", "technical", "general"]},
        "output": {"chosen": "billing"},
        "attributes": {
            "reasoning": "mentions invoice",
            "confidence": 0.95,
            "instrumentation_type": "decorator",
        },
    }
    assert view(second, "name", "input", "output", "attributes") == {
        "name": "pick_model",
        "input": {"options": ["gpt-4o", "claude-sonnet-4"]},
        "output": {"chosen": "gpt-4o"},
        "attributes": {"reasoning": "", "confidence": None, "instrumentation_type": "decorator"},
    }


def test_decision_with_a_wrong_return_shape_is_logged_not_recorded(
    caplog: pytest.LogCaptureFixture, read_run: ReadRun
) -> None:
    @decision(name="bad", options=["a"])
    def bad() -> dict[str, str]:
        return {"choice": "a"}

    @decision(name="overconfident", options=["a"])
    def overconfident() -> dict[str, Any]:
        return {"chosen": "a", "confidence": 7}

    with (
        caplog.at_level(logging.WARNING, logger="waxell_observe"),
        WaxellContext(agent_name="router") as ctx,
    ):
        assert bad() == {"choice": "a"}
        assert overconfident() == {"chosen": "a", "confidence": 7}
    assert spans_of(read_run(ctx.run_id), "decision") == []
    assert "@decision 'bad' must return a dict with 'chosen' or a string" in caplog.text
    assert "confidence must be between 0 and 1, got 7" in caplog.text


# -- retrieval -----------------------------------------------------------------------------


def test_retrieval_records_query_documents_scores_and_top_k(read_run: ReadRun) -> None:
    class Store:
        @retrieval(source="pinecone")
        def search(self, query: str, top_k: int = 2) -> list[dict[str, Any]]:
            return [{"id": "doc1", "score": 0.9}, {"id": "doc2", "score": 0.7}][:top_k]

    @retrieval("bm25")
    def keyword(q: str) -> list[dict[str, str]]:
        return [{"id": "a"}]

    with WaxellContext(agent_name="rag") as ctx:
        assert Store().search("billing", top_k=2) == [
            {"id": "doc1", "score": 0.9},
            {"id": "doc2", "score": 0.7},
        ]
        keyword("refund")

    first, second = spans_of(read_run(ctx.run_id), "retrieval")
    assert view(first, "name", "input", "output", "attributes") == {
        "name": "pinecone",
        "input": {"query": "billing"},
        "output": {"documents": [{"id": "doc1", "score": 0.9}, {"id": "doc2", "score": 0.7}]},
        "attributes": {"source": "pinecone", "document_count": 2, "top_k": 2, "scores": [0.9, 0.7]},
    }
    assert view(second, "name", "input", "output", "attributes") == {
        "name": "bm25",
        "input": {"query": "refund"},
        "output": {"documents": [{"id": "a"}]},
        "attributes": {"source": "bm25", "document_count": 1},
    }


async def test_async_retrieval(read_run: ReadRun) -> None:
    @retrieval(source="vectors")
    async def fetch(query: str) -> list[dict[str, str]]:
        return [{"id": "x"}]

    async with WaxellContext(agent_name="rag") as ctx:
        await fetch("q")
    [span] = spans_of(read_run(ctx.run_id), "retrieval")
    assert span["input"] == {"query": "q"}
    assert span["output"] == {"documents": [{"id": "x"}]}


# -- reasoning -----------------------------------------------------------------------------


def test_reasoning_from_a_dict_and_a_string(read_run: ReadRun) -> None:
    @reasoning_dec(step="evaluate_sources")
    def evaluate() -> dict[str, Any]:
        return {
            "thought": "A is newer, B is cited more",
            "evidence": ["A: 2024", "B: cited 500 times"],
            "conclusion": "Use B",
        }

    @reasoning_dec
    def brainstorm() -> str:
        return "maybe try caching"

    with WaxellContext(agent_name="thinker") as ctx:
        evaluate()
        brainstorm()
    first, second = spans_of(read_run(ctx.run_id), "reasoning")
    assert view(first, "name", "attributes") == {
        "name": "evaluate_sources",
        "attributes": {
            "thought": "A is newer, B is cited more",
            "evidence": ["A: 2024", "B: cited 500 times"],
            "conclusion": "Use B",
        },
    }
    assert view(second, "name", "attributes") == {
        "name": "brainstorm",
        "attributes": {"thought": "maybe try caching", "evidence": [], "conclusion": ""},
    }


# -- step ----------------------------------------------------------------------------------


def test_step_decorator_output_rules(read_run: ReadRun) -> None:
    @step_dec(name="extract_entities")
    def extract() -> dict[str, int]:
        return {"count": 12}

    @step_dec
    def classify() -> str:
        return "billing"

    @step_dec("noop")
    def nothing() -> None:
        return None

    @step_dec("failing")
    def failing() -> None:
        raise ValueError("no step for me")

    with WaxellContext(agent_name="pipeline") as ctx:
        extract()
        classify()
        nothing()
        with pytest.raises(ValueError):
            failing()
    run = read_run(ctx.run_id)
    assert [(s["name"], s["position"], s["output"]) for s in run["steps"]] == [
        ("extract_entities", 1, {"count": 12}),
        ("classify", 2, {"output": "billing"}),
        ("noop", 3, None),
    ]


async def test_async_step_inside_observe(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @step_dec(name="fetch")
    async def fetch() -> dict[str, int]:
        return {"rows": 3}

    @observe
    async def job() -> None:
        await fetch()

    await job()
    [summary] = read_runs()
    assert [(s["name"], s["output"]) for s in read_run(summary["run_id"])["steps"]] == [
        ("fetch", {"rows": 3})
    ]


# -- retry ---------------------------------------------------------------------------------


def test_retry_records_each_retry_and_returns_the_success(read_run: ReadRun) -> None:
    attempts: list[int] = []

    @retry_dec(max_attempts=4, strategy="fallback")
    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) < 3:
            raise ConnectionError(f"429 on try {len(attempts)}")
        return x * 10

    with WaxellContext(agent_name="caller") as ctx:
        assert flaky(7) == 70
    assert attempts == [7, 7, 7]
    retries = spans_of(read_run(ctx.run_id), "retry")
    assert [view(s, "name", "attributes") for s in retries] == [
        {
            "name": "fallback",
            "attributes": {
                "attempt": 2,
                "reason": "429 on try 1",
                "strategy": "fallback",
                "original_error": "ConnectionError: 429 on try 1",
                "fallback_to": "",
                "max_attempts": 4,
            },
        },
        {
            "name": "fallback",
            "attributes": {
                "attempt": 3,
                "reason": "429 on try 2",
                "strategy": "fallback",
                "original_error": "ConnectionError: 429 on try 2",
                "fallback_to": "",
                "max_attempts": 4,
            },
        },
    ]


def test_retry_reraises_the_last_error_after_max_attempts(read_run: ReadRun) -> None:
    errors = [RuntimeError(f"fail {i}") for i in range(3)]
    calls: list[int] = []

    @retry_dec
    def always_fails() -> None:
        calls.append(1)
        raise errors[len(calls) - 1]

    with WaxellContext(agent_name="caller") as ctx, pytest.raises(RuntimeError) as info:
        always_fails()
    assert info.value is errors[2]
    assert len(calls) == 3
    assert [s["attributes"]["attempt"] for s in spans_of(read_run(ctx.run_id), "retry")] == [2, 3]


def test_retry_only_catches_the_named_exceptions(read_run: ReadRun) -> None:
    calls: list[int] = []

    @retry_dec(max_attempts=5, exceptions=(ConnectionError,))
    def wrong_kind() -> None:
        calls.append(1)
        raise KeyError("not retried")

    with WaxellContext(agent_name="caller") as ctx, pytest.raises(KeyError):
        wrong_kind()
    assert calls == [1]
    assert spans_of(read_run(ctx.run_id), "retry") == []


async def test_async_retry_outside_and_inside_a_run(read_runs: ReadRuns, read_run: ReadRun) -> None:
    calls: list[int] = []

    @retry_dec(max_attempts=2)
    async def once_flaky() -> str:
        calls.append(1)
        if len(calls) % 2 == 1:
            raise OSError("transient")
        return "ok"

    assert await once_flaky() == "ok"  # outside a run: retried, nothing recorded
    assert read_runs() == []

    @observe
    async def agent() -> str:
        return await once_flaky()

    assert await agent() == "ok"
    [summary] = read_runs()
    [span] = spans_of(read_run(summary["run_id"]), "retry")
    assert span["attributes"]["attempt"] == 2
    assert span["attributes"]["original_error"] == "OSError: transient"
    assert len(calls) == 4


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: retry_dec(max_attempts=0), "max_attempts must be an integer >= 1"),
        (lambda: retry_dec(strategy="again"), "strategy must be one of retry, fallback, circuit_break"),
        (lambda: retry_dec(exceptions=(KeyboardInterrupt,)), "exceptions must be Exception subclasses"),
        (lambda: tool(name=""), "the name must be a non-empty string"),
        (lambda: decision(name="d", options="a,b"), "options must be a list of strings"),
        (lambda: retrieval(source=5), "source must be a string"),
        (lambda: tool()(3), "@tool decorates functions and methods, got int"),
    ],
)
def test_misuse_is_a_clear_value_error(factory: Callable[[], Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()


def test_behaviour_decorators_keep_function_metadata() -> None:
    def my_tool(x: int) -> int:
        """Doc."""
        return x

    for decorated in (tool(my_tool), step_dec(my_tool), retry_dec(my_tool), decision(my_tool)):
        assert decorated.__name__ == "my_tool"
        assert decorated.__doc__ == "Doc."
        assert decorated(4) == 4


def test_convenience_and_decorators_share_the_current_run(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @tool
    def lookup(key: str) -> str:
        waxell_observe.tag("looked_up", key)
        return key.upper()

    @observe
    def agent() -> str:
        return lookup("k1")

    assert agent() == "K1"
    [summary] = read_runs()
    run = read_run(summary["run_id"])
    assert run["tags"] == {"looked_up": "k1"}
    assert [s["name"] for s in spans_of(run, "tool")] == ["lookup"]
