"""Behaviour decorators with the reference SDK's parameters (issue 14, §5.3): ``retrieval(source, name)``
and ``retry_dec(max_attempts, strategy, fallback_to)``; read back from the store."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

import waxell_observe as waxell

ReadRun = Callable[[str], dict[str, Any]]


def test_the_signatures_start_with_the_reference_parameters() -> None:
    expected = {
        "tool": ["name", "tool_type"],
        "decision": ["name", "options"],
        "retrieval": ["source", "name"],
        "reasoning_dec": ["step"],
        "retry_dec": ["max_attempts", "strategy", "fallback_to"],
        "step_dec": ["name"],
    }
    for name, parameters in expected.items():
        assert list(inspect.signature(getattr(waxell, name)).parameters)[: len(parameters)] == parameters


def test_retrieval_name_labels_the_span_when_there_is_no_source(read_run: ReadRun) -> None:
    @waxell.retrieval(name="vector-search")
    def search(query: str) -> list[dict[str, Any]]:
        return [{"id": "a", "score": 0.5}]

    @waxell.retrieval(source="kb", name="ignored-label")
    def search_kb(query: str) -> list[dict[str, Any]]:
        return []

    with waxell.context(agent_name="retriever") as ctx:
        search("q1")
        search_kb("q2")
    spans = read_run(ctx.run_id)["spans"]
    assert [(s["name"], s["input"], s["attributes"]["source"]) for s in spans] == [
        ("vector-search", {"query": "q1"}, "vector-search"),
        ("kb", {"query": "q2"}, "kb"),
    ]


def test_retry_dec_records_fallback_to(read_run: ReadRun) -> None:
    calls: list[int] = []

    @waxell.retry_dec(2, "fallback", "cached-answer")
    def fetch() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise TimeoutError("slow")
        return "fresh"

    with waxell.context(agent_name="fetcher") as ctx:
        assert fetch() == "fresh"
    (span,) = read_run(ctx.run_id)["spans"]
    assert (span["kind"], span["name"]) == ("retry", "fallback")
    assert span["attributes"] == {
        "attempt": 2,
        "reason": "slow",
        "strategy": "fallback",
        "original_error": "TimeoutError: slow",
        "fallback_to": "cached-answer",
        "max_attempts": 2,
    }


def test_bad_values_raise_at_decoration() -> None:
    with pytest.raises(ValueError, match="fallback_to must be a string"):
        waxell.retry_dec(fallback_to=3)
    with pytest.raises(ValueError, match="non-empty string"):
        waxell.retrieval(name="  ")
