"""What the gemini integration patches, and the switch that turns it on and off."""

from __future__ import annotations

from waxell_observe.instrumentation import Instrumentation, Target

__all__ = ["INSTRUMENTATION", "TARGETS", "instrument", "is_instrumented", "uninstrument"]

TARGETS: tuple[Target, ...] = ()

INSTRUMENTATION = Instrumentation("gemini", TARGETS, sdk="google.genai")

instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
