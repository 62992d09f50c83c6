"""Calls outside runs: LLM calls made while no run is active become automatic ``auto:{model}`` runs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import waxell_observe
from waxell_observe import WaxellContext, calls_outside_runs
from waxell_observe.integration_api import record_llm_call
from waxell_observe.plugins import plugin_manager

ReadRun = Callable[[str], dict[str, Any]]
ReadRuns = Callable[..., list[dict[str, Any]]]


@pytest.fixture(autouse=True)
def fresh_collector() -> Iterator[None]:
    """Each test starts with an empty collector and leaves no timer thread behind."""
    calls_outside_runs.on_shutdown(timeout=5)
    calls_outside_runs._state = calls_outside_runs._State()
    yield
    calls_outside_runs.on_shutdown(timeout=5)
    calls_outside_runs._state = calls_outside_runs._State()


def auto_runs(read_runs: ReadRuns, read_run: ReadRun) -> dict[str, dict[str, Any]]:
    return {r["agent_name"]: read_run(r["run_id"]) for r in read_runs(workflow_name="auto")}


def test_collector_is_a_registered_plugin() -> None:
    assert plugin_manager().get_plugin("collector") is calls_outside_runs


def test_calls_outside_a_run_are_written_as_auto_runs_on_flush(
    read_runs: ReadRuns, read_run: ReadRun
) -> None:
    record_llm_call(model="gpt-4o", tokens_in=100, tokens_out=20, task="summarize", duration_ms=250)
    record_llm_call(model="claude-sonnet-4", tokens_in=50, tokens_out=5)
    record_llm_call(model="gpt-4o", tokens_in=300, tokens_out=40)
    assert calls_outside_runs.pending() == 3

    report = waxell_observe.flush_sync(timeout=30)
    assert calls_outside_runs.pending() == 0
    assert report.sinks["collector"].sent == 3
    assert report.sinks["collector"].dropped == 0

    runs = auto_runs(read_runs, read_run)
    assert sorted(runs) == ["auto:claude-sonnet-4", "auto:gpt-4o"]
    gpt = runs["auto:gpt-4o"]
    assert gpt["workflow_name"] == "auto"
    assert gpt["status"] == "success"
    assert gpt["auto_collected"] is True
    assert gpt["metadata"] == {"auto_collected": True, "call_count": 2}
    assert gpt["parent_run_id"] == ""
    assert [
        (c["model"], c["tokens_in"], c["tokens_out"], c["task"], c["provider"]) for c in gpt["llm_calls"]
    ] == [
        ("gpt-4o", 100, 20, "summarize", "openai"),
        ("gpt-4o", 300, 40, "", "openai"),
    ]
    assert gpt["llm_calls"][0]["duration_ms"] == 250
    assert gpt["total_tokens"] == 460
    assert gpt["llm_call_count"] == 2
    # the run starts with its first call, not at the write
    assert gpt["started_at"] <= gpt["llm_calls"][0]["started_at"]
    claude = runs["auto:claude-sonnet-4"]
    assert claude["metadata"] == {"auto_collected": True, "call_count": 1}
    assert claude["llm_calls"][0]["provider"] == "anthropic"


def test_inside_a_run_calls_go_to_the_run_not_the_collector(read_runs: ReadRuns, read_run: ReadRun) -> None:
    with WaxellContext(agent_name="agent") as ctx:
        record_llm_call(model="gpt-4o-mini", tokens_in=10, tokens_out=2)
    assert calls_outside_runs.pending() == 0
    assert [r["agent_name"] for r in read_runs()] == ["agent"]
    assert read_run(ctx.run_id)["llm_call_count"] == 1


def test_flush_from_inside_a_run_does_not_parent_the_auto_run(read_runs: ReadRuns, read_run: ReadRun) -> None:
    record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1)
    with WaxellContext(agent_name="busy") as ctx:
        waxell_observe.flush_sync(timeout=30)
        assert waxell_observe.get_current_context() is ctx
    auto = auto_runs(read_runs, read_run)["auto:gpt-4o"]
    assert auto["parent_run_id"] == ""
    assert read_run(ctx.run_id)["steps"] == []


def test_the_timer_writes_without_a_flush(monkeypatch: pytest.MonkeyPatch, waxell_db: Path) -> None:
    from waxell_observe.store import get_store
    from waxell_observe.store.reader import RunFilter, list_runs

    monkeypatch.setattr(calls_outside_runs, "INTERVAL_SECONDS", 0.05)
    record_llm_call(model="gpt-4o", tokens_in=7, tokens_out=3)
    assert [t.name for t in threading.enumerate()].count("waxell-collector") == 1

    store = get_store(f"sqlite:///{waxell_db}")
    deadline = time.monotonic() + 20
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not found:
        time.sleep(0.05)
        try:
            with store.read() as conn:
                found = [
                    r for r in list_runs(conn, RunFilter(workflow_name="auto")) if r["status"] == "success"
                ]
        except Exception:  # noqa: BLE001 - the schema may not exist until the first write
            found = []
    assert [r["agent_name"] for r in found] == ["auto:gpt-4o"]
    assert calls_outside_runs.pending() == 0


def test_an_automatic_run_takes_at_most_its_cap_and_the_next_call_opens_another(
    monkeypatch: pytest.MonkeyPatch, read_runs: ReadRuns, read_run: ReadRun
) -> None:
    monkeypatch.setattr(calls_outside_runs, "MAX_CALLS_PER_RUN", 3)
    for i in range(5):
        record_llm_call(model="gpt-4o", tokens_in=i, tokens_out=0)
    assert calls_outside_runs.pending() == 2  # the first run ended at its cap; the second holds 2
    report = waxell_observe.flush_sync(timeout=30)
    assert (report.sinks["collector"].sent, report.sinks["collector"].dropped) == (5, 0)
    assert report.sinks["collector"].pending == 0
    runs = sorted(
        (read_run(r["run_id"]) for r in read_runs(workflow_name="auto")), key=lambda r: r["started_at"]
    )
    assert [[c["tokens_in"] for c in run["llm_calls"]] for run in runs] == [[0, 1, 2], [3, 4]]
    assert [run["metadata"]["call_count"] for run in runs] == [3, 2]
    assert [run["status"] for run in runs] == ["success", "success"]


def test_a_call_with_a_field_the_run_refuses_is_counted_and_the_others_are_kept(
    caplog: pytest.LogCaptureFixture, read_runs: ReadRuns, read_run: ReadRun
) -> None:
    record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1)
    with caplog.at_level(logging.WARNING, logger="waxell_observe"):
        calls_outside_runs.collect({"model": "gpt-4o", "tokens_in": 2, "tokens_out": 2, "no_such_field": 1})
    record_llm_call(model="gpt-4o", tokens_in=3, tokens_out=3)
    assert "auto-collected call of gpt-4o not recorded" in caplog.text
    report = waxell_observe.flush_sync(timeout=30)
    assert (report.sinks["collector"].sent, report.sinks["collector"].dropped) == (2, 1)
    run = auto_runs(read_runs, read_run)["auto:gpt-4o"]
    assert [c["tokens_in"] for c in run["llm_calls"]] == [1, 3]
    assert run["metadata"]["call_count"] == 2


def test_shutdown_writes_and_stops_the_timer(read_runs: ReadRuns, read_run: ReadRun) -> None:
    record_llm_call(model="gpt-4o", tokens_in=5, tokens_out=5)
    assert calls_outside_runs._state.thread is not None
    thread = calls_outside_runs._state.thread
    waxell_observe.shutdown(timeout=30)
    assert not thread.is_alive()
    assert calls_outside_runs._state.thread is None
    assert list(auto_runs(read_runs, read_run)) == ["auto:gpt-4o"]
    # recording afterwards starts it again
    record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1)
    assert calls_outside_runs._state.thread is not None and calls_outside_runs._state.thread.is_alive()


def test_invalid_calls_are_rejected_clearly(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match="an LLM call needs a model name"):
        calls_outside_runs.collect({"tokens_in": 1, "tokens_out": 1})
    with pytest.raises(ValueError, match="needs tokens_out as a non-negative integer, got -1"):
        calls_outside_runs.collect({"model": "m", "tokens_in": 1, "tokens_out": -1})
    with pytest.raises(ValueError, match="needs the LLM call's fields as a dict"):
        calls_outside_runs.collect(["model"])  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="waxell_observe"):
        record_llm_call(model="", tokens_in=1, tokens_out=1)  # integrations never see the error
    assert "failed to record an LLM call reported by an integration" in caplog.text
    assert calls_outside_runs.pending() == 0


def test_conversation_fields_reach_the_auto_run(read_runs: ReadRuns, read_run: ReadRun) -> None:
    record_llm_call(
        model="gpt-4o",
        tokens_in=20,
        tokens_out=8,
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}],
        response_text="hello!",
        finish_reason="stop",
    )
    run = auto_runs(read_runs, read_run)["auto:gpt-4o"]
    assert run["conversation"]["user_turns"] == 1
    assert run["conversation"]["message_count"] == 2
    assert [(s["name"], s["input"], s["output"]) for s in run["spans"]] == [
        ("user_message", "hi there", None),
        ("agent_response", None, "hello!"),
    ]


def test_disabled_sdk_buffers_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from waxell_observe.config import set_config

    monkeypatch.setenv("WAXELL_OBSERVE", "false")
    set_config(None)
    record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1)
    assert calls_outside_runs.pending() == 0
    assert calls_outside_runs._state.thread is None


def test_an_automatic_run_starts_when_its_first_call_started() -> None:
    """Its start is journaled (and delivered to a control plane, which keeps the start of
    ``runs/start/``) with the first call's start, not the time the run was opened."""
    started = time.time() - 30
    record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1, started_at=started)
    [open_run] = calls_outside_runs._state.open.values()
    run = open_run.context.run
    assert run is not None and run.started_at == started
