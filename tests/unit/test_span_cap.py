"""WAXELL_MAX_SPANS_PER_RUN (reference §2.2 exit 4): a run past its span cap keeps its head, its tail
and every span of the always-kept kinds or with an error, and reports the rest in
``result["_span_cap_hit"]``. Read back from the real store."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from waxell_observe import WaxellContext
from waxell_observe.context import span_cap


def _names(run: dict[str, Any]) -> list[str]:
    return [s["name"] for s in sorted(run["spans"], key=lambda s: s["position"])]


def test_past_the_cap_the_head_the_tail_and_the_kept_kinds_stay(
    read_run: Callable[[str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAXELL_MAX_SPANS_PER_RUN", "10")  # head 8, tail 2
    with WaxellContext("capped", enforce_policy=False) as ctx:
        for n in range(1, 11):
            ctx.record_tool_call(name=f"t{n}")  # t1..t8 delivered, t9 and t10 held
        ctx.record_span("llm", "gen")  # always kept
        ctx.record_tool_call(name="t11", status="error", error="boom")  # an error span: kept
        ctx.record_reasoning(step="r1", thought="hm")  # held; pushes t9 out
        handle = ctx.enter_span("phase")
        ctx.exit_span(handle)  # held; pushes t10 out
        ctx.record_span("custom", "c1")  # held; pushes r1 out
        ctx.set_result({"answer": 42})
    run = read_run(ctx.run_id)
    assert _names(run) == [*(f"t{n}" for n in range(1, 9)), "gen", "t11", "phase", "c1"]
    assert run["span_count"] == 12
    assert run["result"] == {
        "answer": 42,
        "_span_cap_hit": {
            "buffered": 15,
            "kept": 12,
            "dropped": 3,
            "cap": 10,
            "dropped_by_kind": {"reasoning": 1, "tool": 2},
            "strategy": "priority_sampled",
        },
    }


def test_a_run_within_its_cap_keeps_every_span_and_reports_nothing(
    read_run: Callable[[str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAXELL_MAX_SPANS_PER_RUN", "10")
    with WaxellContext("under-cap", enforce_policy=False) as ctx:
        for n in range(1, 11):  # the last two wait in the tail ring and are delivered at the end
            ctx.record_tool_call(name=f"t{n}")
    run = read_run(ctx.run_id)
    assert _names(run) == [f"t{n}" for n in range(1, 11)]
    assert (run["span_count"], run["result"]) == (10, {})


def test_zero_turns_the_cap_off(
    read_run: Callable[[str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAXELL_MAX_SPANS_PER_RUN", "0")
    with WaxellContext("uncapped", enforce_policy=False) as ctx:
        for n in range(1, 31):
            ctx.record_span("custom", f"c{n}")
    run = read_run(ctx.run_id)
    assert _names(run) == [f"c{n}" for n in range(1, 31)]
    assert (run["span_count"], run["result"]) == (30, {})


def test_a_cap_below_five_has_no_tail(
    read_run: Callable[[str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAXELL_MAX_SPANS_PER_RUN", "2")
    with WaxellContext("tiny-cap", enforce_policy=False) as ctx:
        for n in range(1, 6):
            ctx.record_span("chain", f"c{n}")
    run = read_run(ctx.run_id)
    assert _names(run) == ["c1", "c2"]
    assert run["result"]["_span_cap_hit"] == {
        "buffered": 5,
        "kept": 2,
        "dropped": 3,
        "cap": 2,
        "dropped_by_kind": {"chain": 3},
        "strategy": "priority_sampled",
    }


@pytest.mark.parametrize(("value", "expected"), [("", 50_000), (" 7 ", 7), ("0", 0)])
def test_the_cap_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str, expected: int) -> None:
    monkeypatch.setenv("WAXELL_MAX_SPANS_PER_RUN", value)
    assert span_cap.max_spans() == expected


@pytest.mark.parametrize("value", ["lots", "-3", "2.5"])
def test_a_bad_cap_is_reported_and_the_default_applies(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    monkeypatch.setenv("WAXELL_MAX_SPANS_PER_RUN", value)
    span_cap._warned.discard(value)
    with caplog.at_level(logging.ERROR, logger="waxell_observe"):
        assert span_cap.max_spans() == 50_000
    assert caplog.messages == [
        "waxell-observe: WAXELL_MAX_SPANS_PER_RUN must be a non-negative integer (0 = no cap),"
        f" got {value!r}; using 50000"
    ]
