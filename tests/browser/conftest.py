"""Fixtures of the dashboard tests: runs recorded with the SDK, the real server, and Chromium.

- ``sample_store``: (session) a SQLite store filled by :func:`dashboard_samples.record_sample_runs`
  through the real SDK and embedded sink; tests must not add to it (use ``start_server`` on a
  store of their own for that);
- ``dashboard``: (session) the real app (``create_app``) on uvicorn, on a free 127.0.0.1 port, over
  ``sample_store``;
- ``browser``: (session) Debian's Chromium driven by Playwright, headless, with a fresh profile
  and no background networking. Missing ``/usr/bin/chromium`` fails the tests with a hint;
- ``page``: a fresh browser context and page per test, which fails the test on any page error,
  console error, or request that leaves the dashboard's origin (the UI must work offline);
- ``shot(page, name)``: save a full-page screenshot under ``$WAXELL_TEST_ARTIFACTS/dashboard/``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dashboard_server import Server, record_into, start_server, stop_server

from waxell_observe.config import db_url_from

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


@dataclass
class SampleStore:
    """The store the sample runs were recorded into."""

    db: str
    """``WAXELL_DB`` value (a SQLite path or a postgresql:// URL)."""
    url: str
    """Its SQLAlchemy URL."""
    runs: Any
    """:class:`dashboard_samples.SampleRuns`: ids of the recorded runs."""


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> SampleStore:
    """The sample runs recorded with the SDK into a fresh SQLite file."""
    from dashboard_samples import add_sample_policies, record_sample_runs

    db = str(tmp_path_factory.mktemp("dashboard") / "observe.db")
    store = SampleStore(db, db_url_from(db), record_into(db, record_sample_runs))
    add_sample_policies(store.url)
    return store


@pytest.fixture(scope="session")
def dashboard(sample_store: SampleStore) -> Iterator[Server]:
    server = start_server(sample_store.url)
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def samples(sample_store: SampleStore) -> Any:
    return sample_store.runs


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API keeps an asyncio loop running in the
    # main thread while it lives, which would break every asyncio test that runs after it.
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the dashboard tests drive Debian's Chromium. "
            "Install it with `apt-get update && apt-get install -y chromium` (never `playwright install`).",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives every browser a new, empty temporary profile.
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@dataclass
class PageProblems:
    errors: list[str]
    foreign_requests: list[str]


@pytest.fixture
def page_factory(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open pages on a dashboard; each page fails the test on errors or off-origin requests."""
    opened: list[tuple[Any, PageProblems]] = []

    def open_page(
        server: Server, *, width: int = 1366, height: int = 900, allow_console: tuple[str, ...] = ()
    ) -> Any:
        """``allow_console``: console errors containing one of these strings are expected."""
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.set_default_timeout(10_000)
        problems = PageProblems([], [])
        page.on("pageerror", lambda error: problems.errors.append(f"page error: {error}"))

        def on_console(msg: Any) -> None:
            if msg.type == "error" and not any(allowed in msg.text for allowed in allow_console):
                problems.errors.append(f"console {msg.type}: {msg.text}")

        page.on("console", on_console)

        def on_request(request: Any) -> None:
            url = request.url
            if not url.startswith((server.url + "/", "blob:", "data:")):
                problems.foreign_requests.append(url)

        page.on("request", on_request)
        opened.append((context, problems))
        return page

    yield open_page
    for context, _problems in opened:
        context.close()
    for _context, problems in opened:
        assert problems.foreign_requests == [], (
            f"the dashboard requested other origins: {problems.foreign_requests}"
        )
        assert problems.errors == [], f"errors in the page: {problems.errors}"


@pytest.fixture
def page(page_factory: Callable[..., Any], dashboard: Server) -> Any:
    return page_factory(dashboard)


@pytest.fixture
def shot() -> Callable[[Any, str], Path]:
    root = Path(os.environ.get("WAXELL_TEST_ARTIFACTS", "test-artifacts")) / "dashboard"
    root.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = root / f"{name}.png"
        page.evaluate("() => window.scrollTo(0, 0)")  # the sticky top bar stays on top
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
