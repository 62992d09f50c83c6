"""Sessions, users, costs and policies in Chromium, compared with the store; phone width;
keyboard navigation of the shell."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import httpx
import pytest
from dashboard_expect import fmt_cost, fmt_int, fmt_tokens, store_run, store_runs
from dashboard_ui import card_value, goto, rendered
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def cells(table: Any, first: int = 0, last: int | None = None) -> list[list[str]]:
    rows = table.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    return [row[first:last] for row in rows]


def test_sessions(page: Any, dashboard: Any, samples: Any, shot: Any) -> None:
    runs = store_runs(dashboard.store_url)
    by_session: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        if run["session_id"]:
            by_session[run["session_id"]].append(run)
    goto(page, dashboard, "/sessions")
    table = page.get_by_test_id("sessions-table")
    shown = {row[0]: row for row in cells(table, 0, 4)}
    assert set(shown) == set(by_session) == {"sess-alpha", "sess-0", "sess-1", "sess-2"}
    for session_id, row in shown.items():
        members = by_session[session_id]
        assert row[1] == str(len(members))
        assert row[2] == fmt_tokens(sum(r["total_tokens"] for r in members))
        assert row[3] == fmt_cost(sum(r["total_cost"] for r in members))
    shot(page, "sessions")

    page.get_by_role("link", name="sess-alpha", exact=True).first.click()
    rendered(page, "#/sessions/sess-alpha")
    alpha = sorted(by_session["sess-alpha"], key=lambda r: r["started_at"])
    assert card_value(page, "session-runs") == "3"
    assert card_value(page, "session-cost") == fmt_cost(sum(r["total_cost"] for r in alpha))
    thread = page.get_by_test_id("conversation-timeline").locator(".convo-item")
    assert thread.evaluate_all(
        "items => items.map(i => [i.dataset.kind, i.querySelector('.convo-text').textContent])"
    ) == [
        ["user_message", "My invoice #4411 is wrong, can you fix it?"],
        ["agent_response", "I refunded the shipping charge of $12."],
        ["user_message", "Summarise the findings please"],
        ["agent_response", "Here is the summary of three sources."],
    ]
    expect(thread.nth(0).locator("a")).to_have_text(samples.support[-8:])
    assert [row[2] for row in cells(page.get_by_test_id("session-runs-table"))] == [
        r["agent_name"] for r in alpha
    ]
    bars = page.get_by_test_id("session-cost-chart").locator("rect.chart-bar title").all_text_contents()
    assert bars == [
        f"#{i} {r['agent_name']}: {fmt_cost(r['total_cost'])} · {fmt_int(r['total_tokens'])} tokens"
        for i, r in enumerate(alpha, 1)
    ]
    shot(page, "session")


def test_users(page: Any, dashboard: Any, samples: Any, shot: Any) -> None:
    runs = store_runs(dashboard.store_url)
    users = {r["user_id"] for r in runs if r["user_id"]}
    goto(page, dashboard, "/users")
    table = page.get_by_test_id("users-table")
    assert (
        {row[0] for row in cells(table)}
        == users
        == {"alice", "bob", "carol", "dave", "erin", "<i>mallory</i>"}
    )
    alice_runs = [r for r in runs if r["user_id"] == "alice"]
    alice_row = next(row for row in cells(table) if row[0] == "alice")
    assert alice_row[1:4] == [
        "3",
        fmt_tokens(sum(r["total_tokens"] for r in alice_runs)),
        fmt_cost(sum(r["total_cost"] for r in alice_runs)),
    ]
    shot(page, "users")

    page.get_by_role("link", name="alice", exact=True).first.click()
    rendered(page, "#/users/alice")
    by_model: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
    for run in alice_runs:
        for call in store_run(dashboard.store_url, run["run_id"])["llm_calls"]:
            entry = by_model[call["model"]]
            entry[0] += 1
            entry[1] += call["tokens_in"]
            entry[2] += call["tokens_out"]
            entry[3] += call["cost"]
    shown = {row[0]: row[1:] for row in cells(page.get_by_test_id("user-models-table"))}
    assert set(shown) == set(by_model) == {"gpt-4o", "claude-sonnet-4-5", "gpt-4o-mini"}
    for model, (calls, tokens_in, tokens_out, cost) in by_model.items():
        assert shown[model] == [str(calls), fmt_tokens(tokens_in), fmt_tokens(tokens_out), fmt_cost(cost)]
    labels = page.get_by_test_id("user-model-chart").locator("text.chart-label").all_text_contents()
    assert sorted(labels) == sorted(by_model)
    assert card_value(page, "user-runs") == "3"
    assert len(cells(page.get_by_test_id("user-runs-table"))) == 3
    shot(page, "user")


def test_costs(page: Any, dashboard: Any, shot: Any) -> None:
    runs = store_runs(dashboard.store_url)
    calls = [c for r in runs for c in store_run(dashboard.store_url, r["run_id"])["llm_calls"]]
    by_model: dict[str, float] = defaultdict(float)
    for call in calls:
        by_model[call["model"]] += call["cost"]
    by_agent: dict[str, float] = defaultdict(float)
    for run in runs:
        by_agent[run["agent_name"]] += run["total_cost"]
    goto(page, dashboard, "/costs")
    reply = httpx.get(f"{dashboard.url}/api/v1/read/costs/").json()
    assert {m["model"]: m["cost"] for m in reply["by_model"]} == pytest.approx(by_model)
    assert card_value(page, "costs-total") == fmt_cost(reply["total_cost"])
    assert reply["total_cost"] == pytest.approx(sum(r["total_cost"] for r in runs))
    model_bars = page.get_by_test_id("chart-by-model").locator("rect.chart-bar title").all_text_contents()
    assert [title.split(" · ")[0] for title in model_bars] == [
        f"{m['model']}: {fmt_cost(m['cost'])}" for m in sorted(reply["by_model"], key=lambda m: -m["cost"])
    ]
    agent_labels = page.get_by_test_id("chart-by-agent").locator("rect.chart-bar title").all_text_contents()
    assert {title.split(": $")[0].split(": ")[0] for title in agent_labels} == set(by_agent)
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    day_bars = page.get_by_test_id("chart-by-day").locator("rect.chart-bar title").all_text_contents()
    assert len(day_bars) == 31  # the last 30 days and today, empty days drawn as zero
    assert day_bars[-1] == f"{today}: {fmt_cost(reply['by_day'][-1]['cost'])} · {len(runs)} runs"
    shot(page, "costs")

    page.get_by_role("button", name="Tokens").click()
    rendered(page, "#/costs?metric=tokens")
    day_bars = page.get_by_test_id("chart-by-day").locator("rect.chart-bar title").all_text_contents()
    assert day_bars[-1] == f"{today}: {fmt_tokens(sum(r['total_tokens'] for r in runs))} · {len(runs)} runs"
    page.get_by_test_id("costs-range").select_option("24h")
    rendered(page, "#/costs?metric=tokens&range=24h")
    expect(page.get_by_test_id("chart-by-model")).to_be_visible()


def test_policies_and_audit_log(page: Any, dashboard: Any, samples: Any, shot: Any) -> None:
    goto(page, dashboard, "/policies")
    policies = httpx.get(f"{dashboard.url}/api/v1/read/policies/").json()["policies"]
    assert [p["name"] for p in policies] == ["daily-budget", "models"]
    cards = page.get_by_test_id("policy-card")
    assert cards.locator("h3").all_inner_texts() == ["daily-budget", "models"]
    assert cards.locator(".policy-head").all_inner_texts() == [
        "daily-budget\nbudget\nenabled",
        "models\nllm\ndisabled",
    ]
    facts = cards.nth(0).locator(".kv")
    assert dict(
        zip(facts.locator("dt").all_inner_texts(), facts.locator("dd").all_inner_texts(), strict=True)
    ) == {
        "Scope": "agents: support-*",
        "Priority": "10",
        "daily_cost_limit": "25",
        "warning_threshold_percent": "80",
        "action_on_exceed": "block",
    }
    facts = cards.nth(1).locator(".kv")
    assert dict(
        zip(facts.locator("dt").all_inner_texts(), facts.locator("dd").all_inner_texts(), strict=True)
    ) == {
        "Scope": "everything",
        "Priority": "100",
        "allowed_models": '["gpt-4o-mini"]',
        "action_on_violation": "block",
        "action_on_token_violation": "warn",
    }
    rows = cells(page.get_by_test_id("audit-table"), 1, 8)
    assert rows == [
        [
            "policy_decision",
            "budget",
            "budget",
            "block",
            "mid_execution",
            "support-bot",
            samples.support[-8:],
        ],
        [
            "policy_decision",
            "pii-guard",
            "content",
            "warn",
            "pre_execution",
            "support-bot",
            samples.support[-8:],
        ],
    ]
    shot(page, "policies")
    page.get_by_test_id("audit-action").select_option("warn")
    rendered(page, "#/policies?action=warn")
    assert [row[2] for row in cells(page.get_by_test_id("audit-table"))] == ["pii-guard"]
    page.get_by_role("link", name=samples.support[-8:]).click()
    rendered(page, f"#/runs/{samples.support}")


def test_phone_width(page_factory: Any, dashboard: Any, samples: Any, shot: Any) -> None:
    page = page_factory(dashboard, width=390, height=844)
    for name, hash_ in [
        ("phone-runs", "/runs"),
        ("phone-run-context", f"/runs/{samples.support}?tab=context"),
        ("phone-costs", "/costs"),
        ("phone-session", "/sessions/sess-alpha"),
    ]:
        goto(page, dashboard, hash_)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow == 0, f"{hash_} is wider than a phone screen by {overflow}px"
        shot(page, name)
    expect(page.get_by_test_id("gauge-value")).to_have_count(0)  # the costs page has no gauge
    goto(page, dashboard, f"/runs/{samples.support}?tab=context")
    assert page.get_by_test_id("gauge-value").text_content() == "3.3%"


def test_keyboard_navigation(page: Any, dashboard: Any, samples: Any) -> None:
    goto(page, dashboard, "/runs")
    # after a navigation the page heading has the focus, for screen readers
    assert page.evaluate("() => document.activeElement.textContent") == "Runs"
    first_stop = page.evaluate(
        "() => document.querySelector('a[href], button, input, select, [tabindex]:not([tabindex=\"-1\"])').id"
    )
    assert first_stop == "skip-link"
    page.locator("#skip-link").focus()
    expect(page.locator("#skip-link")).to_be_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    assert page.url.endswith("#/runs")  # the skip link does not disturb the route
    # the navigation links are reachable in order and activate with Enter
    page.locator("a.brand").focus()
    names = []
    for _ in range(5):
        page.keyboard.press("Tab")
        names.append(page.evaluate("() => document.activeElement.textContent"))
    assert names == ["Runs", "Sessions", "Users", "Costs", "Policies"]
    page.keyboard.press("Enter")
    rendered(page, "#/policies")
    assert page.evaluate("() => document.activeElement.tagName") == "H1"
    outline = page.evaluate(
        "() => { const a = document.querySelector('[data-nav=costs]'); a.focus(); return "
        "getComputedStyle(a).outlineStyle; }"
    )
    assert outline != "none"


def test_unknown_pages_and_runs_say_so(page_factory: Any, dashboard: Any) -> None:
    # the browser logs the 404 reply itself as a console error
    page = page_factory(dashboard, allow_console=("status of 404",))
    goto(page, dashboard, "/runs/no-such-run")
    expect(page.get_by_role("alert")).to_have_text(
        "Could not load this page (HTTP 404): unknown run 'no-such-run'"
    )
    goto(page, dashboard, "/sessions/no-such-session")
    expect(page.get_by_role("alert")).to_contain_text("(HTTP 404)")
    page.goto(dashboard.url + "/#/nowhere")
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.get_by_role("link", name="Go to runs")).to_be_visible()
    page.goto(dashboard.url + "/")
    rendered(page, "#/runs")  # the root address shows the runs
