"""waxell-observe capture of Google ADK (Agent Development Kit).

``waxell_observe.init()`` turns it on (name ``google_adk``); :func:`instrument` / :func:`uninstrument`
do the same by hand. Agents (``LlmAgent``, workflow agents, sub-agents, agents behind an
``AgentTool``) are ``agent`` spans nested as ADK runs them; each tool call becomes a ``tool`` span
and passes the ``tool.before`` gate before the tool runs; each model call passes ``llm.before`` and
is recorded once: by the provider integration that saw the request, else from ADK's own
``usage_metadata``. A ``Runner`` invoked outside any run opens one. See
:mod:`waxell_observe_google_adk.agents`, :mod:`waxell_observe_google_adk.tools`,
:mod:`waxell_observe_google_adk.models` and ``docs/integrations-frameworks.md``. Importing this
package does not import ``google.adk``.
"""

from __future__ import annotations

from waxell_observe_google_adk._instrument import installed, instrument, is_instrumented, uninstrument

__all__ = ["installed", "instrument", "is_instrumented", "uninstrument"]
