"""The ``mistral`` plugin: ``init()`` instruments the SDK through ``on_instrument``.

Registered under the ``waxell_observe`` entry-point group and loaded only once the program imports
one of :data:`TRIGGERS` (see ``docs/integrations.md``). Loading it imports nothing of the SDK.
"""

from __future__ import annotations

from waxell_observe.instrumentation import plugin_hooks
from waxell_observe_mistral._instrument import INSTRUMENTATION

__all__ = ["NAME", "TRIGGERS", "on_instrument", "on_uninstrument"]

NAME = INSTRUMENTATION.name
"""The name ``init(instrument=[...])`` selects this integration by."""

TRIGGERS = ("mistralai", "mistralai.client")
"""The modules whose import loads this plugin (declared in pyproject.toml's
``waxell_observe.triggers`` entry points; a test checks both agree). From mistralai 2.x on,
``mistralai`` is a namespace package (no code runs when it is imported) and the SDK is
``mistralai.client``; in 1.x, ``mistralai`` is the SDK."""

on_instrument, on_uninstrument = plugin_hooks(INSTRUMENTATION)
