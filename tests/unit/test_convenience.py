"""Module-level convenience functions: record on the current run, no-ops outside one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import waxell
import waxell_observe
from waxell_observe import WaxellContext, observe

ReadRun = Callable[[str], dict[str, Any]]
ReadRuns = Callable[..., list[dict[str, Any]]]


def test_every_function_records_on_the_current_run(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe(agent_name="assistant")
    def assistant(question: str) -> str:
        waxell_observe.user_message(question)
        waxell_observe.tag("environment", "production")
        waxell_observe.metadata("retrieval_count", 5)
        waxell_observe.metadata("model_config", {"temperature": 0.2})
        waxell_observe.step("retrieve", {"docs": 2})
        waxell_observe.step("answer")
        waxell_observe.retrieve(
            "weather paris", [{"id": "w1"}], source="weather-api", duration_ms=12.5, top_k=1
        )
        waxell_observe.decide(
            "route", "weather", ["weather", "news"], reasoning="asks about weather", confidence=0.8
        )
        waxell_observe.reason(
            "plan", "need current data", evidence=["user said today"], conclusion="call API"
        )
        waxell_observe.retry(
            2, "rate limited", strategy="fallback", original_error="429", fallback_to="claude"
        )
        waxell_observe.score("relevance", 0.92, comment="good")
        waxell_observe.score("tone", "professional", data_type="categorical")
        waxell_observe.score("hallucination", False, data_type="boolean")
        answer = "It's sunny in Paris today."
        waxell_observe.agent_response(answer)
        return answer

    assistant("What's the weather?")
    [summary] = read_runs()
    run = read_run(summary["run_id"])
    assert run["tags"] == {"environment": "production"}
    assert run["metadata"] == {"retrieval_count": 5, "model_config": {"temperature": 0.2}}
    assert [(s["name"], s["position"], s["output"]) for s in run["steps"]] == [
        ("retrieve", 1, {"docs": 2}),
        ("answer", 2, None),
    ]
    assert [(s["name"], s["data_type"], s["value"], s["comment"]) for s in run["scores"]] == [
        ("relevance", "numeric", 0.92, "good"),
        ("tone", "categorical", "professional", ""),
        ("hallucination", "boolean", False, ""),
    ]
    spans = {(s["kind"], s["name"]): s for s in run["spans"]}
    assert list(spans) == [
        ("io", "user_message"),
        ("retrieval", "weather-api"),
        ("decision", "route"),
        ("reasoning", "plan"),
        ("retry", "fallback"),
        ("io", "agent_response"),
    ]
    assert spans[("io", "user_message")]["input"] == "What's the weather?"
    assert spans[("io", "agent_response")]["output"] == "It's sunny in Paris today."
    assert spans[("retrieval", "weather-api")]["duration_ms"] == 12.5
    assert spans[("retrieval", "weather-api")]["attributes"] == {
        "source": "weather-api",
        "document_count": 1,
        "top_k": 1,
    }
    assert spans[("decision", "route")]["output"] == {"chosen": "weather"}
    assert spans[("decision", "route")]["attributes"] == {
        "reasoning": "asks about weather",
        "confidence": 0.8,
        "instrumentation_type": "manual",
    }
    assert spans[("reasoning", "plan")]["attributes"] == {
        "thought": "need current data",
        "evidence": ["user said today"],
        "conclusion": "call API",
    }
    assert spans[("retry", "fallback")]["attributes"] == {
        "attempt": 2,
        "reason": "rate limited",
        "strategy": "fallback",
        "original_error": "429",
        "fallback_to": "claude",
        "max_attempts": None,
    }
    assert run["conversation"]["user_turns"] == 1


def test_outside_a_run_everything_is_a_no_op(read_runs: ReadRuns) -> None:
    assert waxell_observe.get_context() is None
    assert waxell_observe.get_current_context() is None
    assert waxell_observe.tag("k", "v") is None
    assert waxell_observe.metadata("k", 1) is None
    assert waxell_observe.score("s", 1.0) is None
    assert waxell_observe.step("s") is None
    assert waxell_observe.decide("d", "a", ["a"]) is None
    assert waxell_observe.reason("r", "t") is None
    assert waxell_observe.retrieve("q", []) is None
    assert waxell_observe.retry(1, "why") is None
    assert waxell_observe.user_message("hi") is None
    assert waxell_observe.agent_response("hello") is None
    # even misuse is silent outside a run: there is nothing to record it on
    assert waxell_observe.tag("bad key!", "v") is None
    assert read_runs() == []


def test_misuse_inside_a_run_raises_value_error() -> None:
    with WaxellContext(agent_name="agent"):
        with pytest.raises(ValueError, match="tag key 'bad key!' is invalid"):
            waxell_observe.tag("bad key!", "v")
        with pytest.raises(ValueError, match="a numeric score needs a finite number"):
            waxell_observe.score("s", "high")
        with pytest.raises(ValueError, match="attempt must be an integer >= 1"):
            waxell_observe.retry(0, "why")


def test_get_context_returns_the_innermost_active_context() -> None:
    with WaxellContext(agent_name="outer") as outer:
        assert waxell_observe.get_context() is outer
        with WaxellContext(agent_name="inner") as inner:
            assert waxell_observe.get_current_context() is inner
        assert waxell_observe.get_context() is outer
    assert waxell_observe.get_context() is None


def test_seed_style_import_waxell(read_runs: ReadRuns, read_run: ReadRun) -> None:
    """The conversation-tracking seed: ``import waxell; waxell.user_message(...)``."""
    for name in waxell_observe.__all__:
        assert getattr(waxell, name) is getattr(waxell_observe, name)

    @waxell.observe
    def cleanup_agent(task: str) -> str:
        waxell.user_message("Clean up inactive users")
        waxell.agent_response("I've cleaned up 14,872 inactive users.")
        return "done"

    cleanup_agent("cleanup")
    run = read_run(read_runs()[0]["run_id"])
    assert [(s["name"], s["input"], s["output"]) for s in run["spans"]] == [
        ("user_message", "Clean up inactive users", None),
        ("agent_response", None, "I've cleaned up 14,872 inactive users."),
    ]
    assert run["conversation"]["user_turns"] == 1
    assert run["conversation"]["assistant_turns"] == 1


def test_public_names_are_exported() -> None:
    expected = {
        "init", "generate_session_id", "observe", "waxell_agent", "tool", "decision", "retrieval",
        "reasoning_dec", "retry_dec", "step_dec", "tag", "metadata", "score", "step", "decide", "reason",
        "retrieve", "retry", "user_message", "agent_response", "get_context", "get_current_context",
        "wrap_context", "ContextThreadPoolExecutor", "flush", "shutdown", "WaxellContext",
    }  # fmt: skip
    assert expected <= set(waxell_observe.__all__)
    assert len(waxell_observe.__all__) == len(set(waxell_observe.__all__))
