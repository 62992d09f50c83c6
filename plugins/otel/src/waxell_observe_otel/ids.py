"""OpenTelemetry ids derived from waxell ids.

A run's trace id and span id, and every record's span id, are computed from the waxell
ids (run ids and record ids are 32 hex characters: the time they were made, then 64 random
bits, which a span id takes). So they are known before
the OTel span exists: a child recorded before its parent (framework spans end after
their children) still names the right parent, and the run's ``traceparent`` can be sent
to the control plane as soon as the run starts. Ids that are not 32 hex characters (a
caller-chosen run id) are hashed.

Pure functions: importing this module does not import OpenTelemetry.
"""

from __future__ import annotations

__all__ = [
    "format_span_id",
    "format_trace_id",
    "span_id_for",
    "trace_id_for",
    "traceparent",
]


def _digest(value: str) -> bytes:
    import hashlib  # loads OpenSSL (~3 ms): only once an id is derived, not at init()

    return hashlib.sha256(value.encode("utf-8", "replace")).digest()


def _hex_value(value: str) -> int:
    """The value of a 32-hex-character id (dashes of a UUID ignored), or 0."""
    if len(value) != 32:
        value = value.replace("-", "")
        if len(value) != 32:
            return 0
    if not value.isalnum():  # int() would accept signs, underscores and spaces
        return 0
    try:
        return int(value, 16)
    except ValueError:
        return 0


def trace_id_for(run_id: str) -> int:
    """The 128-bit trace id of a root run (never 0)."""
    value = _hex_value(run_id)
    if value:
        return value
    return int.from_bytes(_digest("trace:" + run_id)[:16], "big") or 1


def span_id_for(record_id: str) -> int:
    """The 64-bit span id of a run or record with waxell id ``record_id`` (never 0)."""
    value = _hex_value(record_id) & 0xFFFF_FFFF_FFFF_FFFF
    if value:
        return value
    return int.from_bytes(_digest("span:" + record_id)[:8], "big") or 1


def format_trace_id(trace_id: int) -> str:
    return f"{trace_id:032x}"


def format_span_id(span_id: int) -> str:
    return f"{span_id:016x}"


def traceparent(trace_id: int, span_id: int, sampled: bool = True) -> str:
    """A W3C ``traceparent`` header value."""
    return f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"
