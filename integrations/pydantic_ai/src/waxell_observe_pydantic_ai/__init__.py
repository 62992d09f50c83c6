"""waxell-observe capture of Pydantic AI.

``waxell_observe.init()`` turns it on (name ``pydantic_ai``); :func:`instrument` /
:func:`uninstrument` do the same by hand. Pydantic AI's own OpenTelemetry instrumentation (GenAI
semantic conventions) is pointed at a tracer provider whose only processor is the in-process bridge
(``waxell_observe_otel_bridge``): an agent run becomes an ``agent`` span, each tool call a ``tool``
span under it (arguments, result), and each model request an LLM call recorded once — by the
provider integration (OpenAI, Anthropic, ...) that saw the request, else from Pydantic AI's span.
See ``docs/integrations-frameworks.md``. Importing this package does not import ``pydantic_ai``.
"""

from __future__ import annotations

from waxell_observe_pydantic_ai._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
