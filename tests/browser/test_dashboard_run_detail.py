"""One run in Chromium: header, trace timeline (against the store), nested child runs, and the
Context, Scores, Governance and Raw tabs, driven with mouse and keyboard."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from dashboard_expect import fmt_cost, fmt_int, store_run
from dashboard_samples import SUPPORT_TOKENS_IN
from dashboard_ui import card_value, goto, rendered
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

KIND_ORDER = {
    "run": 0, "llm": 1, "step": 2, "tool": 3, "retrieval": 4, "decision": 5, "reasoning": 6, "retry": 7,
    "policy": 8, "io": 9, "chain": 10, "agent": 11, "custom": 12, "child": 13,
}  # fmt: skip


def _ms(iso: str) -> int:
    """An ISO time as JavaScript's Date sees it (whole milliseconds)."""
    t = dt.datetime.fromisoformat(iso)
    return int(t.replace(microsecond=0).timestamp()) * 1000 + t.microsecond // 1000


def expected_timeline(run: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, name) of the timeline rows of a stored run without nesting, in the order drawn."""
    rows = []
    for c in run["llm_calls"]:
        rows.append(
            (
                _ms(c["started_at"]),
                c["position"],
                "llm",
                c["model"] + (f" · {c['task']}" if c["task"] else ""),
            )
        )
    for s in run["spans"]:
        rows.append((_ms(s["started_at"]), s["position"], s["kind"], s["name"]))
    children = {c["run_id"] for c in run["children"]}
    for s in run["steps"]:
        output = s["output"] or {}
        if output.get("_kind") == "delegation" and output.get("child_run_id") in children:
            continue
        rows.append((_ms(s["started_at"]), s["position"], "step", s["name"]))
    for c in run["children"]:
        name = c["agent_name"] + (f" · {c['workflow_name']}" if c["workflow_name"] != "default" else "")
        rows.append((_ms(c["started_at"]), 0, "child", name))
    rows.sort(key=lambda r: (r[0], r[1], KIND_ORDER[r[2]]))
    return [(kind, name) for _, _, kind, name in rows]


def timeline_rows(page: Any) -> list[tuple[str, str]]:
    rows = page.locator("[data-testid=timeline-entry]").evaluate_all(
        "rows => rows.map(r => [r.dataset.kind, r.querySelector('.tl-name').textContent])"
    )
    return [tuple(row) for row in rows]


def test_run_header_and_timeline(page: Any, dashboard: Any, samples: Any, shot: Any) -> None:
    run = store_run(dashboard.store_url, samples.support)
    goto(page, dashboard, "/runs?agent_name=support-bot")
    page.locator(f"tr[data-run-id='{samples.support}'] [data-testid=run-link]").click()
    rendered(page, f"#/runs/{samples.support}")
    expect(page.locator("h1")).to_have_text("support-bot")
    assert card_value(page, "run-status") == "success"
    assert card_value(page, "run-tokens") == fmt_int(run["total_tokens"]) == "5,630"
    assert run["total_cost"] == pytest.approx(0.0158)
    assert card_value(page, "run-cost") == fmt_cost(run["total_cost"]) == "$0.0158"
    facts = dict(
        zip(
            page.locator(".run-meta > .kv > dt").all_inner_texts(),
            page.locator(".run-meta > .kv > dd").all_inner_texts(),
            strict=True,
        )
    )
    assert facts["Agent"] == "support-bot"
    assert facts["Workflow"] == "chat"
    assert facts["Session"] == "sess-alpha"
    assert facts["User"] == "alice"
    assert facts["User group"] == "pro"
    assert facts["Mode"] == "interactive"
    assert page.locator(".run-meta .chip").all_inner_texts() == ["env: prod", "team: billing"]
    assert page.locator(".run-metadata dt").all_inner_texts() == ["channel", "version"]
    assert page.locator(".run-metadata dd").all_inner_texts() == ["web", "2.1"]

    expected = expected_timeline(run)
    assert timeline_rows(page) == [("run", "support-bot · chat")] + expected
    kinds = [kind for kind, _ in expected]
    assert sorted(kinds) == sorted(
        [
            "llm",
            "llm",
            "tool",
            "retrieval",
            "decision",
            "reasoning",
            "retry",
            "policy",
            "policy",
            "io",
            "io",
            "step",
        ]
    )
    # bars are placed by start time and sized by duration: the 60 ms call is 1.5x the 40 ms one
    plan = page.locator("[data-kind=llm]", has_text="gpt-4o · plan").locator(".tl-bar")
    answer = page.locator("[data-kind=llm]", has_text="gpt-4o · answer").locator(".tl-bar")
    ratio = answer.bounding_box()["width"] / plan.bounding_box()["width"]
    assert ratio == pytest.approx(60 / 40, rel=0.05)
    assert answer.bounding_box()["x"] > plan.bounding_box()["x"]

    # expand with the mouse: the tool call's input and output
    tool = page.locator("[data-kind=tool]")
    tool.locator(".tl-head").click()
    expect(tool.locator(".tl-head")).to_have_attribute("aria-expanded", "true")
    detail = tool.locator(".tl-detail")
    expect(detail).to_contain_text('"invoice": 4411')
    expect(detail).to_contain_text('"status": "overcharged"')

    # and with the keyboard: Enter on an LLM call shows its previews
    head = page.locator("[data-kind=llm]", has_text="gpt-4o · answer").locator(".tl-head")
    head.focus()
    page.keyboard.press("Enter")
    llm = page.locator("[data-kind=llm]", has_text="gpt-4o · answer")
    expect(llm.locator(".tl-head")).to_have_attribute("aria-expanded", "true")
    expect(llm.locator(".tl-detail")).to_contain_text("tool result: overcharged")
    expect(llm.locator(".tl-detail")).to_contain_text("I refunded the shipping charge of $12.")
    expect(llm.locator(".tl-detail")).to_contain_text(f"{fmt_int(SUPPORT_TOKENS_IN[1])} in · 150 out")
    assert page.evaluate("() => document.activeElement.dataset.entry").startswith("llm:")

    # the policy decisions carry their action and phase
    policies = page.locator("[data-kind=policy] .tl-summary").all_inner_texts()
    assert policies == [
        "warn · pre_execution · email address in input",
        "block · mid_execution · daily budget reached",
    ]
    # the legend hides and shows a kind
    page.locator(".tl-filter[data-kind=policy]").click()
    expect(page.locator("[data-testid=timeline-entry][data-kind=policy]")).to_have_count(0)
    page.locator(".tl-filter[data-kind=policy]").click()
    expect(page.locator("[data-testid=timeline-entry][data-kind=policy]")).to_have_count(2)
    shot(page, "run-trace")


def test_nested_child_run(page: Any, dashboard: Any, samples: Any, shot: Any) -> None:
    parent = store_run(dashboard.store_url, samples.research)
    child = store_run(dashboard.store_url, samples.child)
    assert [c["run_id"] for c in parent["children"]] == [samples.child]
    goto(page, dashboard, f"/runs/{samples.research}")
    assert timeline_rows(page) == [("run", "research-agent · report")] + expected_timeline(parent)
    row = page.locator("[data-kind=child]")
    expect(row.locator(".tl-name")).to_have_text("web-searcher · search")
    row.locator(".tl-head").click()
    page.get_by_role("button", name="Show its trace here").click()
    nested = page.locator("[data-testid=timeline-entry].depth-1")
    expect(nested).to_have_count(len(expected_timeline(child)))
    assert nested.evaluate_all(
        "rows => rows.map(r => [r.dataset.kind, r.querySelector('.tl-name').textContent])"
    ) == [list(entry) for entry in expected_timeline(child)]
    shot(page, "run-child-trace")
    page.get_by_role("link", name="Open child run").click()
    rendered(page, f"#/runs/{samples.child}")
    expect(page.locator("h1")).to_have_text("web-searcher")
    facts = page.locator(".run-meta > .kv")
    expect(facts).to_contain_text("Parent run" + samples.research[-8:])
    assert timeline_rows(page) == [("run", "web-searcher · search")] + expected_timeline(child)


def test_context_tab_gauge_and_conversation(page: Any, dashboard: Any, samples: Any, shot: Any) -> None:
    run = store_run(dashboard.store_url, samples.support)
    conversation = run["conversation"]
    assert conversation["context_utilization_pct"] == 3.3  # 4,200 of gpt-4o's 128,000 tokens
    goto(page, dashboard, f"/runs/{samples.support}")
    page.get_by_role("tab", name="Context").click()
    gauge = page.get_by_test_id("context-gauge")
    expect(gauge).to_be_visible()
    assert page.get_by_test_id("gauge-value").text_content() == "3.3%"
    assert gauge.get_attribute("data-value") == "3.3"
    assert gauge.get_attribute("aria-label") == "Context window utilization 3.3%"
    assert card_value(page, "ctx-utilization") == "3.3%"
    assert card_value(page, "ctx-user-turns") == str(conversation["user_turns"]) == "1"
    assert card_value(page, "ctx-message-count") == str(conversation["message_count"]) == "4"
    # growth across the two LLM calls: 1,200 then 4,200 tokens of 128,000
    points = page.get_by_test_id("utilization-chart").locator("circle title").all_text_contents()
    assert points == [
        "Call 1 · gpt-4o · 1,200 tokens in · 0.9%",
        "Call 2 · gpt-4o · 4,200 tokens in · 3.3%",
    ]
    thread = page.get_by_test_id("conversation-timeline").locator(".convo-item")
    assert thread.evaluate_all("items => items.map(i => i.dataset.kind)") == [
        "user_message", "llm", "tool", "llm", "agent_response",
    ]  # fmt: skip
    expect(thread.nth(0)).to_contain_text("My invoice #4411 is wrong, can you fix it?")
    expect(thread.nth(1)).to_contain_text("context 0.9%")
    expect(thread.nth(3)).to_contain_text("context 3.3%")
    expect(thread.nth(4)).to_contain_text("I refunded the shipping charge of $12.")
    assert "tab=context" in page.url
    shot(page, "run-context")

    # tabs follow the arrow keys, Home and End
    page.get_by_role("tab", name="Context").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Memory 0")).to_have_attribute("aria-selected", "true")
    assert page.evaluate("() => document.activeElement.dataset.tab") == "memory"
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Scores 3")).to_have_attribute("aria-selected", "true")
    assert page.evaluate("() => document.activeElement.dataset.tab") == "scores"
    page.keyboard.press("End")
    expect(page.get_by_role("tab", name="Raw")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Trace")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("tab", name="Raw")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Home")
    expect(page.get_by_role("tab", name="Trace")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_test_id("timeline")).to_be_visible()


def test_scores_governance_and_raw_tabs(page: Any, dashboard: Any, samples: Any, shot: Any) -> None:
    run = store_run(dashboard.store_url, samples.support)
    goto(page, dashboard, f"/runs/{samples.support}?tab=scores")
    table = page.get_by_test_id("scores-table")
    expect(table).to_be_visible()
    rows = table.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].slice(0, 4).map(c => c.textContent))"
    )
    assert [s["name"] for s in run["scores"]] == ["helpfulness", "resolved", "sentiment"]
    assert rows == [
        ["helpfulness", "numeric", "0.85", "resolved on first contact"],
        ["resolved", "boolean", "true", "–"],
        ["sentiment", "categorical", "positive", "–"],
    ]
    shot(page, "run-scores")

    page.get_by_role("tab", name="Governance 2").click()
    table = page.get_by_test_id("governance-table")
    expect(table).to_be_visible()
    rows = table.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].slice(1, 6).map(c => c.textContent))"
    )
    stored = [
        (s["attributes"]["phase"], s["name"], s["attributes"]["action"])
        for s in run["spans"]
        if s["kind"] == "policy"
    ]
    assert stored == [("pre_execution", "pii-guard", "warn"), ("mid_execution", "budget", "block")]
    assert rows == [
        ["pre_execution", "pii-guard", "content", "warn", "email address in input"],
        ["mid_execution", "budget", "budget", "block", "daily budget reached"],
    ]
    shot(page, "run-governance")

    page.get_by_role("tab", name="Raw").click()
    raw = page.get_by_test_id("raw-json")
    expect(raw).to_be_visible()
    api = httpx.get(f"{dashboard.url}/api/v1/read/runs/{samples.support}/").json()
    assert json.loads(raw.text_content()) == api
    assert api["run_id"] == samples.support and len(api["llm_calls"]) == 2
    expect(page.get_by_role("link", name="Download")).to_have_attribute(
        "download", f"run-{samples.support}.json"
    )
