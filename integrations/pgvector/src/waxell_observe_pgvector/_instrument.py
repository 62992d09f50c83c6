"""What the pgvector integration patches (being written: no targets yet)."""

from __future__ import annotations

from waxell_observe.instrumentation import Instrumentation, Target

TARGETS: tuple[Target, ...] = ()

INSTRUMENTATION = Instrumentation("pgvector", TARGETS, sdk="psycopg")
