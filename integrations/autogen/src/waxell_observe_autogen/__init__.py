"""waxell-observe capture of AutoGen AgentChat.

``waxell_observe.init()`` turns it on (name ``autogen``); :func:`instrument` / :func:`uninstrument`
do the same by hand. Agent and team runs are ``agent`` spans (agents a team runs nest in the team's),
each tool call passes the ``tool.before`` gate and becomes a ``tool`` span, a handoff a ``handoff``
span, and each model call is recorded once (by the provider integration that saw the request, else
from AutoGen's ``RequestUsage``). See :mod:`waxell_observe_autogen.agents`,
:mod:`waxell_observe_autogen.tools`, :mod:`waxell_observe_autogen.models` and
``docs/integrations-frameworks.md``. Importing this package does not import AutoGen.
"""

from __future__ import annotations

from waxell_observe_autogen._instrument import installed, instrument, is_instrumented, uninstrument

__all__ = ["installed", "instrument", "is_instrumented", "uninstrument"]
