"""The ``pgvector`` plugin: ``init()`` instruments psycopg through ``on_instrument``.

Registered under the ``waxell_observe`` entry-point group. Loading it imports nothing of psycopg;
the patches are applied when the program imports it (or at once, if it already has).
"""

from __future__ import annotations

from waxell_observe.instrumentation import plugin_hooks
from waxell_observe_pgvector._instrument import INSTRUMENTATION

__all__ = ["NAME", "TRIGGERS", "on_instrument", "on_uninstrument"]

NAME = INSTRUMENTATION.name
"""The name ``init(instrument=[...])`` selects this integration by."""

TRIGGERS = ("psycopg",)
"""The modules whose import loads this plugin (the ``waxell_observe.triggers`` entry points)."""

on_instrument, on_uninstrument = plugin_hooks(INSTRUMENTATION)
