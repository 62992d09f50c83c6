"""Helpers a program may want beside its runs (the reference SDK's ``waxell_observe.utils`` submodule).

Each is the SDK's own function, the one it uses on what it records:

* :func:`to_jsonable` — a JSON-safe deep copy of any value (what inputs, outputs and metadata become:
  datetimes as ISO strings, enums as their value, anything else as its ``repr``); never raises.
* :func:`preview` — a value as text cut to a number of characters (an ellipsis marks the cut), as
  previews of prompts and responses are.
* :func:`redact` / :func:`redact_text` — PII and secrets replaced by ``##TYPE##`` placeholders
  (``redact`` is also ``waxell_observe.redact``).
* :func:`generate_session_id` — a new, time-ordered session id (also ``waxell_observe.generate_session_id``).
"""

from __future__ import annotations

from waxell_observe.initialization import generate_session_id
from waxell_observe.redaction import redact, redact_text
from waxell_observe.serialize import preview, to_jsonable

__all__ = ["generate_session_id", "preview", "redact", "redact_text", "to_jsonable"]
