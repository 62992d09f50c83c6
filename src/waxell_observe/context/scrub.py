"""The telemetry scrub: text and payloads that go into a run's conversation state (memory writes,
code executions, network requests, ...) pass through :func:`waxell_observe.redact` first, unless
``WAXELL_REDACT_TELEMETRY`` is ``0``/``false``/``no``/``off`` (the reference SDK's switch; on by
default)."""

from __future__ import annotations

import os
from typing import TypeVar

from waxell_observe.redaction import redact

__all__ = ["scrub", "scrubbing"]

T = TypeVar("T")

_OFF = frozenset({"0", "false", "no", "off"})


def scrubbing() -> bool:
    """Whether telemetry is scrubbed now (read on every call: a test or an operator may flip it)."""
    return os.environ.get("WAXELL_REDACT_TELEMETRY", "").strip().lower() not in _OFF


def scrub(value: T) -> T:
    """``value`` with PII and secrets replaced by ``##TYPE##`` placeholders, unless scrubbing is off."""
    return redact(value) if scrubbing() else value
