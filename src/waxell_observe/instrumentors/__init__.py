"""The reference SDK's semi-public instrumentor paths.

- :mod:`waxell_observe.instrumentors._guard`: ``configure``, ``check_prompt``, ``PromptGuardError``,
  ``fold_confusables`` (the prompt guard as provider instrumentors call it);
- :mod:`waxell_observe.instrumentors._collector`: the ``_collector`` singleton that takes LLM calls made
  outside any run;
- ``instrument_all``, ``uninstrument_all``, ``detect_installed_libraries`` (:mod:`.registry`): the
  integrations' instrumentation, by library name;
- ``BaseInstrumentor`` (:mod:`.base`): what an instrumentor of one library offers.

Both are real modules over the SDK's own parts (:mod:`waxell_observe.prompt_guard`,
:mod:`waxell_observe.calls_outside_runs`): the classes they name are the same objects, so
``isinstance`` holds whichever path a program imports them from.
"""

from __future__ import annotations

from waxell_observe.instrumentors.base import BaseInstrumentor
from waxell_observe.instrumentors.registry import detect_installed_libraries, instrument_all, uninstrument_all

__all__ = ["BaseInstrumentor", "detect_installed_libraries", "instrument_all", "uninstrument_all"]
