"""The control plane's OTLP/HTTP trace receiver: ``POST /v1/traces`` (protobuf and JSON).

One module per job: :mod:`.decode` (the body into spans), :mod:`.readers` (typed attribute values),
:mod:`.waxell_spans` and :mod:`.genai_spans` (spans into rows), :mod:`.merge` (what the rows change),
:mod:`.store` (its SQL) and :mod:`.route` (the endpoint, included by the app from
``OPTIONAL_ROUTER_MODULES``).

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
