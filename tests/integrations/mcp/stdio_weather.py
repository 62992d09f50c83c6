"""The ``weather`` MCP server as its own process over stdio, instrumented by ``init()``.

Its runs go to the store named by ``WAXELL_DB``; the OpenTelemetry exporter is on (spans to memory),
so each run gets the trace id of the request's ``traceparent``.
"""

from __future__ import annotations

import logging

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from weather import build_server

import waxell_observe

logging.getLogger("mcp").setLevel(logging.CRITICAL)  # the failing tool's traceback, on purpose
waxell_observe.init(instrument=["mcp"])
waxell_observe.WaxellObserveClient.configure(otel_span_exporter=InMemorySpanExporter())
try:
    build_server().run("stdio")
finally:
    waxell_observe.flush_sync(timeout=30)
