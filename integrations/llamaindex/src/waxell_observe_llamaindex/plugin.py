"""The ``llamaindex`` plugin: registered under the ``waxell_observe`` entry-point group.

Loaded with every other plugin when the SDK starts, so it imports nothing from LlamaIndex
until ``init()`` asks it to instrument (and only when LlamaIndex is installed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from waxell_observe.plugins import hookimpl

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig

__all__ = ["NAME", "TRIGGERS", "on_instrument", "on_uninstrument"]

NAME = "llamaindex"
TRIGGERS = ("llama_index.core", "llama_index_instrumentation")
"""The modules whose import loads this plugin (declared in pyproject.toml's
``waxell_observe.triggers`` entry points; a test checks both agree)."""
_ALIASES = frozenset({"llamaindex", "llama_index", "llama-index"})


def _wanted(libraries: frozenset[str] | None) -> bool:
    return libraries is None or bool(libraries & _ALIASES)


@hookimpl
def on_instrument(config: ObserveConfig, libraries: frozenset[str] | None) -> list[str] | None:
    """Attach the handlers to LlamaIndex's root instrumentation dispatcher."""
    if not _wanted(libraries) or not config.enabled:
        return None
    from waxell_observe_llamaindex import attach

    if not attach.installed():
        return None
    return [NAME] if attach.instrument() else None


@hookimpl
def on_uninstrument(libraries: frozenset[str] | None) -> list[str] | None:
    """Detach the handlers."""
    if not _wanted(libraries):
        return None
    from waxell_observe_llamaindex import attach

    return [NAME] if attach.uninstrument() else None
