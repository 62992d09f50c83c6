"""The OTLP destination: journal frames → spans → an OTLP/HTTP receiver, on the drainer's thread.

The pipeline's drainer hands each batch of frames routed here to :meth:`OtlpDestination.deliver`,
which builds the batch's spans (:mod:`waxell_observe_otel.spans`) and exports them
synchronously; the journal is the only queue. Outcomes:

- the receiver took the spans (2xx): delivered (spans it says it rejected in its
  ``partial_success`` are counted as dropped, with its message);
- connection error, timeout, 408, 429, 5xx: :class:`RetryLater` (``Retry-After`` honoured) — the
  frames stay journaled and come again after the drainer's backoff, so nothing is dropped
  while the receiver is down; spans of the batch that a receiver already took are not sent again;
- any other 4xx (401 for a wrong key, 400, 404, ...): final — the batch's records are counted
  as dropped with the receiver's status and reason (logged once per reason by the pipeline);
  a 413 sends fewer spans per request first.

Where the spans go:

- ``endpoint``: an OTLP/HTTP traces URL. Bodies are protobuf written directly from plain values
  (:mod:`waxell_observe_otel.otlp_proto`) and posted with httpx; headers from
  ``OTEL_EXPORTER_OTLP[_TRACES]_HEADERS`` and, for our own control plane's receiver, the API key
  (``X-Wax-Key``);
- ``ask``: remote mode without an endpoint — the control plane's ``config/`` names it (asked
  once, here: :mod:`waxell_observe_otel.remote_config`), and the API key goes with the spans;
- ``exporter``: an OpenTelemetry ``SpanExporter`` object given to ``init(otel_span_exporter=...)``
  in this process; it gets ``ReadableSpan`` objects.

When the application set its own SDK ``TracerProvider`` globally, our spans take its resource
and sampler, and once exported they are also started and ended on its provider (as spans of the
``waxell_observe`` scope), so its own processors and exporters see them — as before, without
anything of its setup being changed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import time
import zlib
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import Attributes

from waxell_observe.gating.network import own_traffic
from waxell_observe.pipeline import frames as fr
from waxell_observe.pipeline.destination import Delivered, RetryLater
from waxell_observe_otel import __version__
from waxell_observe_otel import pipeline as otel_sdk
from waxell_observe_otel.otlp_proto import ResourceScope, encode_request, span_bytes
from waxell_observe_otel.remote_config import FETCH_TIMEOUT, ask_otel_endpoint
from waxell_observe_otel.settings import DEFAULT_EXPORT_TIMEOUT, KEY_HEADER, exporter_for, traces_url
from waxell_observe_otel.spans import CLIENT, RunInfo, SpanAssembler, SpanData

__all__ = ["KIND", "MAX_REQUEST_BYTES", "OtlpDestination", "destination_key", "make_destination"]

logger = logging.getLogger("waxell_observe")

KIND = "otlp"
"""The route entry (and report) name of this destination."""

MAX_REQUEST_BYTES = 4 * 1024 * 1024
"""Encoded spans per request, at most (a batch of 4,096 records is cut into requests below it)."""

_RETRY_STATUSES = frozenset({408, 429})


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


def destination_key(settings: dict[str, Any]) -> str:
    """Identifies the destination across processes (it names its acknowledged position on disk):
    where it exports and a digest of its settings — never a key or header in clear."""
    ask = settings.get("ask")
    if isinstance(ask, dict):
        target = f"ask:{ask.get('api_url', '')}"
    elif settings.get("exporter"):
        target = f"exporter:{settings['exporter']}"
    else:
        target = str(settings.get("endpoint") or "")
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{KIND}:{target}#{digest}"


def make_destination(settings: dict[str, Any]) -> OtlpDestination | None:
    """The destination of a route entry, or ``None`` when it names an exporter object of another
    process (its runs cannot be exported from here)."""
    token = settings.get("exporter")
    if token and exporter_for(str(token)) is None:
        logger.warning(
            "waxell-observe: a journal names a span exporter object of another process "
            "(init(otel_span_exporter=...)); its runs are not exported from this one"
        )
        return None
    return OtlpDestination(settings)


def _retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (delay-seconds or an HTTP date), or ``None``."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _detail(response: httpx.Response) -> str:
    text = response.text[:300] if response.content else ""
    if "json" in response.headers.get("content-type", ""):
        try:
            body = response.json()
        except ValueError:
            return text
        if isinstance(body, dict):
            for field in ("detail", "message", "error"):
                if body.get(field):
                    return str(body[field])[:300]
    return text if text.isprintable() else f"{len(response.content)} bytes"


def _partial_success(response: httpx.Response) -> tuple[int, str]:
    """``(rejected spans, message)`` of an ``ExportTraceServiceResponse`` (protobuf or JSON)."""
    if not response.content:
        return 0, ""
    content_type = response.headers.get("content-type", "")
    try:
        if "json" in content_type:
            body = response.json()
            partial = body.get("partialSuccess") or body.get("partial_success") or {}
            return int(partial.get("rejectedSpans") or partial.get("rejected_spans") or 0), str(
                partial.get("errorMessage") or partial.get("error_message") or ""
            )
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        message = ExportTraceServiceResponse()
        message.ParseFromString(response.content)
        return int(message.partial_success.rejected_spans), message.partial_success.error_message
    except Exception:  # noqa: BLE001 - an unreadable 2xx body: the receiver took the spans
        return 0, ""


class OtlpDestination:
    """Exports the runs routed to it as OTLP traces (see the module docstring)."""

    name = KIND

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.key = destination_key(settings)
        self.capture_content = bool(settings.get("capture_content"))
        try:
            self.timeout = float(settings.get("timeout") or DEFAULT_EXPORT_TIMEOUT)
        except (TypeError, ValueError):
            self.timeout = DEFAULT_EXPORT_TIMEOUT
        raw_headers = settings.get("headers")
        self.headers = {
            str(k).lower(): str(v) for k, v in (raw_headers.items() if isinstance(raw_headers, dict) else ())
        }
        ask = settings.get("ask")
        self.ask: dict[str, Any] | None = ask if isinstance(ask, dict) else None
        self.url: str | None = None if self.ask is not None else str(settings.get("endpoint") or "")
        token = settings.get("exporter")
        self.exporter: Any = exporter_for(str(token)) if token else None
        self.compression = str(settings.get("compression") or "").lower()
        resource = settings.get("resource")
        self.resource_attributes: dict[str, Any] = dict(resource) if isinstance(resource, dict) else {}
        self.sampler = otel_sdk.make_sampler(
            str(settings.get("sampler") or ""), str(settings.get("sampler_arg") or "")
        )
        self.assembler = SpanAssembler(self.capture_content)
        self.exported = 0
        """Spans the receiver (or exporter) took since this destination was made."""
        self._client: httpx.Client | None = None
        self._resource: Any = None
        self._resource_scope_cache: tuple[Any, ResourceScope] | None = None
        self._handoffs: dict[int, otel_sdk.ApplicationHandOff] = {}
        self._taken: set[tuple[int, int]] = set()
        """Spans a receiver took during an attempt that must be retried (not sent twice)."""
        self._logged: set[str] = set()
        self._scope = InstrumentationScope(otel_sdk.SCOPE_NAME, __version__)

    # -- where to -------------------------------------------------------------------------------

    def _target(self) -> str:
        """The traces URL ("" when the control plane names none); asks the control plane once."""
        if self.url is not None:
            return self.url
        assert self.ask is not None
        api_url = str(self.ask.get("api_url") or "")
        api_key = str(self.ask.get("api_key") or "")
        endpoint = ask_otel_endpoint(api_url, api_key, min(self.timeout, FETCH_TIMEOUT))
        url = traces_url(endpoint) if endpoint else ""
        if url:
            if api_key and KEY_HEADER not in self.headers and "authorization" not in self.headers:
                self.headers[KEY_HEADER] = api_key  # the control plane named its own receiver
            logger.info(
                "waxell-observe: exporting traces to %s (named by the control plane %s)", url, api_url
            )
        else:
            logger.info(
                "waxell-observe: the control plane %s names no OTLP endpoint; "
                "runs are not exported as traces",
                api_url,
            )
        self.url = url
        return url

    def _client_for(self) -> httpx.Client:
        if self._client is None:
            verify: Any = self.settings.get("certificate") or True
            cert_file = self.settings.get("client_certificate") or None
            key_file = self.settings.get("client_key") or None
            cert: Any = (cert_file, key_file) if cert_file and key_file else cert_file
            # the SDK's own traffic: never stopped by the network gate (gating.network.own_traffic)
            self._client = own_traffic(httpx.Client(timeout=self.timeout, verify=verify, cert=cert))
        return self._client

    def _our_resource(self) -> Any:
        if self._resource is None:
            self._resource = otel_sdk.make_resource(self.resource_attributes)
        return self._resource

    # -- delivery -------------------------------------------------------------------------------

    def deliver(self, frames: list[list[Any]]) -> Delivered:
        url = "" if self.exporter is not None else self._target()
        application = otel_sdk.application_provider()
        sampler = application.sampler if application is not None else self.sampler
        self.assembler.sample_root = None if sampler is None else _root_sampler(sampler)
        carried = self._carried_starts(frames)
        assembly = self.assembler.assemble(frames)
        outcome = Delivered()
        for reason, count in assembly.refused.items():
            outcome.refuse(reason, count)
        spans = assembly.spans
        if spans:
            resource = application.resource if application is not None else self._our_resource()
            if self.exporter is not None:
                taken = self._export_objects(spans, resource, frames, outcome)
            elif url:
                taken = self._post_all(url, spans, resource, frames, outcome, carried)
            else:
                taken = False  # the control plane names no endpoint: nothing to export
            if taken and application is not None:
                self._hand_off(application, spans)
        self._taken.clear()
        self.assembler.commit(assembly)
        return outcome

    def _hand_off(self, application: Any, spans: list[SpanData]) -> None:
        handoff = self._handoffs.get(id(application))
        if handoff is None or handoff.provider is not application:
            handoff = self._handoffs[id(application)] = otel_sdk.ApplicationHandOff(application)
        try:
            handoff.emit(spans)
        except Exception:
            if "handoff" not in self._logged:
                self._logged.add("handoff")
                logger.exception("waxell-observe: the application's tracer provider refused our spans")

    # -- an OTLP/HTTP receiver ----------------------------------------------------------------------

    def _resource_scope(self, resource: Any) -> ResourceScope:
        cached = self._resource_scope_cache
        if cached is None or cached[0] is not resource:
            cached = self._resource_scope_cache = (
                resource,
                ResourceScope(dict(resource.attributes), otel_sdk.SCOPE_NAME, __version__),
            )
        return cached[1]

    def _carried_starts(self, frames: list[list[Any]]) -> int:
        """How many runs end in ``frames`` whose start came in an earlier batch (counted as sent then,
        carried in the assembler until their span is made now)."""
        started = {frame[2] for frame in frames if frame[0] == fr.START}
        open_runs = self.assembler.runs
        return sum(
            1 for frame in frames if frame[0] == fr.END and frame[2] not in started and frame[2] in open_runs
        )

    def _post_all(
        self,
        url: str,
        spans: list[SpanData],
        resource: Any,
        frames: list[list[Any]],
        outcome: Delivered,
        carried: int = 0,
    ) -> bool:
        """Post ``spans`` in requests of at most :data:`MAX_REQUEST_BYTES`; True when the receiver
        took all of them. Raises :class:`RetryLater` when it cannot take them now. When every span
        is refused, the ``carried`` starts of earlier batches are recalled with them."""
        scope = self._resource_scope(resource)
        taken = self._taken
        chunks: list[list[tuple[SpanData, bytes]]] = [[]]
        size = 0
        for span in spans:
            if (span.trace_id, span.span_id) in taken:
                continue
            data = span_bytes(span)
            if size + len(data) > MAX_REQUEST_BYTES and chunks[-1]:
                chunks.append([])
                size = 0
            chunks[-1].append((span, data))
            size += len(data)
        refused_spans = 0
        refusals: list[str] = []
        pending = [chunk for chunk in chunks if chunk]
        while pending:
            chunk = pending.pop(0)
            try:
                rejected, message = self._post(url, encode_request([data for _, data in chunk], scope))
            except _Refused as refusal:
                if refusal.status == 413 and len(chunk) > 1:
                    middle = len(chunk) // 2
                    pending[:0] = [chunk[:middle], chunk[middle:]]
                    continue
                refused_spans += len(chunk)
                refusals.append(f"OTLP receiver {url} refused the spans ({refusal.status}): {refusal.detail}")
                continue
            for span, _data in chunk:
                taken.add((span.trace_id, span.span_id))
            self.exported += len(chunk) - rejected
            if rejected:
                refused_spans += rejected
                refusals.append(f"OTLP receiver {url} rejected spans: {message or 'no reason given'}")
        if refused_spans:
            total = len(spans)
            already = sum(outcome.refused.values())
            # Records map to spans one to one (a run's end frame is its span), but starts and
            # scores make none: when every span was refused, so was every record of the batch.
            count = len(frames) - already if refused_spans >= total else refused_spans
            for index, reason in enumerate(refusals):
                share = count // len(refusals) + (1 if index < count % len(refusals) else 0)
                outcome.refuse(reason, share)
            if refused_spans >= total and carried:
                outcome.recall(refusals[-1], carried)  # their runs' spans are gone with this batch
        return refused_spans < len(spans)

    def _post(self, url: str, body: bytes) -> tuple[int, str]:
        headers = {"content-type": "application/x-protobuf", **self.headers}
        if self.compression == "gzip":
            body = gzip.compress(body, compresslevel=5)
            headers["content-encoding"] = "gzip"
        elif self.compression == "deflate":
            body = zlib.compress(body)
            headers["content-encoding"] = "deflate"
        try:
            response = self._client_for().post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise RetryLater(f"OTLP receiver {url} unreachable: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return _partial_success(response)
        if status in _RETRY_STATUSES or status >= 500:
            raise RetryLater(
                f"OTLP receiver {url} answered {status}: {_detail(response)}", after=_retry_after(response)
            )
        raise _Refused(status, _detail(response))

    # -- an exporter object (init(otel_span_exporter=...)) ---------------------------------------------

    def _export_objects(
        self, spans: list[SpanData], resource: Any, frames: list[list[Any]], outcome: Delivered
    ) -> bool:
        """Hand ``spans`` to the exporter object; True when it took them. Its FAILURE result means
        "not now" (:class:`RetryLater`); an exception is a bug of the exporter: the batch's records
        are counted as dropped with it (logged once, with its traceback)."""
        from opentelemetry.sdk.trace.export import SpanExportResult

        readable = [self._readable(span, resource) for span in spans]
        try:
            result = self.exporter.export(readable)
        except Exception as exc:
            reason = f"the span exporter {type(self.exporter).__name__} raised {type(exc).__name__}: {exc}"
            if reason not in self._logged:
                self._logged.add(reason)
                logger.error("waxell-observe: %s", reason, exc_info=exc)
            outcome.refuse(reason, len(frames) - sum(outcome.refused.values()))
            return False
        if result != SpanExportResult.SUCCESS:
            raise RetryLater(
                f"the span exporter {type(self.exporter).__name__} failed to export {len(spans)} span(s)"
            )
        self.exported += len(spans)
        return True

    def _readable(self, span: SpanData, resource: Any) -> ReadableSpan:
        from opentelemetry.attributes import BoundedAttributes

        flags = TraceFlags(TraceFlags.SAMPLED)
        parent = (
            SpanContext(span.trace_id, span.parent_span_id, is_remote=span.parent_remote, trace_flags=flags)
            if span.parent_span_id
            else None
        )
        attributes: Attributes = BoundedAttributes(attributes=span.attributes, immutable=True)
        events = tuple(
            Event(name, BoundedAttributes(attributes=event_attributes, immutable=True), timestamp=at_ns)
            for name, at_ns, event_attributes in span.events
        )
        return ReadableSpan(
            name=span.name,
            context=SpanContext(span.trace_id, span.span_id, is_remote=False, trace_flags=flags),
            parent=parent,
            resource=resource,
            attributes=attributes,
            events=events,
            links=(),
            kind=SpanKind.CLIENT if span.kind == CLIENT else SpanKind.INTERNAL,
            status=Status(StatusCode.ERROR, span.status_message) if span.error else Status(StatusCode.UNSET),
            start_time=span.start_ns,
            end_time=span.end_ns,
            instrumentation_scope=self._scope,
        )

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def _root_sampler(sampler: Any) -> Any:
    def decide(trace_id: int, name: str, run: RunInfo, attributes: dict[str, Any]) -> bool:
        return otel_sdk.sample(
            sampler, trace_id, name, run.parent_span_id, run.sampled, run.parent_remote, attributes
        )

    return decide
