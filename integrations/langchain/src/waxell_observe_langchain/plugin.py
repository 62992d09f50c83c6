"""The ``langchain`` plugin: registered under the ``waxell_observe`` entry-point group.

Loaded with every other plugin when the SDK starts, so it imports nothing from LangChain
until ``init()`` asks it to instrument (and only when ``langchain_core`` is installed).
"""

from __future__ import annotations

import importlib.util
import logging
from typing import TYPE_CHECKING

from waxell_observe.plugins import hookimpl

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig

__all__ = ["NAME", "TRIGGERS", "on_instrument", "on_uninstrument"]

logger = logging.getLogger("waxell_observe")

NAME = "langchain"
TRIGGERS = ("langchain_core",)
"""The modules whose import loads this plugin (declared in pyproject.toml's
``waxell_observe.triggers`` entry points; a test checks both agree)."""


def _wanted(libraries: frozenset[str] | None) -> bool:
    return libraries is None or NAME in libraries


@hookimpl
def on_instrument(config: ObserveConfig, libraries: frozenset[str] | None) -> list[str] | None:
    """Capture LangChain runs without callbacks (through LangChain's configure hook)."""
    if not _wanted(libraries) or not config.enabled:
        return None
    if importlib.util.find_spec("langchain_core") is None:
        return None
    from waxell_observe_langchain import auto

    return [NAME] if auto.instrument() else None


@hookimpl
def on_uninstrument(libraries: frozenset[str] | None) -> list[str] | None:
    """Stop capturing LangChain runs that were not given a handler."""
    if not _wanted(libraries):
        return None
    import sys

    auto = sys.modules.get("waxell_observe_langchain.auto")
    if auto is None:
        return None
    return [NAME] if auto.uninstrument() else None
