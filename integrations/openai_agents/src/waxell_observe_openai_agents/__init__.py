"""waxell-observe capture of the OpenAI Agents SDK.

``waxell_observe.init()`` turns it on (name ``openai_agents``); :func:`instrument` /
:func:`uninstrument` do the same by hand. The SDK's own tracing feeds our processor: agents,
tools, handoffs and guardrails become spans nested as they ran; the model calls under them are
recorded once (by the OpenAI integration, or from the SDK's usage when no provider integration
saw them). See :mod:`waxell_observe_openai_agents.processor` and
``docs/integrations-frameworks.md``. Importing this package does not import ``agents``.
"""

from __future__ import annotations

from waxell_observe_openai_agents._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
