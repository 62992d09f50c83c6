"""waxell-observe capture of CrewAI.

``waxell_observe.init()`` turns it on (name ``crewai``); :func:`instrument` / :func:`uninstrument`
do the same by hand. A crew's kickoff is an ``agent`` span, each task a ``chain`` span under it and
the agent working on the task an ``agent`` span under that; each tool call passes the
``tool.before`` gate and becomes a ``tool`` span, and each LLM call is recorded once: by the
provider integration that saw the request, else from CrewAI's own token usage. See
:mod:`waxell_observe_crewai.spans`, :mod:`waxell_observe_crewai.tools`,
:mod:`waxell_observe_crewai.llms` and ``docs/integrations-frameworks.md``. Importing this package
does not import ``crewai``.
"""

from __future__ import annotations

from waxell_observe_crewai._instrument import installed, instrument, is_instrumented, uninstrument

__all__ = ["installed", "instrument", "is_instrumented", "uninstrument"]
