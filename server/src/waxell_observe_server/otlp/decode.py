"""Decoding an OTLP/HTTP trace export: the body (protobuf or OTLP/JSON) into :class:`ReceivedSpan` values,
and the ``ExportTraceServiceResponse`` the receiver answers with.

Everything taken from a span is bounded here (text lengths, attribute counts, nesting depth) and
cleaned (:mod:`waxell_observe_server.sanitize`); timestamps outside the store's range fall back to
the request's time.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from waxell_observe_server.limits import MAX_TIMESTAMP, TEXT_LIMIT
from waxell_observe_server.sanitize import clean_text

try:  # waxell-observe-server depends on opentelemetry-proto
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )
except ImportError:  # pragma: no cover - reported as 501 by the route
    ExportTraceServiceRequest = ExportTraceServiceResponse = None  # type: ignore[assignment,misc]

__all__ = [
    "JSON_TYPES",
    "MAX_ATTRIBUTES",
    "PROTOBUF_TYPES",
    "OTLPDecodeError",
    "ReceivedSpan",
    "available",
    "decode_request",
    "parse_body",
    "response_dict",
    "response_message",
]

MAX_ATTRIBUTES = 128
"""At most this many items of an array or map attribute (and events of a span) are kept."""
PROTOBUF_TYPES = frozenset({"application/x-protobuf", "application/protobuf"})
JSON_TYPES = frozenset({"application/json"})

_ATTRIBUTE_TEXT_LIMIT = 4_096
_HEX = frozenset("0123456789abcdefABCDEF")
_STATUS_ERROR = 2
_SPAN_FLAGS_HAS_IS_REMOTE = 0x100
_SPAN_FLAGS_IS_REMOTE = 0x200


def available() -> bool:
    """Whether opentelemetry-proto is importable (else the receiver answers 501)."""
    return ExportTraceServiceRequest is not None


class OTLPDecodeError(ValueError):
    """The body is not an OTLP trace export request."""


@dataclass
class ReceivedSpan:
    """One span of a request, decoded into plain values (times in epoch seconds)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    parent_remote: bool
    name: str
    kind: int
    start: float
    end: float
    attributes: dict[str, Any]
    error: bool
    status_message: str
    events: list[tuple[str, float, dict[str, Any]]] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""

    @property
    def duration_ms(self) -> float | None:
        """The span's length, ``None`` for a zero-length span (a record without a duration)."""
        return round((self.end - self.start) * 1000.0, 3) if self.end > self.start else None


def _text(value: str, limit: int = _ATTRIBUTE_TEXT_LIMIT) -> str:
    return clean_text(value[:limit])


def _any_value(value: Any, depth: int = 0) -> Any:
    which = value.WhichOneof("value")
    if which == "string_value":
        return _text(value.string_value)
    if which == "bool_value":
        return value.bool_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        number = value.double_value
        return number if math.isfinite(number) else repr(number)
    if depth >= 8:
        return None
    if which == "array_value":
        return [_any_value(v, depth + 1) for v in value.array_value.values[:MAX_ATTRIBUTES]]
    if which == "kvlist_value":
        return {
            _text(kv.key, 256): _any_value(kv.value, depth + 1)
            for kv in value.kvlist_value.values[:MAX_ATTRIBUTES]
        }
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value[:_ATTRIBUTE_TEXT_LIMIT]).decode("ascii")
    return None


def _attributes(key_values: Iterable[Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for index, kv in enumerate(key_values):
        if index >= MAX_ATTRIBUTES * 4:
            break
        attributes[_text(kv.key, 256)] = _any_value(kv.value)
    return attributes


def _seconds(nanos: int, default: float) -> float:
    seconds = nanos / 1e9
    return seconds if 0 < seconds <= MAX_TIMESTAMP else default


def _hex_id(raw: bytes, size: int) -> str:
    return raw.hex() if len(raw) == size and any(raw) else ""


def _hex_to_base64(node: dict[str, Any], keys: Iterable[str]) -> None:
    for key in keys:
        value = node.get(key)
        if isinstance(value, str) and len(value) in (16, 32) and _HEX.issuperset(value):
            node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")


def _list(node: dict[str, Any], *keys: str) -> list[dict[str, Any]]:
    """The objects in the list ``node[key]`` (the first key present); malformed parts are
    left for the protobuf parser to reject."""
    for key in keys:
        value = node.get(key)
        if value is not None:
            return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
    return []


def _json_ids_to_base64(document: Any) -> None:
    """OTLP/JSON writes ids as hex; protobuf's JSON mapping expects base64."""
    if not isinstance(document, dict):
        raise OTLPDecodeError("an OTLP/JSON body must be a JSON object")
    for resource_spans in _list(document, "resourceSpans", "resource_spans"):
        for scope_spans in _list(resource_spans, "scopeSpans", "scope_spans"):
            for span in _list(scope_spans, "spans"):
                _hex_to_base64(
                    span, ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
                )
                for link in _list(span, "links"):
                    _hex_to_base64(link, ("traceId", "spanId", "trace_id", "span_id"))


def parse_body(body: bytes, content_type: str) -> Any:
    """The ``ExportTraceServiceRequest`` in ``body`` (protobuf or OTLP/JSON)."""
    message = ExportTraceServiceRequest()
    if content_type in PROTOBUF_TYPES:
        try:
            message.ParseFromString(body)
        except (DecodeError, ValueError, RecursionError) as exc:
            raise OTLPDecodeError(f"not an OTLP protobuf ExportTraceServiceRequest: {exc}") from None
        return message
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise OTLPDecodeError(f"not valid JSON: {exc}") from None
    _json_ids_to_base64(document)
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise OTLPDecodeError(f"not an OTLP/JSON ExportTraceServiceRequest: {exc}") from None
    return message


def decode_request(message: Any, now: float) -> tuple[list[ReceivedSpan], int, str]:
    """The usable spans of an export request, how many were rejected, and why."""
    received: list[ReceivedSpan] = []
    rejected = 0
    reason = ""
    for resource_spans in message.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = _text(scope_spans.scope.name, 256)
            for span in scope_spans.spans:
                trace_id = _hex_id(span.trace_id, 16)
                span_id = _hex_id(span.span_id, 8)
                if not trace_id or not span_id:
                    rejected += 1
                    reason = "spans need a 16-byte trace_id and an 8-byte span_id (not all zero)"
                    continue
                start = _seconds(span.start_time_unix_nano, now)
                end = max(start, _seconds(span.end_time_unix_nano, start))
                flags = span.flags
                received.append(
                    ReceivedSpan(
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_span_id=_hex_id(span.parent_span_id, 8),
                        parent_remote=bool(
                            flags & _SPAN_FLAGS_HAS_IS_REMOTE and flags & _SPAN_FLAGS_IS_REMOTE
                        ),
                        name=_text(span.name, 512) or "span",
                        kind=int(span.kind),
                        start=start,
                        end=end,
                        attributes=_attributes(span.attributes),
                        error=span.status.code == _STATUS_ERROR,
                        status_message=_text(span.status.message, TEXT_LIMIT),
                        events=[
                            (_text(e.name, 256), _seconds(e.time_unix_nano, end), _attributes(e.attributes))
                            for e in span.events[:MAX_ATTRIBUTES]
                        ],
                        resource=resource,
                        scope=scope,
                    )
                )
    return received, rejected, reason


def response_message(rejected: int, reason: str) -> Any:
    """The ``ExportTraceServiceResponse`` for a request of which ``rejected`` spans were unusable."""
    message = ExportTraceServiceResponse()
    if rejected:
        message.partial_success.rejected_spans = rejected
        message.partial_success.error_message = reason
    return message


def response_dict(message: Any) -> dict[str, Any]:
    """``message`` in protobuf's JSON mapping (the reply to an OTLP/JSON request)."""
    return dict(json_format.MessageToDict(message))
