"""What the milvus integration patches (being written: no targets yet)."""

from __future__ import annotations

from waxell_observe.instrumentation import Instrumentation, Target

TARGETS: tuple[Target, ...] = ()

INSTRUMENTATION = Instrumentation("milvus", TARGETS, sdk="pymilvus")
