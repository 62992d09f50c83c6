"""Encoding AWS event-stream messages (``application/vnd.amazon.eventstream``), the binary framing
of Bedrock's ``ConverseStream`` and ``InvokeModelWithResponseStream`` answers, for the stub server.

A message: total length and headers length (big-endian uint32), the CRC32 of those 8 bytes, the
headers (name length byte, name, type byte 7 = string, value length uint16, value), the payload,
and the CRC32 of everything before it. botocore's own parser reads what this writes.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any

__all__ = ["event", "event_stream", "invoke_chunks"]

_STRING = 7


def _headers(headers: dict[str, str]) -> bytes:
    out = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack(">B", len(raw_name)) + raw_name
        out += struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    return out


def event(event_type: str, payload: dict[str, Any], *, message_type: str = "event") -> bytes:
    """One message of ``event_type`` (``messageStart``, ``contentBlockDelta``, ``metadata``, ...)
    whose payload is ``payload`` as JSON; ``message_type="exception"`` for a stream error."""
    kind = ":event-type" if message_type == "event" else ":exception-type"
    headers = _headers({kind: event_type, ":content-type": "application/json", ":message-type": message_type})
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


def event_stream(events: list[tuple[str, dict[str, Any]]]) -> list[bytes]:
    """The messages of ``(event type, payload)`` pairs, one per item (the stub writes them one by one)."""
    return [event(kind, payload) for kind, payload in events]


def invoke_chunks(bodies: list[dict[str, Any]]) -> list[bytes]:
    """``InvokeModelWithResponseStream`` messages: each model body as a ``chunk`` event whose
    ``bytes`` carry the JSON (base64 in the payload, as Bedrock sends it)."""
    return [
        event("chunk", {"bytes": base64.b64encode(json.dumps(body).encode()).decode()}) for body in bodies
    ]
