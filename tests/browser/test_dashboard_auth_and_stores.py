"""Sign-in when the server has keys, and the dashboard over PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from dashboard_expect import store_runs
from dashboard_ui import goto, rendered
from playwright.sync_api import expect

from waxell_observe.config import db_url_from

pytestmark = pytest.mark.browser


def test_sign_in_with_an_api_key(page_factory: Any, tmp_path: Any, shot: Any) -> None:
    from dashboard_server import record_into, start_server, stop_server

    from waxell_observe import WaxellContext
    from waxell_observe.store import get_store
    from waxell_observe.store.keys import create_key

    db = str(tmp_path / "keyed.db")

    def record() -> str:
        with WaxellContext(agent_name="keyed-agent", enforce_policy=False) as ctx:
            ctx.record_llm_call(model="gpt-4o-mini", tokens_in=10, tokens_out=5)
            return ctx.run_id

    run_id = record_into(db, record)
    key, _ = create_key(get_store(db_url_from(db)), name="dashboard test")
    server = start_server(db_url_from(db))
    try:
        # the browser logs each 401 reply (before sign-in, and for the wrong key) as a console error
        page = page_factory(server, allow_console=("status of 401",))
        sent_keys: list[str | None] = []
        page.on(
            "request",
            lambda request: (
                sent_keys.append(request.headers.get("x-wax-key")) if "/api/" in request.url else None
            ),
        )
        page.goto(server.url + "/#/runs")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        assert page.get_by_test_id("runs-table").count() == 0
        shot(page, "sign-in")

        page.get_by_test_id("api-key-input").fill("wax_sk_not-a-real-key")
        page.get_by_test_id("sign-in").click()
        expect(page.get_by_role("alert")).to_have_text("That key was not accepted. Check it and try again.")
        assert page.evaluate("() => sessionStorage.getItem('waxell.key')") is None

        page.get_by_test_id("api-key-input").fill(key)
        page.get_by_test_id("sign-in").click()
        rendered(page, "#/runs")
        expect(page.locator("[data-testid=runs-table] tbody tr")).to_have_count(1)
        assert page.locator("[data-testid=runs-table] tbody tr").get_attribute("data-run-id") == run_id
        assert page.evaluate("() => sessionStorage.getItem('waxell.key')") == key
        assert sent_keys[-1] == key
        # the model catalog endpoint of the Context tab is protected like the read API
        goto(page, server, f"/runs/{run_id}?tab=context")
        expect(page.get_by_test_id("gauge-value")).to_have_text("0.0%")
        assert all(k == key for k in sent_keys[sent_keys.index(key) :])

        page.get_by_test_id("sign-out").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        assert page.evaluate("() => sessionStorage.getItem('waxell.key')") is None
    finally:
        stop_server(server)


@pytest.mark.postgres
def test_dashboard_on_postgresql(page_factory: Any, postgres_url: str, shot: Any) -> None:
    from dashboard_samples import record_sample_runs
    from dashboard_server import record_into, start_server, stop_server

    samples = record_into(postgres_url, record_sample_runs)
    url = db_url_from(postgres_url)
    server = start_server(url)
    try:
        page = page_factory(server)
        goto(page, server, "/runs")
        ids = page.locator("[data-testid=runs-table] tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.runId)"
        )
        assert ids == [r["run_id"] for r in store_runs(url)]
        assert len(ids) == 11
        goto(page, server, f"/runs/{samples.support}?tab=context")
        expect(page.get_by_test_id("gauge-value")).to_have_text("3.3%")
        goto(page, server, "/costs")
        expect(page.get_by_test_id("chart-by-model").locator("rect.chart-bar")).to_have_count(4)
        shot(page, "postgres-costs")
    finally:
        stop_server(server)
