"""The ``autogen`` plugin: ``init()`` patches AutoGen AgentChat through ``on_instrument``.

Registered under the ``waxell_observe`` entry-point group and loaded only once the program imports
``autogen_agentchat`` (the ``waxell_observe.triggers`` entry point). Loading it imports nothing of AutoGen.
"""

from __future__ import annotations

from waxell_observe.instrumentation import plugin_hooks
from waxell_observe_autogen._instrument import INSTRUMENTATION

__all__ = ["NAME", "TRIGGERS", "on_instrument", "on_uninstrument"]

NAME = INSTRUMENTATION.name
"""The name ``init(instrument=[...])`` selects this integration by."""

TRIGGERS = ("autogen_agentchat",)
"""The modules whose import loads this plugin (the ``waxell_observe.triggers`` entry points)."""

on_instrument, on_uninstrument = plugin_hooks(INSTRUMENTATION)
"""What the AutoGen integration patches, and its switch."""
