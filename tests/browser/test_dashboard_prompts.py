"""The Prompts page in Chromium: the list of managed prompts, a prompt's versions and labels, the
text of a version (chat prompts as messages), the line diff between two chosen versions (as text,
never markup), and each version's usage with links to the runs that used it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_server import Server, record_into, start_server, stop_server
from dashboard_ui import card_value, goto, rendered
from playwright.sync_api import expect

from waxell_observe import WaxellContext
from waxell_observe.config import db_url_from
from waxell_observe.store import get_store
from waxell_observe.store.prompts import add_prompt
from waxell_observe.types import PromptInfo

pytestmark = pytest.mark.browser

V1 = "You are a support agent.\nAnswer {{q}}\nBe polite."
V2 = "You are a support agent.\nAnswer briefly: {{q}}\nBe polite.\nUse <b>bold</b> sparingly."
V3 = "You are a <i>helpful</i> support agent.\nAnswer briefly: {{q}}\nBe polite.\nUse <b>bold</b> sparingly."
TRIAGE = [{"role": "system", "content": "Sort tickets."}, {"role": "user", "content": "Ticket: {{ticket}}"}]


@pytest.fixture(scope="module")
def prompts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    db = str(tmp_path_factory.mktemp("prompts") / "observe.db")
    with get_store(db_url_from(db)).write() as conn:
        add_prompt(conn, "support", V1, labels=["staging"])
        add_prompt(conn, "support", V2, config={"temperature": 0.2})
        v3 = add_prompt(conn, "support", V3, labels=["production"], config={"temperature": 0.7})
        add_prompt(conn, "triage", TRIAGE)

    def record() -> dict[str, str]:
        ids = {}
        with WaxellContext(agent_name="support-bot", enforce_policy=False) as ctx:
            ctx.record_prompt_use(name="support", version=1)
            ctx.record_llm_call(model="gpt-4o", tokens_in=100, tokens_out=10, cost=0.5)
            ctx.record_score("accuracy", 0.75)
            ids["v1"] = ctx.run_id
        with WaxellContext(agent_name="support-bot", enforce_policy=False) as ctx:
            ctx.record_prompt_use(name="support", version=3, label="production")
            ctx.record_llm_call(model="gpt-4o", tokens_in=200, tokens_out=20, cost=0.25)
            ctx.record_score("accuracy", 1.0)
            ids["v3_used"] = ctx.run_id
        compiled = PromptInfo.from_reply("support", v3).compile(q="refund?")
        with WaxellContext(agent_name="mailer", enforce_policy=False) as ctx:
            ctx.record_llm_call(
                model="gpt-4o-mini",
                tokens_in=300,
                tokens_out=30,
                cost=0.125,
                prompt_hash=compiled._waxell_template_hash,
            )
            ids["v3_hash"] = ctx.run_id
        return ids

    ids = record_into(db, record)
    server = start_server(db_url_from(db))
    yield server, ids
    stop_server(server)


@pytest.fixture
def prompts_page(page_factory: Callable[..., Any], prompts_server: tuple[Server, dict[str, str]]) -> Any:
    return page_factory(prompts_server[0])


def _diff_lines(page: Any) -> list[str]:
    lines: list[str] = (
        page.get_by_test_id("prompt-diff")
        .locator(".diff-line")
        .evaluate_all("spans => spans.map(s => s.dataset.op + '|' + s.textContent)")
    )
    return lines


def test_the_list_of_prompts(prompts_page: Any, prompts_server: tuple[Server, dict[str, str]]) -> None:
    server, _ids = prompts_server
    goto(prompts_page, server, "/prompts")
    expect(prompts_page.locator("[data-nav=prompts]")).to_have_attribute("aria-current", "page")
    rows = prompts_page.get_by_test_id("prompts-table").locator("tbody tr")
    expect(rows).to_have_count(2)
    cells = rows.evaluate_all("rows => rows.map(r => [...r.cells].slice(0, 6).map(c => c.textContent))")
    assert cells == [
        ["support", "text", "v3", "3", "production → v3staging → v1", "3"],
        ["triage", "chat", "v1", "1", "–", "0"],
    ]
    prompts_page.get_by_test_id("prompts-search").fill("TRI")
    prompts_page.get_by_role("button", name="Find").click()
    rendered(prompts_page, "#/prompts?search=TRI")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td").first).to_have_text("triage")
    prompts_page.get_by_test_id("prompts-search").fill("<b>nothing</b>")
    prompts_page.get_by_role("button", name="Find").click()
    expect(prompts_page.get_by_test_id("prompts-table-empty")).to_have_text(
        "No prompt's name contains “<b>nothing</b>”."
    )
    prompts_page.get_by_role("link", name="Clear").click()
    rendered(prompts_page, "#/prompts")
    rows.first.get_by_role("link", name="support").click()
    rendered(prompts_page, "#/prompts/support")
    expect(prompts_page.locator("h1")).to_have_text("Prompt support")


def test_a_prompts_versions_text_diff_and_runs(
    prompts_page: Any, prompts_server: tuple[Server, dict[str, str]], shot: Callable[[Any, str], Path]
) -> None:
    server, ids = prompts_server
    page = prompts_page
    goto(page, server, "/prompts/support")
    versions = page.get_by_test_id("prompt-versions-table").locator("tbody tr")
    expect(versions).to_have_count(3)
    assert versions.evaluate_all(
        "rows => rows.map(r => [...r.cells].slice(0, 2).map(c => c.textContent))"
    ) == [
        ["v3", "production"],
        ["v2", "–"],
        ["v1", "staging"],
    ]
    assert versions.evaluate_all(
        "rows => rows.map(r => r.cells[3].textContent + ' ' + r.cells[5].textContent)"
    ) == [
        "2 $0.375",
        "0 $0",
        "1 $0.5",
    ]
    # the newest version is shown, its text as text (the <i> is not markup)
    expect(page.get_by_test_id("prompt-content")).to_have_text(V3)
    assert page.get_by_test_id("prompt-content").locator("i").count() == 0
    assert card_value(page, "usage-runs") == "2"
    assert card_value(page, "usage-cost") == "$0.375"
    assert card_value(page, "usage-calls") == "2"
    assert page.get_by_test_id("usage-scores").locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    ) == [["accuracy", "1", "1"]]
    runs = page.get_by_test_id("usage-runs-table").locator("tbody tr")
    assert runs.evaluate_all("rows => rows.map(r => [0, 2, 5, 6].map(i => r.cells[i].textContent))") == [
        [ids["v3_hash"][-8:], "mailer", "$0.125", "–"],
        [ids["v3_used"][-8:], "support-bot", "$0.25", "accuracy: 1"],
    ]

    # the diff: from the previous version to the shown one
    expect(page.get_by_test_id("diff-stats")).to_have_text(
        "+1 −1 lines from v2 to v3 · the config changed too"
    )
    assert _diff_lines(page) == [
        "del|- You are a support agent.\n",
        "add|+ You are a <i>helpful</i> support agent.\n",
        "same|  Answer briefly: {{q}}\n",
        "same|  Be polite.\n",
        "same|  Use <b>bold</b> sparingly.\n",
    ]
    assert page.get_by_test_id("prompt-diff").locator("b, i").count() == 0
    page.get_by_test_id("diff-from").select_option("1")
    rendered(page, "#/prompts/support?v=3&from=1&to=3")
    expect(page.get_by_test_id("diff-stats")).to_have_text(
        "+3 −2 lines from v1 to v3 · the config changed too"
    )
    assert _diff_lines(page) == [
        "del|- You are a support agent.\n",
        "del|- Answer {{q}}\n",
        "add|+ You are a <i>helpful</i> support agent.\n",
        "add|+ Answer briefly: {{q}}\n",
        "same|  Be polite.\n",
        "add|+ Use <b>bold</b> sparingly.\n",
    ]
    shot(page, "prompt-diff")

    # another version: its text and its runs
    versions.nth(2).get_by_role("link", name="v1").click()
    rendered(page, "#/prompts/support?v=1")
    expect(page.get_by_test_id("prompt-content")).to_have_text(V1)
    assert card_value(page, "usage-runs") == "1"
    link = page.get_by_test_id("usage-runs-table").get_by_role("link", name=ids["v1"][-8:])
    link.click()
    rendered(page, f"#/runs/{ids['v1']}")
    expect(page.locator("h1")).to_contain_text("support-bot")

    # and back: the run's prompt span links to the version it used
    row = page.locator("[data-kind=prompt]")
    row.locator(".tl-head").click()
    expect(row.get_by_test_id("prompt-link")).to_have_text("support v1")
    row.get_by_test_id("prompt-link").click()
    rendered(page, "#/prompts/support?v=1")
    expect(page.get_by_test_id("prompt-content")).to_have_text(V1)


def test_a_chat_prompt_shows_its_messages(
    prompts_page: Any, prompts_server: tuple[Server, dict[str, str]]
) -> None:
    server, _ids = prompts_server
    goto(prompts_page, server, "/prompts/triage")
    messages = prompts_page.get_by_test_id("prompt-content").locator("li")
    assert messages.evaluate_all(
        "items => items.map(li => [...li.querySelectorAll('.prompt-role, pre')].map(e => e.textContent))"
    ) == [["system", "Sort tickets."], ["user", "Ticket: {{ticket}}"]]
    assert prompts_page.get_by_test_id("prompt-diff").count() == 0  # one version: nothing to compare
    expect(prompts_page.get_by_test_id("usage-runs-table-empty")).to_have_text(
        "No run used this version yet."
    )


def test_an_unknown_prompt_says_so(
    page_factory: Callable[..., Any], prompts_server: tuple[Server, dict[str, str]]
) -> None:
    page = page_factory(prompts_server[0], allow_console=("404 (Not Found)",))  # the browser logs the reply
    goto(page, prompts_server[0], "/prompts/nope")
    expect(page.get_by_role("alert")).to_contain_text("unknown prompt 'nope'")


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("", "", []),
        ("a\nb\n", "a\nb", ["same|a", "same|b"]),
        ("a\nb\nc", "a\nc", ["same|a", "del|b", "same|c"]),
        ("x", "", ["del|x"]),
        ("", "y\nz", ["add|y", "add|z"]),
        ("a\nb\nc\nd", "b\nx\nd\ne", ["del|a", "same|b", "del|c", "add|x", "same|d", "add|e"]),
    ],
)
def test_the_line_diff(
    prompts_page: Any,
    prompts_server: tuple[Server, dict[str, str]],
    before: str,
    after: str,
    expected: list[str],
) -> None:
    prompts_page.goto(prompts_server[0].url + "/#/prompts")
    rendered(prompts_page, "#/prompts")
    lines = prompts_page.evaluate(
        """async ([a, b]) => {
            const { lineDiff } = await import('/ui/static/js/line_diff.js');
            return lineDiff(a, b).map((l) => l.op + '|' + l.text);
        }""",
        [before, after],
    )
    assert lines == expected
