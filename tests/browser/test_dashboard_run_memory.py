"""The Memory tab of a run in Chromium (issue 12): the memory state, every recall with its hit or miss,
result count and top score, every write, the hit rate, and the memories the run kept; a run without
memory says so. Runs recorded with the SDK into a store of this module's own, served by the real app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_server import Server, record_into, start_server, stop_server
from dashboard_ui import card_value, goto
from playwright.sync_api import expect

import waxell_observe
from waxell_observe import WaxellContext
from waxell_observe.config import db_url_from

pytestmark = pytest.mark.browser


def _record() -> dict[str, str]:
    with WaxellContext(agent_name="concierge", enforce_policy=False, session_id="sess-42") as ctx:
        ctx.set_memory_state(memory_item_count=12, cross_session_loaded=True, memory_items=[{"k": "tz"}])
        waxell_observe.recall(
            "drink <b>preferences</b>", store="pgvector", results=["tea", "coffee"], top_score=0.91
        )
        waxell_observe.recall("allergies", tier="semantic", store="pgvector")
        waxell_observe.remember_episodic("preferences", {"drink": "tea"})
        waxell_observe.remember_semantic(
            "facts", "The user is vegan", fact_key="diet", content_embedding=[0.5] * 1536
        )
    with WaxellContext(agent_name="forgetful", enforce_policy=False) as quiet:
        quiet.record_step("think")
    return {"memory": ctx.run_id, "quiet": quiet.run_id}


@pytest.fixture(scope="module")
def memory_dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    db = str(Path(tmp_path_factory.mktemp("memory-dashboard")) / "observe.db")
    runs = record_into(db, _record)
    server = start_server(db_url_from(db))
    yield server, runs
    stop_server(server)


def test_the_memory_tab_shows_state_recalls_writes_and_kept_memories(
    page_factory: Any, memory_dashboard: tuple[Server, dict[str, str]], shot: Any
) -> None:
    server, runs = memory_dashboard
    page = page_factory(server)
    goto(page, server, f"/runs/{runs['memory']}")
    tab = page.locator('[data-tab="memory"]')
    expect(tab).to_contain_text("Memory")
    expect(tab).to_contain_text("4")  # 2 writes + 2 recalls
    tab.click()
    expect(page.get_by_test_id("memory-recalls")).to_be_visible()
    assert "tab=memory" in page.url

    assert card_value(page, "memory-writes-count") == "2"
    assert card_value(page, "memory-reads-count") == "2"
    assert card_value(page, "memory-hit-rate") == "50.0%"
    assert card_value(page, "memory-kept-count") == "2"

    state = page.get_by_test_id("memory-state")
    expect(state).to_contain_text("Items at start12")
    expect(state).to_contain_text("Loaded from an earlier sessionyes")
    expect(state).to_contain_text("Storespgvector")
    expect(state).to_contain_text("Tiersepisodic, semantic")

    recalls = page.get_by_test_id("memory-recalls").locator("tbody tr")
    expect(recalls).to_have_count(2)
    cells = recalls.evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).slice(0, 6).map(c => c.textContent))"
    )
    assert cells == [
        ["drink <b>preferences</b>", "episodic", "pgvector", "hit", "2", "0.91"],  # text, never markup
        ["allergies", "semantic", "pgvector", "miss", "0", "–"],
    ]

    writes = page.get_by_test_id("memory-writes").locator("tbody tr")
    assert writes.evaluate_all("rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))") == [
        ["episodic", "preferences", "concierge:sess-42", "{'drink': 'tea'}"],
        ["semantic", "facts", "concierge:sess-42", "The user is vegan"],
    ]

    kept = page.get_by_test_id("memory-stored").locator("tbody tr")
    rows = kept.evaluate_all("rows => rows.map(r => Array.from(r.cells).slice(0, 5).map(c => c.textContent))")
    assert rows == [
        ["episodic", "preferences", "concierge:sess-42", '{"drink":"tea"}', "–"],
        ["semantic", "facts", "concierge:sess-42", "The user is vegan", "diet"],
    ]
    shot(page, "run-memory")


def test_a_run_without_memory_says_so(
    page_factory: Any, memory_dashboard: tuple[Server, dict[str, str]]
) -> None:
    server, runs = memory_dashboard
    page = page_factory(server)
    goto(page, server, f"/runs/{runs['quiet']}?tab=memory")
    expect(page.get_by_test_id("memory-recalls-empty")).to_contain_text("No memory recalls")
    expect(page.get_by_test_id("memory-writes-empty")).to_contain_text("No memory writes")
    expect(page.get_by_test_id("memory-stored-empty")).to_contain_text("kept no memories")
    assert card_value(page, "memory-hit-rate") == "–"


def test_memory_spans_in_the_trace(
    page_factory: Any, memory_dashboard: tuple[Server, dict[str, str]]
) -> None:
    server, runs = memory_dashboard
    page = page_factory(server)
    goto(page, server, f"/runs/{runs['memory']}")
    entries = page.locator('[data-testid="timeline-entry"][data-kind="memory"]')
    expect(entries).to_have_count(4)
    texts = entries.evaluate_all("rows => rows.map(r => r.textContent)")
    assert "hit · 2 result(s) · top 0.91" in texts[0] and "Memory" in texts[0]
    assert "“allergies” miss" in texts[1]
    assert "episodic @ concierge:sess-42" in texts[2]
    assert "semantic @ concierge:sess-42" in texts[3]
    legend = page.locator('.tl-filter[data-kind="memory"]')
    expect(legend).to_have_text("Memory 4")
