"""The ``google_adk`` plugin: ``init()`` patches Google ADK through ``on_instrument``.

Registered under the ``waxell_observe`` entry-point group and loaded only once the program imports
``google.adk`` (the ``waxell_observe.triggers`` entry point). Loading it imports nothing of ADK.
"""

from __future__ import annotations

from waxell_observe.instrumentation import plugin_hooks
from waxell_observe_google_adk._instrument import INSTRUMENTATION

__all__ = ["NAME", "TRIGGERS", "on_instrument", "on_uninstrument"]

NAME = INSTRUMENTATION.name
"""The name ``init(instrument=[...])`` selects this integration by."""

TRIGGERS = ("google.adk",)
"""The modules whose import loads this plugin (the ``waxell_observe.triggers`` entry points)."""

on_instrument, on_uninstrument = plugin_hooks(INSTRUMENTATION)
