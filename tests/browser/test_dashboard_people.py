"""Issue 12 in Chromium: a run with an approval round, human turns and a pause — the human turns and
the approval appear in the Context tab's conversation timeline, and its cards keep the paused time
out of the agent's active time (the read API's ``active_ms`` / ``paused_ms``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_server import Server, record_into, start_server, stop_server
from dashboard_ui import card_value, goto
from playwright.sync_api import expect

from waxell_observe import WaxellContext
from waxell_observe.config import db_url_from

pytestmark = pytest.mark.browser


def fmt_duration(ms: float) -> str:
    """format.js fmtDuration, below a minute."""
    if ms < 1:
        return "0 ms" if ms == 0 else f"{ms:.2f} ms"
    if ms < 1000:
        return f"{round(ms)} ms"
    return f"{ms / 1000:.{2 if ms < 10000 else 1}f} s"


def _record() -> str:
    with WaxellContext(agent_name="refund-agent", enforce_policy=False) as ctx:
        ctx.record_user_message("Please refund order 77")
        ctx.record_approval_request(
            action_type="refund",
            approvers=["cfo"],
            timeout_minutes=10,
            reason="Refunds over $500 need approval",
        )
        with ctx.pause("awaiting_approval", ticket="T-9"):
            time.sleep(0.3)
        ctx.record_human_interaction(
            prompt="Approve refund of $700?",
            response="yes, go ahead",
            channel="slack",
            action="approval",
            elapsed_ms=1500,
        )
        ctx.record_approval_response(
            action_type="refund", decision="approved", approver="cfo", elapsed_seconds=1.5
        )
        ctx.record_agent_response("Refunded $700.")
    return ctx.run_id


@pytest.fixture(scope="module")
def people_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    db = str(tmp_path_factory.mktemp("people") / "observe.db")
    run_id = record_into(db, _record)
    server = start_server(db_url_from(db))
    yield server, run_id
    stop_server(server)


def test_human_turns_and_approvals_in_the_conversation_and_active_time(
    page_factory: Callable[..., Any], people_server: tuple[Server, str], shot: Callable[[Any, str], Path]
) -> None:
    server, run_id = people_server
    run = httpx.get(f"{server.url}/api/v1/read/runs/{run_id}/", timeout=10).json()
    pause = next(s for s in run["spans"] if s["name"] == "paused")
    assert run["paused_ms"] == pytest.approx(pause["duration_ms"], abs=0.002)
    assert pause["duration_ms"] >= 300.0
    assert run["active_ms"] == pytest.approx(run["duration_ms"] - run["paused_ms"], abs=0.002)

    page = page_factory(server)
    goto(page, server, f"/runs/{run_id}?tab=context")
    thread = page.get_by_test_id("conversation-timeline").locator(".convo-item")
    assert thread.evaluate_all("items => items.map(i => i.dataset.kind)") == [
        "user_message", "approval", "pause", "human", "approval", "agent_response",
    ]  # fmt: skip
    human = thread.nth(3)
    expect(human.locator(".convo-who")).to_have_text("Human · slack · approval")
    expect(human.locator(".convo-asked")).to_have_text("asked Approve refund of $700?")
    expect(human.locator(".convo-text")).to_have_text("yes, go ahead")
    expect(human.locator(".convo-stats")).to_have_text("answered in 1.50 s")
    expect(thread.nth(1).locator(".convo-who")).to_have_text("Approval requested · refund")
    expect(thread.nth(1)).to_contain_text("Refunds over $500 need approval")
    expect(thread.nth(1)).to_contain_text("approvers: cfo · timeout 10 min")
    expect(thread.nth(2)).to_contain_text("awaiting_approval · " + fmt_duration(pause["duration_ms"]))
    expect(thread.nth(4).locator(".convo-who")).to_have_text("Approval · refund")
    expect(thread.nth(4).locator(".convo-text")).to_have_text("approved by cfo after 1.50 s")

    assert card_value(page, "ctx-active-time") == fmt_duration(run["active_ms"])
    expect(page.get_by_test_id("ctx-active-time").locator(".card-sub")).to_have_text(
        "of " + fmt_duration(run["duration_ms"]) + " (pauses excluded)"
    )
    assert card_value(page, "ctx-paused-time") == fmt_duration(run["paused_ms"])
    assert card_value(page, "ctx-human-turns") == "1"
    expect(page.get_by_test_id("ctx-human-turns").locator(".card-sub")).to_have_text(
        "1.50 s of people's time"
    )
    shot(page, "run-context-people")
