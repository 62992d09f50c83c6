"""The runs page in Chromium: what it lists against the store, filters, sort, pagination,
totals, auto-refresh, and user-supplied strings that must stay text."""

from __future__ import annotations

from typing import Any

import pytest
from dashboard_expect import fmt_cost, fmt_tokens, store_runs, store_totals
from dashboard_samples import XSS_AGENT, XSS_TAG_VALUE
from dashboard_ui import card_value, goto, rendered
from playwright.sync_api import expect

from waxell_observe import WaxellContext
from waxell_observe.config import db_url_from

pytestmark = pytest.mark.browser

ROWS = "[data-testid=runs-table] tbody tr"


def open_runs(page: Any, server: Any, query: str = "") -> None:
    goto(page, server, "/runs" + query)


def clear(page: Any) -> None:
    page.get_by_role("link", name="Clear").click()
    rendered(page, "#/runs")


def shown_ids(page: Any) -> list[str]:
    return page.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.runId)")


def wait_for_ids(page: Any, expected: list[str]) -> None:
    """Wait for the page of the current address to be drawn, then compare the runs it lists."""
    rendered(page)
    if expected:
        expect(page.locator(ROWS)).to_have_count(len(expected))
    else:
        expect(page.get_by_test_id("runs-table-empty")).to_be_visible()
    assert shown_ids(page) == expected


def test_runs_page_lists_the_store_with_totals(page: Any, dashboard: Any, shot: Any) -> None:
    open_runs(page, dashboard)
    expected = store_runs(dashboard.store_url)
    assert len(expected) == 11
    assert shown_ids(page) == [r["run_id"] for r in expected]
    totals = store_totals(dashboard.store_url)
    assert card_value(page, "total-runs") == "11"
    assert card_value(page, "total-tokens") == fmt_tokens(totals["tokens"]) == "15.3k"
    assert card_value(page, "total-cost") == fmt_cost(totals["cost"])
    assert card_value(page, "total-error-rate") == totals["error_rate_pct"] == "9.1%"
    first = page.locator(ROWS).first
    assert first.locator("td").nth(1).inner_text() == expected[0]["agent_name"]
    assert page.get_by_test_id("pager-info").inner_text() == "1–11 of 11 runs · page 1 of 1"
    assert page.title() == "Runs · waxell observe"
    shot(page, "runs")


def test_runs_filters(page: Any, dashboard: Any, samples: Any, shot: Any) -> None:
    url = dashboard.store_url
    open_runs(page, dashboard)

    page.get_by_test_id("filter-agent").fill("support-bot")
    page.get_by_test_id("apply-filters").click()
    wait_for_ids(page, [r["run_id"] for r in store_runs(url, agent_name="support-bot")])
    assert len(shown_ids(page)) == 4
    assert "agent_name=support-bot" in page.url
    assert card_value(page, "total-runs") == "4"

    clear(page)
    wait_for_ids(page, [r["run_id"] for r in store_runs(url)])

    page.get_by_test_id("filter-status").select_option("error")  # applies on change
    wait_for_ids(page, [samples.failing])
    assert card_value(page, "total-error-rate") == "100.0%"
    shot(page, "runs-filter-error")

    clear(page)
    page.get_by_test_id("filter-tag").fill("team:billing")
    page.get_by_test_id("filter-session_id").fill("sess-alpha")
    page.get_by_test_id("apply-filters").click()
    wait_for_ids(page, [samples.support])

    clear(page)
    page.get_by_test_id("filter-session_id").fill("sess-alpha")
    page.get_by_test_id("apply-filters").click()
    wait_for_ids(page, [r["run_id"] for r in store_runs(url, session_id="sess-alpha")])
    assert len(shown_ids(page)) == 3

    page.get_by_test_id("filter-user_id").fill("alice")
    page.get_by_test_id("filter-user_group").fill("pro")
    page.get_by_test_id("apply-filters").click()
    wait_for_ids(page, [samples.support])

    clear(page)
    page.get_by_test_id("filter-workflow_name").fill("nightly")
    page.get_by_test_id("apply-filters").click()
    wait_for_ids(page, [samples.failing])

    clear(page)
    page.get_by_label("Top-level runs only").check()
    wait_for_ids(page, [r["run_id"] for r in store_runs(url, roots_only=True)])
    assert samples.child not in shown_ids(page) and len(shown_ids(page)) == 10

    # time range: a custom window in the future is empty, one around now holds everything
    clear(page)
    page.get_by_test_id("filter-range").select_option("custom")
    page.get_by_label("From").fill("2099-01-01T00:00:00")
    page.get_by_test_id("apply-filters").click()
    wait_for_ids(page, [])
    page.get_by_label("From").fill("2000-01-01T00:00:00")
    page.get_by_test_id("apply-filters").click()
    wait_for_ids(page, [r["run_id"] for r in store_runs(url)])
    page.get_by_test_id("filter-range").select_option("1h")
    wait_for_ids(page, [r["run_id"] for r in store_runs(url)])


def test_runs_sort_and_pagination(page: Any, dashboard: Any) -> None:
    url = dashboard.store_url
    open_runs(page, dashboard)
    page.get_by_test_id("sort-by").select_option("total_cost")
    page.wait_for_function("() => location.hash.includes('order_by=total_cost')")
    wait_for_ids(page, [r["run_id"] for r in store_runs(url, order_by="total_cost")])
    page.get_by_test_id("sort-order").select_option("asc")
    page.wait_for_function("() => location.hash.includes('order=asc')")
    ascending = [r["run_id"] for r in store_runs(url, order_by="total_cost", descending=False)]
    wait_for_ids(page, ascending)
    costs = [r["total_cost"] for r in store_runs(url, order_by="total_cost", descending=False)]
    assert costs == sorted(costs)

    newest = [r["run_id"] for r in store_runs(url)]
    open_runs(page, dashboard, "?limit=4")
    assert page.get_by_test_id("pager-info").inner_text() == "1–4 of 11 runs · page 1 of 3"
    assert shown_ids(page) == newest[:4]
    page.get_by_role("button", name="Next ›").click()
    expect(page.get_by_test_id("pager-info")).to_have_text("5–8 of 11 runs · page 2 of 3")
    assert shown_ids(page) == newest[4:8]
    page.get_by_role("button", name="Last page").click()
    expect(page.get_by_test_id("pager-info")).to_have_text("9–11 of 11 runs · page 3 of 3")
    assert shown_ids(page) == newest[8:]
    assert page.get_by_role("button", name="Next ›").is_disabled()
    page.get_by_role("button", name="‹ Previous").click()
    expect(page.get_by_test_id("pager-info")).to_have_text("5–8 of 11 runs · page 2 of 3")
    # totals are for the whole filter, not the page
    assert card_value(page, "total-runs") == "11"


def test_auto_refresh_shows_new_runs(page_factory: Any, tmp_path: Any) -> None:
    from dashboard_server import record_into, start_server, stop_server

    db = str(tmp_path / "refresh.db")
    server = start_server(db_url_from(db))  # a store of its own: this test adds a run
    try:
        page = page_factory(server)
        open_runs(page, server)
        wait_for_ids(page, [])
        page.get_by_test_id("auto-refresh").check()

        def record() -> str:
            with WaxellContext(agent_name="late-agent", enforce_policy=False) as ctx:
                ctx.record_llm_call(model="gpt-4o", tokens_in=100, tokens_out=10)
                return ctx.run_id

        run_id = record_into(db, record)
        expect(page.locator(ROWS)).to_have_count(1, timeout=15_000)  # the page refreshes every 5 s
        assert shown_ids(page) == [run_id]
        assert card_value(page, "total-runs") == "1"
        assert (
            card_value(page, "total-cost")
            == fmt_cost(store_runs(db_url_from(db))[0]["total_cost"])
            == "$0.00035"
        )
        page.get_by_test_id("auto-refresh").uncheck()
    finally:
        stop_server(server)


def test_user_supplied_markup_stays_text(page: Any, dashboard: Any, samples: Any, shot: Any) -> None:
    open_runs(page, dashboard, "?user_id=" + "%3Ci%3Emallory%3C%2Fi%3E")
    wait_for_ids(page, [samples.xss])
    row = page.locator(ROWS).first
    assert row.get_by_test_id("run-link").inner_text() == XSS_AGENT
    assert row.locator(".chip").inner_text() == "label: " + XSS_TAG_VALUE
    assert row.locator("td").nth(9).inner_text() == "<i>mallory</i>"
    assert page.locator("main script, main img, main i, main b, main svg[onload]").count() == 0
    assert page.evaluate("window.__xss") is None
    shot(page, "runs-xss")

    row.get_by_test_id("run-link").click()
    expect(page.locator("h1")).to_have_text(XSS_AGENT)
    assert page.title() == XSS_AGENT + " run · waxell observe"
    page.locator("[data-kind=tool] .tl-head").click()
    expect(page.locator("[data-kind=tool] .tl-name")).to_have_text("<svg onload=alert(1)>")
    expect(page.locator("[data-kind=tool] .tl-detail")).to_contain_text("Input<script>1</script>Output")
    expect(page.locator("[data-kind=io] .tl-summary")).to_have_text("<script>window.__xss = 3</script>hello")
    expect(page.locator(".run-metadata dd")).to_have_text("<b>bold?</b>")
    page.get_by_role("tab", name="Context").click()
    expect(page.get_by_test_id("conversation-timeline")).to_contain_text(
        "<script>window.__xss = 3</script>hello"
    )
    assert page.locator("main script, main img, main i, main b").count() == 0
    assert page.evaluate("window.__xss") is None
    shot(page, "run-xss")
