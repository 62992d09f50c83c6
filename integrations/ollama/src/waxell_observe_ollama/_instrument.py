"""What the ollama integration patches, and the switch that turns it on and off."""

from __future__ import annotations

from waxell_observe.instrumentation import Instrumentation, Target

__all__ = ["INSTRUMENTATION", "TARGETS", "instrument", "is_instrumented", "uninstrument"]

TARGETS: tuple[Target, ...] = ()

INSTRUMENTATION = Instrumentation("ollama", TARGETS, sdk="ollama")

instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
