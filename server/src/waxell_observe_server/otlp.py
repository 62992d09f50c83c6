"""The control plane's OTLP/HTTP trace receiver: ``POST /v1/traces`` (protobuf and JSON).

Any OpenTelemetry SDK or Collector can export traces here (``OTEL_EXPORTER_OTLP_ENDPOINT``
set to the server's base URL). Authentication is that of the rest of the API (``X-Wax-Key``
or ``Authorization: Bearer``; none needed in local mode). Bodies may be gzip- or
deflate-compressed (``Content-Encoding``). The reply is an ``ExportTraceServiceResponse``
in the request's encoding; spans that cannot be used (bad ids) are counted in its
``partial_success``. A body that is not OTLP gets 400, an unknown content type 415.

What the spans become (one write transaction per request, idempotent on re-delivery):

- **Spans with ``waxell.run_id``** (exported by the waxell-observe OTel plugin) rebuild or
  enrich that run: a run the store already has (delivered by the SDK's own sink) gets the
  span's tags, metadata and timings merged in; a run it does not have is created from the
  run span (``source = "otlp"``) when that span arrives (OTel exports a span when it ends),
  with its LLM calls, steps, spans and scores under the records' own ids (so nothing is
  stored twice when both paths deliver).
- **Spans from any other application** become one run per trace (``run_id`` = the trace id,
  ``source = "otel"``): agent name from ``gen_ai.agent.name``, else the resource's
  ``service.name``, else the root span's name; workflow = the root span's name; session from
  ``gen_ai.conversation.id``/``session.id``, user from ``user.id``/``enduser.id``. Spans
  with GenAI attributes (OTel GenAI semantic conventions, OpenLLMetry ``gen_ai.*``/
  ``llm.usage.*``, OpenInference ``llm.*``) become LLM calls with model, provider, tokens
  and cost (estimated from the price table when the span carries none); every other span
  becomes a span record of the run (tool, agent, retrieval, chain or custom). Spans of a
  trace arriving in several requests update the same run; it completes when its root span
  (no parent, or a remote parent) arrives. Spans from another instrumentation inside the
  trace of a run the SDK delivered itself are attached to that run as span records only
  (its LLM calls are the SDK's).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Connection, func, select
from starlette.concurrency import run_in_threadpool

from waxell_observe.pricing import estimate_cost, infer_provider
from waxell_observe.store import writer
from waxell_observe.store.schema import llm_calls, runs, scores, spans, steps
from waxell_observe_server.auth import require_key
from waxell_observe_server.limits import MAX_TIMESTAMP, TEXT_LIMIT, TRACEBACK_LIMIT
from waxell_observe_server.sanitize import clean_json, clean_text

try:  # the ``server`` extra installs opentelemetry-proto
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )
except ImportError:  # pragma: no cover - reported as 501 by the route
    ExportTraceServiceRequest = ExportTraceServiceResponse = None  # type: ignore[assignment,misc]

__all__ = [
    "MAX_DECOMPRESSED_BYTES",
    "TRACES_PATH",
    "IngestResult",
    "ReceivedSpan",
    "decode_request",
    "ingest_spans",
    "install",
    "router",
]

logger = logging.getLogger("waxell_observe_server")

TRACES_PATH = "/v1/traces"
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024
"""A compressed body may expand to at most this many bytes (else 413)."""

_ATTRIBUTE_TEXT_LIMIT = 4_096
_MAX_ATTRIBUTES = 128
_PREVIEW_CHARS = 500
_PROTOBUF_TYPES = frozenset({"application/x-protobuf", "application/protobuf"})
_JSON_TYPES = frozenset({"application/json"})
_HEX = frozenset("0123456789abcdefABCDEF")
_STATUS_ERROR = 2
_SPAN_FLAGS_HAS_IS_REMOTE = 0x100
_SPAN_FLAGS_IS_REMOTE = 0x200

router = APIRouter(tags=["otlp"], dependencies=[Depends(require_key)])


def install(app: FastAPI) -> None:
    """Tell the rest of the app that OTLP traces are received at :data:`TRACES_PATH`."""
    app.state.otlp_traces_path = TRACES_PATH


# -- decoding ------------------------------------------------------------------------------


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
        return [_any_value(v, depth + 1) for v in value.array_value.values[:_MAX_ATTRIBUTES]]
    if which == "kvlist_value":
        return {
            _text(kv.key, 256): _any_value(kv.value, depth + 1)
            for kv in value.kvlist_value.values[:_MAX_ATTRIBUTES]
        }
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value[:_ATTRIBUTE_TEXT_LIMIT]).decode("ascii")
    return None


def _attributes(key_values: Iterable[Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for index, kv in enumerate(key_values):
        if index >= _MAX_ATTRIBUTES * 4:
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
    if content_type in _PROTOBUF_TYPES:
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
                            for e in span.events[:_MAX_ATTRIBUTES]
                        ],
                        resource=resource,
                        scope=scope,
                    )
                )
    return received, rejected, reason


# -- reading attribute values --------------------------------------------------------------


def _str(attributes: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _int(attributes: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, float) and math.isfinite(value) and value == int(value):
            value = int(value)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, int) and 0 <= value <= 2**31 - 1:
            return value
    return None


def _float(attributes: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
            return float(value)
    return None


def _decoded(value: Any) -> Any:
    """A JSON-encoded attribute value decoded back (other values as they are)."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return clean_json(json.loads(value))
        except (ValueError, RecursionError):
            return value
    return value


def _prefixed(attributes: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {
        key[len(prefix) :]: _decoded(value) for key, value in attributes.items() if key.startswith(prefix)
    }


def _exception(span: ReceivedSpan) -> tuple[str, str, str]:
    """``(type, message, stacktrace)`` of the span's first exception event."""
    for name, _at, attributes in span.events:
        if name == "exception":
            return (
                _str(attributes, "exception.type")[:256],
                _str(attributes, "exception.message"),
                _str(attributes, "exception.stacktrace")[-TRACEBACK_LIMIT:],
            )
    return "", "", ""


def _preview(text: str) -> str:
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 1] + "…"


# -- waxell runs (spans carrying waxell.run_id) --------------------------------------------


_RUN_FIELDS_FROM_SPAN = (
    "agent_name",
    "workflow_name",
    "status",
    "error",
    "error_type",
    "traceback",
    "session_id",
    "user_id",
    "user_group",
    "parent_run_id",
    "root_run_id",
    "interaction_mode",
    "started_at",
    "ended_at",
    "inputs",
    "result",
    "conversation",
    "governance",
    "trace_id",
    "source",
)


def _waxell_run_row(run_id: str, span: ReceivedSpan) -> dict[str, Any]:
    a = span.attributes
    error_type, message, stacktrace = _exception(span)
    status = _str(a, "waxell.run.status") or ("error" if span.error else "success")
    governance: dict[str, Any] = {}
    if _str(a, "waxell.governance.action"):
        governance = {
            "action": _str(a, "waxell.governance.action"),
            "reason": _str(a, "waxell.governance.reason"),
        }
    inputs, result, conversation = (
        _decoded(a.get(k)) for k in ("waxell.run.inputs", "waxell.run.result", "waxell.conversation")
    )
    return {
        "run_id": run_id,
        "agent_name": _str(a, "waxell.agent.name", "gen_ai.agent.name")[:256] or span.name,
        "workflow_name": _str(a, "waxell.workflow.name")[:256] or "default",
        "status": status
        if status in ("running", "success", "error", "blocked", "interrupted")
        else "success",
        "error": (span.status_message or message) if status != "success" else "",
        "error_type": error_type,
        "traceback": stacktrace,
        "session_id": _str(a, "waxell.session_id", "gen_ai.conversation.id"),
        "user_id": _str(a, "waxell.user_id"),
        "user_group": _str(a, "waxell.user_group"),
        "parent_run_id": _str(a, "waxell.parent_run_id"),
        "root_run_id": _str(a, "waxell.root_run_id"),
        "interaction_mode": _str(a, "waxell.interaction_mode") or "autonomous",
        "started_at": span.start,
        "ended_at": span.end,
        "inputs": inputs if isinstance(inputs, dict) else {},
        "metadata": _prefixed(a, "waxell.meta."),
        "tags": {key: str(value) for key, value in _prefixed(a, "waxell.tag.").items()},
        "result": result if isinstance(result, dict) else {},
        "conversation": conversation if isinstance(conversation, dict) else {},
        "governance": governance,
        "trace_id": span.trace_id,
        "source": "otlp",
    }


def _provisional_run_row(run_id: str, group: list[ReceivedSpan], source: str) -> dict[str, Any]:
    """A run whose root span has not arrived yet (it is still running)."""
    first = min(group, key=lambda s: s.start)
    agent = ""
    for span in group:
        agent = _str(span.attributes, "waxell.agent.name", "gen_ai.agent.name")
        if agent:
            break
    return {
        "run_id": run_id,
        "agent_name": (agent or _service_name(first) or first.name)[:256],
        "workflow_name": "default",
        "status": "running",
        "started_at": first.start,
        "ended_at": None,
        "trace_id": first.trace_id,
        "source": source,
    }


def _waxell_llm_row(run_id: str, span: ReceivedSpan) -> dict[str, Any]:
    a = span.attributes
    model = _str(a, "gen_ai.request.model", "gen_ai.response.model")[:256] or "unknown"
    tokens_in = _int(a, "gen_ai.usage.input_tokens") or 0
    tokens_out = _int(a, "gen_ai.usage.output_tokens") or 0
    cost = _float(a, "waxell.llm.cost_usd")
    extra = {
        k: v
        for k, v in _prefixed(a, "waxell.llm.").items()
        if k not in ("cost_usd", "task", "status", "prompt", "response")
    }
    cached = _int(a, "gen_ai.usage.cache_read.input_tokens")
    if cached:
        extra["cached_tokens_in"] = cached
    reasons = a.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, list) and reasons and isinstance(reasons[0], str):
        extra["finish_reason"] = reasons[0]
    messages = _decoded(a.get("gen_ai.input.messages"))
    if isinstance(messages, list):
        extra["messages"] = messages
    return {
        "id": _str(a, "waxell.record.id")[:64],
        "run_id": run_id,
        "position": _int(a, "waxell.record.position") or 0,
        "model": model,
        "provider": _str(a, "gen_ai.provider.name", "gen_ai.system")[:64] or infer_provider(model),
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost": cost
        if cost is not None
        else estimate_cost(model, tokens_in, tokens_out, cached_tokens_in=cached or 0),
        "task": _str(a, "waxell.llm.task")[:256],
        "prompt_preview": _str(a, "waxell.llm.prompt")[:TEXT_LIMIT],
        "response_preview": _str(a, "waxell.llm.response")[:TEXT_LIMIT],
        "duration_ms": span.duration_ms,
        "status": "error" if span.error else "ok",
        "error_type": _str(a, "error.type")[:256],
        "error_message": span.status_message if span.error else "",
        "started_at": span.start,
        "parent_span_id": _str(a, "waxell.parent_record_id")[:64],
        "attributes": clean_json(extra),
    }


def _waxell_step_row(run_id: str, span: ReceivedSpan) -> dict[str, Any]:
    a = span.attributes
    output = _decoded(a.get("waxell.step.output"))
    return {
        "id": _str(a, "waxell.record.id")[:64],
        "run_id": run_id,
        "position": _int(a, "waxell.record.position") or 0,
        "name": _str(a, "waxell.step.name")[:512] or span.name,
        "output": output if isinstance(output, dict) else None,
        "started_at": span.start,
    }


def _waxell_span_row(run_id: str, span: ReceivedSpan) -> dict[str, Any]:
    a = span.attributes
    kind = _str(a, "waxell.span.kind")[:32] or "custom"
    return {
        "id": _str(a, "waxell.record.id")[:64],
        "run_id": run_id,
        "position": _int(a, "waxell.record.position") or 0,
        "kind": kind,
        "name": _str(a, "waxell.span.name")[:512] or span.name,
        "status": "error" if span.error else "ok",
        "duration_ms": span.duration_ms,
        "started_at": span.start,
        "parent_span_id": _str(a, "waxell.parent_record_id")[:64],
        "attributes": clean_json(_prefixed(a, f"waxell.{kind}.")),
        "input": _decoded(a.get("waxell.span.input")),
        "output": _decoded(a.get("waxell.span.output")),
        "error": _str(a, "waxell.span.error")[:TEXT_LIMIT],
    }


def _score_rows(run_id: str, span: ReceivedSpan) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, at, attributes in span.events:
        if name != "waxell.score":
            continue
        score_name = _str(attributes, "waxell.score.name")[:256]
        data_type = _str(attributes, "waxell.score.data_type") or "numeric"
        value = attributes.get("waxell.score.value")
        valid = (
            (data_type == "numeric" and isinstance(value, (int, float)) and not isinstance(value, bool))
            or (data_type == "boolean" and isinstance(value, bool))
            or (data_type == "categorical" and isinstance(value, str))
        )
        if not score_name or not valid:
            continue
        rows.append(
            writer.score_row(
                score_name,
                value,
                data_type,
                _str(attributes, "waxell.score.comment")[:TEXT_LIMIT],
                id=_str(attributes, "waxell.score.id")[:64] or f"{span.span_id}{len(rows):016x}",
                run_id=run_id,
                created_at=at,
            )
        )
    return rows


def _existing_run(conn: Connection, run_id: str) -> Any:
    return conn.execute(
        select(runs.c.run_id, runs.c.source, runs.c.status, runs.c.tags, runs.c.metadata, runs.c.trace_id,
               runs.c.started_at, runs.c.ended_at, runs.c.session_id, runs.c.user_id)
        .where(runs.c.run_id == run_id)
    ).first()  # fmt: skip


def _update_run(conn: Connection, run_id: str, values: Mapping[str, Any]) -> None:
    if values:
        writer.complete_run(conn, run_id, values)


def _enrich_run(conn: Connection, existing: Any, row: dict[str, Any]) -> None:
    """Merge what a run span says into a run the store already has."""
    if existing.source in ("otlp", "otel"):
        # We created it from spans (provisionally, or from foreign spans that came first).
        _update_run(conn, existing.run_id, {k: row[k] for k in (*_RUN_FIELDS_FROM_SPAN, "metadata", "tags")})
        return
    values: dict[str, Any] = {
        "tags": {**(existing.tags or {}), **row["tags"]},
        "metadata": {**(existing.metadata or {}), **row["metadata"]},
    }
    if not existing.trace_id:
        values["trace_id"] = row["trace_id"]
    if existing.status == "running" and row["status"] != "running":
        values.update({k: row[k] for k in ("status", "error", "error_type", "traceback")})
    if existing.ended_at is None:
        values["ended_at"] = row["ended_at"]
    _update_run(conn, existing.run_id, values)


def _ingest_waxell_run(conn: Connection, run_id: str, group: list[ReceivedSpan]) -> None:
    run_span = next((s for s in group if s.attributes.get("waxell.record") == "run"), None)
    if run_span is not None:
        existing = _existing_run(conn, run_id)
        row = _waxell_run_row(run_id, run_span)
        if existing is None:
            writer.start_run(conn, row)
        else:
            _enrich_run(conn, existing, row)
    # Records of a run whose span has not arrived (the run is still going) are stored all the
    # same: the run row appears with its run span, or with the SDK's own run start.
    calls, step_rows, span_rows, score_rows = [], [], [], []
    for span in group:
        record = span.attributes.get("waxell.record")
        if record == "run":
            score_rows.extend(_score_rows(run_id, span))
            continue
        if not _str(span.attributes, "waxell.record.id"):
            continue
        if record == "llm_call":
            calls.append(_waxell_llm_row(run_id, span))
        elif record == "step":
            step_rows.append(_waxell_step_row(run_id, span))
        elif record == "span":
            span_rows.append(_waxell_span_row(run_id, span))
    writer.insert_ignore(conn, llm_calls, calls)
    writer.insert_ignore(conn, steps, step_rows)
    writer.insert_ignore(conn, spans, span_rows)
    writer.insert_ignore(conn, scores, score_rows)


# -- spans from other applications --------------------------------------------------------


_LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings", "completion"})
_LLM_KINDS = frozenset({"LLM", "EMBEDDING"})
_USAGE_IN = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
)
_USAGE_OUT = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
)
_USAGE_CACHED = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
    "llm.usage.cache_read_input_tokens",
)
_MODEL_KEYS = (
    "gen_ai.response.model",
    "gen_ai.request.model",
    "llm.model_name",
    "embedding.model_name",
    "llm.request.model",
)


def _service_name(span: ReceivedSpan) -> str:
    name = _str(span.resource, "service.name")
    return "" if name.startswith("unknown_service") else name


def _is_llm(a: Mapping[str, Any]) -> bool:
    if _str(a, "gen_ai.operation.name") in _LLM_OPERATIONS:
        return True
    if _str(a, "openinference.span.kind").upper() in _LLM_KINDS:
        return True
    if _str(a, "llm.request.type") in ("chat", "completion", "embedding", "rerank"):
        return True
    has_model = any(_str(a, key) for key in _MODEL_KEYS)
    has_usage = any(a.get(key) is not None for key in (*_USAGE_IN, *_USAGE_OUT))
    return has_model and has_usage


def _indexed_messages(
    a: Mapping[str, Any], prefix: str, role_suffix: str, content_suffix: str
) -> list[tuple[str, str]]:
    """Messages flattened as ``<prefix>.<i><role_suffix>`` / ``<prefix>.<i><content_suffix>``."""
    found: dict[int, list[str]] = defaultdict(lambda: ["", ""])
    for key, value in a.items():
        if not key.startswith(prefix) or not isinstance(value, str):
            continue
        index, _, rest = key[len(prefix) :].partition(".")
        if not index.isdigit():
            continue
        if "." + rest == role_suffix:
            found[int(index)][0] = value
        elif "." + rest == content_suffix:
            found[int(index)][1] = value
    return [(role, content) for _i, (role, content) in sorted(found.items())]


def _semconv_messages(value: Any) -> list[tuple[str, str]]:
    """``gen_ai.input.messages``/``gen_ai.output.messages`` (JSON) as ``(role, text)``."""
    messages = _decoded(value)
    result: list[tuple[str, str]] = []
    if not isinstance(messages, list):
        return result
    for message in messages:
        if not isinstance(message, dict):
            continue
        texts = []
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        for part in message.get("parts") or []:
            if isinstance(part, dict) and isinstance(part.get("content"), str):
                texts.append(part["content"])
        result.append((str(message.get("role") or ""), "\n".join(texts)))
    return result


def _prompt_and_response(a: Mapping[str, Any]) -> tuple[str, str]:
    inputs = (
        _semconv_messages(a.get("gen_ai.input.messages"))
        or _indexed_messages(a, "gen_ai.prompt.", ".role", ".content")
        or _indexed_messages(a, "llm.input_messages.", ".message.role", ".message.content")
    )
    outputs = (
        _semconv_messages(a.get("gen_ai.output.messages"))
        or _indexed_messages(a, "gen_ai.completion.", ".role", ".content")
        or _indexed_messages(a, "llm.output_messages.", ".message.role", ".message.content")
    )
    user = [content for role, content in inputs if role == "user" and content]
    prompt = user[-1] if user else (inputs[-1][1] if inputs else _str(a, "gen_ai.prompt", "input.value"))
    response = next((content for _role, content in outputs if content), "") or _str(
        a, "gen_ai.completion", "output.value"
    )
    return _preview(prompt), _preview(response)


def _record_id(trace_id: str, span_id: str) -> str:
    return trace_id[:16] + span_id


def _foreign_llm_row(run_id: str, span: ReceivedSpan, position: int, parent_id: str) -> dict[str, Any]:
    a = span.attributes
    model = _str(a, *_MODEL_KEYS)[:256] or "unknown"
    tokens_in = _int(a, *_USAGE_IN)
    tokens_out = _int(a, *_USAGE_OUT)
    if tokens_in is None and tokens_out is None:
        tokens_in = _int(a, "llm.usage.total_tokens", "llm.token_count.total", "gen_ai.usage.total_tokens")
    tokens_in, tokens_out = tokens_in or 0, tokens_out or 0
    cached = _int(a, *_USAGE_CACHED) or 0
    cost = _float(a, "waxell.llm.cost_usd", "gen_ai.usage.cost", "llm.cost.total")
    provider = _str(a, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system").lower()[:64]
    prompt, response = _prompt_and_response(a)
    error_type, message, _stack = _exception(span)
    extra: dict[str, Any] = {"otel.span_name": span.name}
    reasons = a.get("gen_ai.response.finish_reasons") or a.get("llm.response.finish_reason")
    if isinstance(reasons, list) and reasons and isinstance(reasons[0], str):
        extra["finish_reason"] = reasons[0]
    elif isinstance(reasons, str):
        extra["finish_reason"] = reasons
    if cached:
        extra["cached_tokens_in"] = cached
    if _str(a, "gen_ai.request.model") and _str(a, "gen_ai.response.model"):
        extra["request_model"] = _str(a, "gen_ai.request.model")
    return {
        "id": _record_id(span.trace_id, span.span_id),
        "run_id": run_id,
        "position": position,
        "model": model,
        "provider": provider or infer_provider(model),
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost": cost
        if cost is not None
        else estimate_cost(model, tokens_in, tokens_out, cached_tokens_in=cached),
        "task": _str(a, "gen_ai.operation.name", "llm.request.type")[:256],
        "prompt_preview": prompt,
        "response_preview": response,
        "duration_ms": span.duration_ms,
        "status": "error" if span.error else "ok",
        "error_type": (_str(a, "error.type") or error_type)[:256],
        "error_message": (span.status_message or message) if span.error else "",
        "started_at": span.start,
        "parent_span_id": parent_id,
        "attributes": clean_json(extra),
    }


def _foreign_kind(a: Mapping[str, Any]) -> tuple[str, str]:
    """``(stored span kind, name override)`` of a non-LLM span."""
    operation = _str(a, "gen_ai.operation.name")
    openinference = _str(a, "openinference.span.kind").upper()
    traceloop = _str(a, "traceloop.span.kind").lower()
    if operation == "execute_tool" or openinference == "TOOL" or traceloop == "tool":
        return "tool", _str(a, "gen_ai.tool.name", "tool.name")
    if operation in ("invoke_agent", "create_agent") or openinference == "AGENT" or traceloop == "agent":
        return "agent", _str(a, "gen_ai.agent.name")
    if openinference in ("RETRIEVER", "RERANKER") or operation == "retrieval":
        return "retrieval", ""
    if openinference == "CHAIN" or traceloop in ("workflow", "task"):
        return "chain", ""
    if _is_llm(a):
        return "llm", ""
    return "custom", ""


def _foreign_span_row(run_id: str, span: ReceivedSpan, position: int, parent_id: str) -> dict[str, Any]:
    a = span.attributes
    kind, name = _foreign_kind(a)
    _error_type, message, _stack = _exception(span)
    kept = dict(list(a.items())[:_MAX_ATTRIBUTES])
    kept["otel.span_name"] = span.name
    if span.scope:
        kept["otel.scope"] = span.scope
    return {
        "id": _record_id(span.trace_id, span.span_id),
        "run_id": run_id,
        "position": position,
        "kind": kind,
        "name": (name or span.name)[:512],
        "status": "error" if span.error else "ok",
        "duration_ms": span.duration_ms,
        "started_at": span.start,
        "parent_span_id": parent_id,
        "attributes": clean_json(kept),
        "input": _preview(_str(a, "input.value", "gen_ai.tool.call.arguments")) or None,
        "output": _preview(_str(a, "output.value", "gen_ai.tool.call.result")) or None,
        "error": (span.status_message or message) if span.error else "",
    }


def _root(group: list[ReceivedSpan]) -> ReceivedSpan | None:
    """The trace's root among ``group``: no parent (preferred) or a remote parent."""
    roots = [s for s in group if not s.parent_span_id]
    if not roots:
        roots = [s for s in group if s.parent_remote]
    return min(roots, key=lambda s: s.start) if roots else None


def _first(group: list[ReceivedSpan], *keys: str) -> str:
    for span in sorted(group, key=lambda s: s.start):
        value = _str(span.attributes, *keys)
        if value:
            return value[:256]
    return ""


def _foreign_run_row(run_id: str, group: list[ReceivedSpan], root: ReceivedSpan | None) -> dict[str, Any]:
    row = _provisional_run_row(run_id, group, "otel")
    session = _first(
        group, "gen_ai.conversation.id", "session.id", "traceloop.association.properties.session_id"
    )
    user = _first(group, "user.id", "enduser.id", "traceloop.association.properties.user_id")
    service = next((name for name in (_service_name(s) for s in group) if name), "")
    row.update(
        session_id=session,
        user_id=user,
        interaction_mode="interactive" if session else "autonomous",
        tags={"service": service[:1024]} if service else {},
        metadata={"otel_resource": clean_json(dict(list(group[0].resource.items())[:_MAX_ATTRIBUTES]))},
    )
    if root is not None:
        error_type, message, stacktrace = _exception(root)
        row.update(
            agent_name=(_str(root.attributes, "gen_ai.agent.name") or service or root.name)[:256],
            workflow_name=root.name[:256],
            status="error" if root.error else "success",
            error=(root.status_message or message or "error") if root.error else "",
            error_type=error_type,
            traceback=stacktrace,
            started_at=root.start,
            ended_at=root.end,
        )
    return row


def _next_position(conn: Connection, run_id: str) -> int:
    highest = 0
    for table in (llm_calls, spans):
        stored = conn.execute(
            select(func.coalesce(func.max(table.c.position), 0)).where(table.c.run_id == run_id)
        ).scalar_one()
        highest = max(highest, int(stored))
    return highest + 1


def _ingest_foreign_trace(conn: Connection, trace_id: str, group: list[ReceivedSpan]) -> None:
    run_id = trace_id
    existing = _existing_run(conn, run_id)
    attach_only = existing is not None and existing.source != "otel"
    if not attach_only:
        root = _root(group)
        row = _foreign_run_row(run_id, group, root)
        if existing is None:
            writer.start_run(conn, row)
        elif root is not None:
            _update_run(conn, run_id, {k: v for k, v in row.items() if k != "run_id"})
        else:
            values: dict[str, Any] = {"started_at": min(existing.started_at, row["started_at"])}
            if not existing.session_id and row["session_id"]:
                values["session_id"] = row["session_id"]
            if not existing.user_id and row["user_id"]:
                values["user_id"] = row["user_id"]
            _update_run(conn, run_id, values)
    position = _next_position(conn, run_id)
    calls, span_rows = [], []
    for span in sorted(group, key=lambda s: s.start):
        parent_id = _record_id(trace_id, span.parent_span_id) if span.parent_span_id else ""
        if not attach_only and _is_llm(span.attributes):
            calls.append(_foreign_llm_row(run_id, span, position, parent_id))
        else:
            span_rows.append(_foreign_span_row(run_id, span, position, parent_id))
        position += 1
    writer.insert_ignore(conn, llm_calls, calls)
    writer.insert_ignore(conn, spans, span_rows)


# -- ingesting a request --------------------------------------------------------------------


@dataclass
class IngestResult:
    """What one request changed."""

    runs: list[str] = field(default_factory=list)
    spans: int = 0


def ingest_spans(conn: Connection, received: list[ReceivedSpan]) -> IngestResult:
    """Store ``received`` (inside the caller's write transaction)."""
    waxell: dict[str, list[ReceivedSpan]] = defaultdict(list)
    foreign: dict[str, list[ReceivedSpan]] = defaultdict(list)
    for span in received:
        run_id = span.attributes.get("waxell.run_id")
        if isinstance(run_id, str) and run_id:
            waxell[run_id[:64]].append(span)
        else:
            foreign[span.trace_id].append(span)
    for run_id, group in waxell.items():
        _ingest_waxell_run(conn, run_id, group)
    for trace_id, group in foreign.items():
        _ingest_foreign_trace(conn, trace_id, group)
    touched = [*waxell, *foreign]
    writer.refresh_totals(conn, touched)
    return IngestResult(runs=touched, spans=len(received))


# -- the route -------------------------------------------------------------------------------


def _decompress(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise _HTTPProblem(415, f"unsupported Content-Encoding {encoding!r}: use gzip, deflate or none")
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    decompressor = zlib.decompressobj(wbits)
    try:
        data = decompressor.decompress(body, MAX_DECOMPRESSED_BYTES + 1)
    except zlib.error as exc:
        if encoding == "deflate":  # raw deflate streams (no zlib header) exist in the wild
            try:
                data = zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, MAX_DECOMPRESSED_BYTES + 1)
            except zlib.error:
                raise _HTTPProblem(400, f"the body is not valid {encoding} data: {exc}") from None
        else:
            raise _HTTPProblem(400, f"the body is not valid {encoding} data: {exc}") from None
    if len(data) > MAX_DECOMPRESSED_BYTES:
        raise _HTTPProblem(413, f"the decompressed body is larger than {MAX_DECOMPRESSED_BYTES} bytes")
    return data


class _HTTPProblem(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _reply(content_type: str, rejected: int, reason: str) -> Response:
    message = ExportTraceServiceResponse()
    if rejected:
        message.partial_success.rejected_spans = rejected
        message.partial_success.error_message = reason
    if content_type in _PROTOBUF_TYPES:
        return Response(content=message.SerializeToString(), media_type="application/x-protobuf")
    return JSONResponse(json_format.MessageToDict(message))


def _store(request: Request, received: list[ReceivedSpan]) -> IngestResult:
    store = request.app.state.store
    with store.write() as conn:
        return ingest_spans(conn, received)


@router.post(TRACES_PATH, summary="Receive OTLP/HTTP traces (protobuf or JSON)")
async def receive_traces(request: Request) -> Response:
    """OTLP/HTTP ``ExportTraceServiceRequest`` → runs (see the module docstring)."""
    if ExportTraceServiceRequest is None:
        return JSONResponse(
            {"detail": "the OTLP receiver needs opentelemetry-proto: pip install 'waxell-observe[server]'"},
            501,
        )
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _PROTOBUF_TYPES and content_type not in _JSON_TYPES:
        return JSONResponse(
            {
                "detail": f"unsupported Content-Type {content_type!r}: send application/x-protobuf or application/json"
            },
            415,
        )
    try:
        body = _decompress(await request.body(), request.headers.get("content-encoding", ""))
        message = parse_body(body, content_type)
    except _HTTPProblem as problem:
        return JSONResponse({"detail": problem.detail}, problem.status)
    except OTLPDecodeError as exc:
        return JSONResponse({"detail": str(exc)}, 400)
    received, rejected, reason = decode_request(message, time.time())
    if received:
        await run_in_threadpool(_store, request, received)
    return _reply(content_type, rejected, reason)
