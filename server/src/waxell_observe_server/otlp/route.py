"""``POST /v1/traces`` and ``POST /v1/logs``: the OTLP/HTTP endpoints (content types, compression, the
reply); what the spans become is :mod:`.merge`'s job, log records go to ``store/run_logs.py``."""

from __future__ import annotations

import time
import zlib

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from waxell_observe_server.auth import require_key
from waxell_observe_server.otlp.decode import (
    JSON_TYPES,
    PROTOBUF_TYPES,
    OTLPDecodeError,
    ReceivedSpan,
    available,
    decode_request,
    parse_body,
    response_dict,
    response_message,
)
from waxell_observe_server.otlp.logs import ReceivedLog, decode_logs, logs_response, parse_logs_body
from waxell_observe_server.otlp.merge import IngestResult, ingest_spans

__all__ = [
    "LOGS_PATH",
    "MAX_DECOMPRESSED_BYTES",
    "TRACES_PATH",
    "install",
    "receive_logs",
    "receive_traces",
    "router",
]

TRACES_PATH = "/v1/traces"
LOGS_PATH = "/v1/logs"
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024
"""A compressed body may expand to at most this many bytes (else 413)."""

router = APIRouter(tags=["otlp"], dependencies=[Depends(require_key)])


def install(app: FastAPI) -> None:
    """Tell the rest of the app that OTLP traces are received at :data:`TRACES_PATH`."""
    app.state.otlp_traces_path = TRACES_PATH


class _HTTPProblem(Exception):
    """A request the route answers with ``status`` and ``detail``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


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


def _reply(content_type: str, rejected: int, reason: str) -> Response:
    message = response_message(rejected, reason)
    if content_type in PROTOBUF_TYPES:
        return Response(content=message.SerializeToString(), media_type="application/x-protobuf")
    return JSONResponse(response_dict(message))


def _store(request: Request, received: list[ReceivedSpan]) -> IngestResult:
    store = request.app.state.store
    with store.write() as conn:
        return ingest_spans(conn, received)


def _unacceptable(content_type: str) -> Response | None:
    """The answer to a request this receiver cannot take (no protobuf support, wrong type)."""
    if not available():
        return JSONResponse(
            {"detail": "the OTLP receiver needs opentelemetry-proto: pip install waxell-observe-server"},
            501,
        )
    if content_type not in PROTOBUF_TYPES and content_type not in JSON_TYPES:
        return JSONResponse(
            {
                "detail": f"unsupported Content-Type {content_type!r}: "
                "send application/x-protobuf or application/json"
            },
            415,
        )
    return None


@router.post(TRACES_PATH, summary="Receive OTLP/HTTP traces (protobuf or JSON)")
async def receive_traces(request: Request) -> Response:
    """OTLP/HTTP ``ExportTraceServiceRequest`` → runs (see :mod:`waxell_observe_server.otlp`)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    refusal = _unacceptable(content_type)
    if refusal is not None:
        return refusal
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


def _store_logs(request: Request, received: list[ReceivedLog]) -> int:
    from waxell_observe.store.run_logs import add_logs

    store = request.app.state.store
    with store.write() as conn:
        return add_logs(conn, (vars(record) for record in received))


@router.post(LOGS_PATH, summary="Receive OTLP/HTTP log records (protobuf or JSON)")
async def receive_logs(request: Request) -> Response:
    """OTLP/HTTP ``ExportLogsServiceRequest`` → log records of runs (``waxell_run_id`` attribute)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    refusal = _unacceptable(content_type)
    if refusal is not None:
        return refusal
    try:
        body = _decompress(await request.body(), request.headers.get("content-encoding", ""))
        message = parse_logs_body(body, content_type)
    except _HTTPProblem as problem:
        return JSONResponse({"detail": problem.detail}, problem.status)
    except OTLPDecodeError as exc:
        return JSONResponse({"detail": str(exc)}, 400)
    received = decode_logs(message, time.time())
    if received:
        await run_in_threadpool(_store_logs, request, received)
    reply = logs_response()
    if content_type in PROTOBUF_TYPES:
        return Response(content=reply.SerializeToString(), media_type="application/x-protobuf")
    return JSONResponse(response_dict(reply))
