"""The ``claude_agent_sdk`` plugin: ``init()`` patches the Claude Agent SDK through ``on_instrument``.

Registered under the ``waxell_observe`` entry-point group and loaded only once the program imports
``claude_agent_sdk`` (the ``waxell_observe.triggers`` entry point). Loading it imports nothing of the SDK.
"""

from __future__ import annotations

from waxell_observe.instrumentation import plugin_hooks
from waxell_observe_claude_agent_sdk._instrument import INSTRUMENTATION

__all__ = ["NAME", "TRIGGERS", "on_instrument", "on_uninstrument"]

NAME = INSTRUMENTATION.name
"""The name ``init(instrument=[...])`` selects this integration by."""

TRIGGERS = ("claude_agent_sdk",)
"""The modules whose import loads this plugin (the ``waxell_observe.triggers`` entry points)."""

on_instrument, on_uninstrument = plugin_hooks(INSTRUMENTATION)
"""What the Claude Agent SDK integration patches, and its switch."""
