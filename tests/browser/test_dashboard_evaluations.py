"""The Datasets and Experiments pages in Chromium: the datasets, a dataset's versions and items, the
experiments with their aggregates and rows, and two experiments compared (score and measure deltas,
the items side by side with a diff of their outputs, only the flipped ones). The experiments are
run with ``waxell_observe.evaluate`` into a store of their own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_server import Server, record_into, start_server, stop_server
from dashboard_ui import card_value, goto, rendered
from playwright.sync_api import expect

import waxell_observe
from waxell_observe import evaluators as ev
from waxell_observe.config import db_url_from

pytestmark = pytest.mark.browser

ROWS = "rows => rows.map(r => [...r.cells].map(c => c.textContent))"


def good(item_input: dict[str, Any]) -> int:
    waxell_observe.get_context().record_llm_call(
        model="gpt-4o-mini", tokens_in=100, tokens_out=10, cost=0.001
    )
    return int(item_input["a"] + item_input["b"])


def worse(item_input: dict[str, Any]) -> int:
    """Off by one for an even ``a``; raises for a = 4."""
    a = item_input["a"]
    if a == 4:
        raise ValueError("four <b>is</b> too many")
    waxell_observe.get_context().record_llm_call(model="gpt-4o", tokens_in=200, tokens_out=20, cost=0.002)
    return int(a + item_input["b"] + (1 if a % 2 == 0 else 0))


def small(output: int) -> bool:
    return output < 14


@pytest.fixture(scope="module")
def evaluations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    db = str(tmp_path_factory.mktemp("evaluations") / "observe.db")

    def record() -> dict[str, str]:
        sums = waxell_observe.create_dataset(
            "sums",
            [{"id": f"s{a}", "input": {"a": a, "b": 10}, "expected": a + 10} for a in range(4)],
            description="a + 10",
        )
        sums = sums.add_items([{"id": "s4", "input": {"a": 4, "b": 10}, "expected": 14}])
        sums = sums.update_item("s1", metadata={"note": "<b>bold</b>"})
        waxell_observe.create_dataset("empty", [])
        chosen = [ev.exact_match(), small]
        first = waxell_observe.evaluate(good, sums, chosen, name="good", max_concurrency=1)
        second = waxell_observe.evaluate(worse, sums, chosen, name="worse", max_concurrency=1)
        return {"good": first.experiment_id, "worse": second.experiment_id, "s0_worse": second.rows[0].run_id}

    ids = record_into(db, record)
    server = start_server(db_url_from(db))
    yield server, ids
    stop_server(server)


@pytest.fixture
def evaluations_page(page_factory: Callable[..., Any], evaluations: tuple[Server, dict[str, str]]) -> Any:
    return page_factory(evaluations[0])


def test_datasets_and_a_datasets_versions(
    evaluations_page: Any, evaluations: tuple[Server, dict[str, str]], shot: Callable[[Any, str], Path]
) -> None:
    server, ids = evaluations
    page = evaluations_page
    goto(page, server, "/datasets")
    expect(page.locator("[data-nav=datasets]")).to_have_attribute("aria-current", "page")
    rows = page.get_by_test_id("datasets-table").locator("tbody tr")
    assert rows.evaluate_all("rows => rows.map(r => [...r.cells].slice(0, 4).map(c => c.textContent))") == [
        ["empty", "v1", "0", "–"],
        ["sums", "v3", "5", "a + 10"],
    ]
    rows.nth(1).get_by_role("link", name="sums").click()
    rendered(page, "#/datasets/sums")
    expect(page.locator("h1")).to_have_text("Dataset sums")
    assert card_value(page, "dataset-version") == "v3"
    assert card_value(page, "dataset-items") == "5"
    assert card_value(page, "dataset-experiments") == "2"
    items = page.get_by_test_id("dataset-items-table").locator("tbody tr")
    assert items.evaluate_all(ROWS) == [
        ["s0", '{"a":0,"b":10}', "10", "–"],
        ["s1", '{"a":1,"b":10}', "11", '{"note":"<b>bold</b>"}'],
        ["s2", '{"a":2,"b":10}', "12", "–"],
        ["s3", '{"a":3,"b":10}', "13", "–"],
        ["s4", '{"a":4,"b":10}', "14", "–"],
    ]
    assert page.get_by_test_id("dataset-items-table").locator("b").count() == 0  # text, never markup
    versions = page.get_by_test_id("dataset-versions-table").locator("tbody tr")
    assert versions.evaluate_all(
        "rows => rows.map(r => [...r.cells].slice(0, 3).map(c => c.textContent))"
    ) == [
        ["v1", "4", "created with 4 items"],
        ["v2", "5", "added 1 item"],
        ["v3", "5", "edited item s1"],
    ]
    experiments = page.get_by_test_id("dataset-experiments-table").locator("tbody tr")
    assert experiments.evaluate_all(
        "rows => rows.map(r => [...r.cells].slice(0, 4).map(c => c.textContent))"
    ) == [
        ["worse", "v3", "5", "exact_match 40.0%small 80.0%"],
        ["good", "v3", "5", "exact_match 100.0%small 80.0%"],
    ]
    shot(page, "dataset")
    versions.nth(0).get_by_role("link", name="v1").click()
    rendered(page, "#/datasets/sums?v=1")
    assert card_value(page, "dataset-version") == "v1"
    assert page.get_by_test_id("dataset-items-table").locator("tbody tr").evaluate_all(
        "rows => rows.map(r => r.cells[0].textContent + ' ' + r.cells[3].textContent)"
    ) == ["s0 –", "s1 –", "s2 –", "s3 –"]
    experiments.nth(0).get_by_role("link", name="worse").click()
    rendered(page, "#/experiments/" + ids["worse"])
    expect(page.locator("h1")).to_have_text("Experiment worse")


def test_an_experiment_its_aggregates_and_rows(
    evaluations_page: Any, evaluations: tuple[Server, dict[str, str]], shot: Callable[[Any, str], Path]
) -> None:
    server, ids = evaluations
    page = evaluations_page
    goto(page, server, "/experiments/" + ids["worse"])
    expect(page.locator("[data-nav=experiments]")).to_have_attribute("aria-current", "page")
    assert card_value(page, "experiment-runs") == "5"
    assert card_value(page, "experiment-errors") == "1"
    assert card_value(page, "experiment-cost") == "$0.008"
    assert page.get_by_test_id("experiment-metrics").locator("tbody tr").evaluate_all(ROWS) == [
        ["exact_match", "0.5", "40.0%", "2 / 5", "4", "–"],
        ["small", "1", "80.0%", "4 / 5", "4", "–"],
    ]
    rows = page.get_by_test_id("experiment-rows").locator("tbody tr")
    assert rows.evaluate_all(
        "rows => rows.map(r => [0, 2, 4, 5, 6, 7].map(i => r.cells[i].textContent))"
    ) == [
        ["s0", "success", "10", "11", "exact_match: falsesmall: true", "$0.002"],
        ["s1", "success", "11", "11", "exact_match: truesmall: true", "$0.002"],
        ["s2", "success", "12", "13", "exact_match: falsesmall: true", "$0.002"],
        ["s3", "success", "13", "13", "exact_match: truesmall: true", "$0.002"],
        ["s4", "error", "14", "ValueError: four <b>is</b> too many", "–", "$0"],
    ]
    assert page.get_by_test_id("experiment-rows").locator("b").count() == 0
    assert rows.nth(0).locator(".chip-bad").all_text_contents() == ["exact_match: false"]
    expect(page.get_by_test_id("compare-with").get_by_role("link")).to_have_text(["good"])
    shot(page, "experiment")
    rows.nth(0).get_by_role("link", name=ids["s0_worse"][-8:]).click()
    rendered(page, "#/runs/" + ids["s0_worse"])
    expect(page.locator("h1")).to_contain_text("experiment:worse")
    goto(page, server, f"/runs/{ids['s0_worse']}?tab=scores")
    assert sorted(
        page.get_by_test_id("scores-table")
        .locator("tbody tr")
        .evaluate_all("rows => rows.map(r => [...r.cells].slice(0, 5).map(c => c.textContent))")
    ) == [
        ["exact_match", "boolean", "false", "expected 10, got 11", "experiment"],
        ["small", "boolean", "true", "–", "experiment"],
    ]


def test_two_experiments_compared_side_by_side(
    evaluations_page: Any, evaluations: tuple[Server, dict[str, str]], shot: Callable[[Any, str], Path]
) -> None:
    server, ids = evaluations
    page = evaluations_page
    goto(page, server, "/experiments")
    assert page.get_by_test_id("experiments-table").locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [0, 1, 2, 3, 4, 6].map(i => r.cells[i].textContent))"
    ) == [
        ["worse", "sums v3", "completed", "5", "1", "$0.008"],
        ["good", "sums v3", "completed", "5", "0", "$0.005"],
    ]
    # the form proposes the older experiment as the baseline
    expect(page.get_by_test_id("compare-a")).to_have_value(ids["good"])
    expect(page.get_by_test_id("compare-b")).to_have_value(ids["worse"])
    page.get_by_role("button", name="Compare").click()
    hash_ = f"#/experiments/compare?a={ids['good']}&b={ids['worse']}"
    rendered(page, hash_)
    expect(page.locator("h1")).to_have_text("Compare experiments")
    assert card_value(page, "compare-regressed") == "3"
    assert card_value(page, "compare-improved") == "0"
    metrics = page.get_by_test_id("compare-metrics").locator("tbody tr")
    assert metrics.evaluate_all(ROWS) == [
        ["exact_match", "1", "0.5", "-0.5", "100.0%", "40.0%", "-60.0%"],
        ["small", "0.8", "1", "+0.2", "80.0%", "80.0%", "0.0%"],
    ]
    assert metrics.nth(0).locator(".delta-worse").count() == 2
    assert metrics.nth(1).locator(".delta-better").all_text_contents() == ["+0.2"]
    measures = page.get_by_test_id("compare-measures").locator("tbody tr")
    by_name = dict(
        zip(
            measures.evaluate_all("rows => rows.map(r => r.dataset.measure)"),
            measures.evaluate_all(ROWS),
            strict=True,
        )
    )
    assert by_name["cost"][1:] == ["$0.005", "$0.008", "+$0.003"]
    assert by_name["tokens_in"][1:] == ["500", "800", "+300"]
    assert by_name["errors"][1:] == ["0", "1", "+1"]
    assert page.get_by_test_id("compare-measures").locator("[data-measure=errors] .delta-worse").count() == 1

    items = page.get_by_test_id("compare-items").locator("article")
    assert items.evaluate_all("items => items.map(i => i.dataset.item + ':' + i.dataset.change)") == [
        "s0:regressed",
        "s1:same",
        "s2:regressed",
        "s3:same",
        "s4:regressed",
    ]
    s0 = items.nth(0)
    expect(s0.get_by_test_id("output-A")).to_have_text("10")
    expect(s0.get_by_test_id("output-B")).to_have_text("11")
    assert s0.get_by_test_id("output-diff").locator(".diff-line").evaluate_all(
        "spans => spans.map(s => s.dataset.op + '|' + s.textContent)"
    ) == ["del|- 10\n", "add|+ 11\n"]
    assert s0.locator("[data-side=B] .chip-flipped").all_text_contents() == ["exact_match: false"]
    expect(items.nth(1).get_by_test_id("same-output")).to_have_text("Same output.")
    s4 = items.nth(4)
    expect(s4.get_by_test_id("output-B")).to_have_text("error: four <b>is</b> too many")
    assert s4.locator("b").count() == 0
    expect(s4.locator("[data-side=B] .chips")).to_have_text("no scores")
    shot(page, "experiment-compare")

    page.get_by_test_id("only-flipped").check()
    rendered(page, hash_ + "&only=flipped")
    expect(page.get_by_test_id("compare-items").locator("article")).to_have_count(3)
    page.get_by_test_id("swap").click()
    rendered(page, f"#/experiments/compare?a={ids['worse']}&b={ids['good']}&only=flipped")
    assert card_value(page, "compare-improved") == "3"
    assert (
        page.get_by_test_id("compare-metrics")
        .locator("tbody tr")
        .first.evaluate("r => r.cells[6].textContent")
        == "+60.0%"
    )


def test_unknown_datasets_and_experiments_say_so(
    page_factory: Callable[..., Any], evaluations: tuple[Server, dict[str, str]]
) -> None:
    server = evaluations[0]
    page = page_factory(server, allow_console=("404 (Not Found)",))
    goto(page, server, "/datasets/nope")
    expect(page.get_by_role("alert")).to_contain_text("unknown dataset 'nope'")
    goto(page, server, "/experiments/nope")
    expect(page.get_by_role("alert")).to_contain_text("unknown experiment 'nope'")
    goto(page, server, "/experiments/compare?a=good&b=nope")
    expect(page.get_by_role("alert")).to_contain_text("unknown experiment 'nope'")
