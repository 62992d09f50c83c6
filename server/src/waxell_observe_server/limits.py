"""The server's documented input limits (see ``docs/server.md``).

Oversize strings are cut at these limits, never rejected; a request body larger than
:data:`DEFAULT_MAX_BODY_BYTES` (configurable with ``serve --max-body-mb``) is refused with 413.
Names, ids and other short fields are cut at their column width in the store (agent and
workflow names 256 characters, ids 64, span and step names 512, ...).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "TEXT_LIMIT",
    "TRACEBACK_LIMIT",
    "MAX_INT",
    "MAX_TIMESTAMP",
    "ID_PATTERN",
    "MAX_JSON_DEPTH",
]

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
"""Largest accepted request body: 10 MiB."""

TEXT_LIMIT = 32_768
"""Free-text fields (previews, error messages, comments, reasons) keep their first 32,768 characters."""

TRACEBACK_LIMIT = 16_000
"""Tracebacks keep their last 16,000 characters (the end is where the error is)."""

MAX_INT = 2**31 - 1
"""Largest token count, position or attempt number accepted (the store's integer columns)."""

MAX_TIMESTAMP = 253_402_300_799.0
"""Latest accepted time (9999-12-31T23:59:59Z) as epoch seconds."""

ID_PATTERN = r"^[A-Za-z0-9._~-]{1,64}$"
"""Run and record ids: URL-safe characters, at most 64 of them."""

MAX_JSON_DEPTH = 64
"""JSON values nested deeper than this are stored as their text form."""
