"""What the lancedb integration patches (being written: no targets yet)."""

from __future__ import annotations

from waxell_observe.instrumentation import Instrumentation, Target

TARGETS: tuple[Target, ...] = ()

INSTRUMENTATION = Instrumentation("lancedb", TARGETS, sdk="lancedb")
