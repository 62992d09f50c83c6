"""waxell-observe's in-process OpenTelemetry bridge.

A framework that emits OpenTelemetry spans in the GenAI semantic conventions or OpenInference's
(Pydantic AI, an OpenInference or OpenLLMetry instrumentor) is recorded on the current run without a
patch of its own: ``waxell_observe.init()`` (name ``otel_bridge``) adds
:class:`~waxell_observe_otel_bridge.processor.WaxellBridgeProcessor` to the program's global SDK
``TracerProvider``; agents, tools, retrievals and chains become spans nested as they ran, and model
calls are recorded once (by the provider integration when one saw the request, else from the span).
:func:`private_tracer_provider` gives framework integrations a provider of their own. The mapping
is the OTLP receiver's (:mod:`waxell_observe.genai_conventions`). See
``docs/integrations-frameworks.md``. Importing this package imports no OpenTelemetry.
"""

from __future__ import annotations

from waxell_observe_otel_bridge._instrument import (
    attach,
    instrument,
    is_instrumented,
    private_tracer_provider,
    uninstrument,
)

__all__ = ["attach", "instrument", "is_instrumented", "private_tracer_provider", "uninstrument"]
