"""A stub Weaviate server on 127.0.0.1: the real weaviate-client talks to it over REST and gRPC.

There is no Weaviate server to run here (its embedded mode downloads a binary at run time), so
the tests stand one in at the client's wire level: a real gRPC server implementing the
``weaviate.v1.Weaviate/Search`` call with the client's own protobuf classes, and a real HTTP
server answering ``GET /v1/meta`` (the version the client reads when it connects). Each search
answers the objects the test queued, with the metadata the request asked for (uuid, distance,
certainty, score), and is kept for the test to read; a queued error aborts the call with a gRPC
status instead.
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from weaviate.proto.v1 import properties_pb2, search_get_pb2, weaviate_pb2_grpc

VERSION = "1.30.0"


@dataclass
class StoredObject:
    """One object a search answers: its uuid, its text properties, and its closeness."""

    uuid: str
    properties: dict[str, str]
    distance: float = 0.0
    score: float = 0.0

    @property
    def certainty(self) -> float:
        return 1.0 - self.distance / 2.0


@dataclass
class _Answer:
    objects: list[StoredObject] = field(default_factory=list)
    error: tuple[grpc.StatusCode, str] | None = None


def _result(obj: StoredObject, wanted: Any) -> search_get_pb2.SearchResult:
    metadata = search_get_pb2.MetadataResult(id=obj.uuid, id_as_bytes=uuid.UUID(obj.uuid).bytes)
    if wanted.distance:
        metadata.distance, metadata.distance_present = obj.distance, True
    if wanted.certainty:
        metadata.certainty, metadata.certainty_present = obj.certainty, True
    if wanted.score:
        metadata.score, metadata.score_present = obj.score, True
    fields = {name: properties_pb2.Value(text_value=value) for name, value in obj.properties.items()}
    return search_get_pb2.SearchResult(
        metadata=metadata,
        properties=search_get_pb2.PropertiesResult(non_ref_props=properties_pb2.Properties(fields=fields)),
    )


class _Search(weaviate_pb2_grpc.WeaviateServicer):  # type: ignore[misc]
    def __init__(self, stub: StubWeaviate) -> None:
        self.stub = stub

    def Search(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802 - gRPC name
        answer = self.stub.take(request)
        if answer.error is not None:
            context.abort(*answer.error)
        return search_get_pb2.SearchReply(
            took=0.5, results=[_result(obj, request.metadata) for obj in answer.objects]
        )


class StubWeaviate:
    """The stub server: ``answer(objects)`` / ``fail(code, message)`` queue what the next search
    gets (the last one queued repeats); ``requests`` holds every ``SearchRequest`` received."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self._answers: list[_Answer] = []
        self._lock = threading.Lock()
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        weaviate_pb2_grpc.add_WeaviateServicer_to_server(_Search(self), self._grpc)
        self.grpc_port = self._grpc.add_insecure_port("127.0.0.1:0")
        body = json.dumps({"version": VERSION, "modules": {}}).encode()

        class Meta(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                status = 200 if self.path.startswith("/v1/meta") else 404
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Meta)
        self.http_port = self._http.server_address[1]
        self._http_thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def answer(self, objects: list[StoredObject]) -> None:
        with self._lock:
            self._answers.append(_Answer(objects))

    def fail(self, code: grpc.StatusCode, message: str) -> None:
        with self._lock:
            self._answers.append(_Answer(error=(code, message)))

    def take(self, request: Any) -> _Answer:
        with self._lock:
            self.requests.append(request)
            if not self._answers:
                return _Answer()
            return self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]

    def connection(self) -> dict[str, Any]:
        """The arguments of ``weaviate.connect_to_custom`` / ``use_async_with_custom`` for it."""
        return {
            "http_host": "127.0.0.1",
            "http_port": self.http_port,
            "http_secure": False,
            "grpc_host": "127.0.0.1",
            "grpc_port": self.grpc_port,
            "grpc_secure": False,
            "skip_init_checks": True,
        }

    def __enter__(self) -> StubWeaviate:
        self._grpc.start()
        self._http_thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._grpc.stop(grace=None)
