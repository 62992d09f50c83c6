"""Helpers the dashboard tests share for driving pages."""

from __future__ import annotations

from typing import Any

__all__ = ["card_value", "goto", "rendered"]


def rendered(page: Any, hash_: str | None = None) -> None:
    """Wait until the page for ``hash_`` (default: the current address) is completely drawn.

    The shell sets ``main[data-rendered]`` to the address once its page has loaded.
    """
    if hash_ is None:
        page.wait_for_function("() => document.getElementById('main').dataset.rendered === location.hash")
    else:
        page.wait_for_function("h => document.getElementById('main').dataset.rendered === h", arg=hash_)


def goto(page: Any, server: Any, hash_: str) -> None:
    """Open ``#<hash_>`` on ``server`` and wait for it to be drawn."""
    page.goto(f"{server.url}/#{hash_}")
    rendered(page, "#" + hash_)


def card_value(page: Any, testid: str) -> str:
    return page.get_by_test_id(testid).locator(".card-value").inner_text()
