"""OTLP/HTTP log export (``POST /v1/logs``): the body (protobuf or OTLP/JSON) into :class:`ReceivedLog`
values, and the ``ExportLogsServiceResponse`` the receiver answers with.

A log record belongs to a run when it carries the ``waxell_run_id`` attribute (the SDK's log export
adds it while a run is active); records without one are kept too (``run_id`` empty), with their
trace and span ids, so they can be found by trace. Everything taken from a record is bounded and
cleaned like spans are (:mod:`.decode`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from waxell_observe_server.limits import TEXT_LIMIT
from waxell_observe_server.otlp.decode import (
    PROTOBUF_TYPES,
    OTLPDecodeError,
    _any_value,
    _attributes,
    _hex_id,
    _hex_to_base64,
    _list,
    _seconds,
    _text,
)

try:  # waxell-observe-server depends on opentelemetry-proto
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
        ExportLogsServiceResponse,
    )
except ImportError:  # pragma: no cover - reported as 501 by the route
    ExportLogsServiceRequest = ExportLogsServiceResponse = None  # type: ignore[assignment,misc]

__all__ = [
    "AGENT_ATTRIBUTE",
    "RUN_ID_ATTRIBUTE",
    "WORKFLOW_ATTRIBUTE",
    "ReceivedLog",
    "decode_logs",
    "logs_response",
    "parse_logs_body",
]

RUN_ID_ATTRIBUTE = "waxell_run_id"
AGENT_ATTRIBUTE = "waxell_agent_name"
WORKFLOW_ATTRIBUTE = "waxell_workflow_name"


@dataclass
class ReceivedLog:
    """One log record of a request, decoded into plain values (time in epoch seconds)."""

    run_id: str
    time: float
    severity_number: int
    severity_text: str
    body: str
    logger: str
    trace_id: str
    span_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)


def _json_ids_to_base64(document: Any) -> None:
    if not isinstance(document, dict):
        raise OTLPDecodeError("an OTLP/JSON body must be a JSON object")
    for resource_logs in _list(document, "resourceLogs", "resource_logs"):
        for scope_logs in _list(resource_logs, "scopeLogs", "scope_logs"):
            for record in _list(scope_logs, "logRecords", "log_records"):
                _hex_to_base64(record, ("traceId", "spanId", "trace_id", "span_id"))


def parse_logs_body(body: bytes, content_type: str) -> Any:
    """The ``ExportLogsServiceRequest`` in ``body`` (protobuf or OTLP/JSON)."""
    message = ExportLogsServiceRequest()
    if content_type in PROTOBUF_TYPES:
        try:
            message.ParseFromString(body)
        except (DecodeError, ValueError, RecursionError) as exc:
            raise OTLPDecodeError(f"not an OTLP protobuf ExportLogsServiceRequest: {exc}") from None
        return message
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise OTLPDecodeError(f"not valid JSON: {exc}") from None
    _json_ids_to_base64(document)
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise OTLPDecodeError(f"not an OTLP/JSON ExportLogsServiceRequest: {exc}") from None
    return message


def _body_text(record: Any) -> str:
    if not record.HasField("body"):
        return ""
    value = _any_value(record.body)
    if isinstance(value, str):
        return _text(value, TEXT_LIMIT)
    return _text(json.dumps(value, default=str), TEXT_LIMIT)


def decode_logs(message: Any, now: float) -> list[ReceivedLog]:
    """The log records of an export request (every record is usable: a record without a time gets
    its observed time, else the request's)."""
    received: list[ReceivedLog] = []
    for resource_logs in message.resource_logs:
        resource = _attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            scope = _text(scope_logs.scope.name, 256)
            for record in scope_logs.log_records:
                attributes = _attributes(record.attributes)
                run_id = attributes.pop(RUN_ID_ATTRIBUTE, "")
                observed = _seconds(record.observed_time_unix_nano, now)
                received.append(
                    ReceivedLog(
                        run_id=_text(run_id, 64) if isinstance(run_id, str) else "",
                        time=_seconds(record.time_unix_nano, observed),
                        severity_number=int(record.severity_number),
                        severity_text=_text(record.severity_text, 32),
                        body=_body_text(record),
                        logger=scope,
                        trace_id=_hex_id(record.trace_id, 16),
                        span_id=_hex_id(record.span_id, 8),
                        attributes=attributes,
                        resource=resource,
                    )
                )
    return received


def logs_response() -> Any:
    """The (empty: every record is accepted) ``ExportLogsServiceResponse``."""
    return ExportLogsServiceResponse()
