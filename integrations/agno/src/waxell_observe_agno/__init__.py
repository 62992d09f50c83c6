"""waxell-observe capture of Agno.

``waxell_observe.init()`` turns it on (name ``agno``); :func:`instrument` / :func:`uninstrument` do the
same by hand. Agent and team runs are ``agent`` spans, each tool call passes the ``tool.before`` gate and
becomes a ``tool`` span; model calls are recorded by the provider integration under the agent span. See
:mod:`waxell_observe_agno.wrappers` and ``docs/integrations-frameworks.md``. Importing this package does
not import ``agno``.
"""

from __future__ import annotations

from waxell_observe_agno._instrument import installed, instrument, is_instrumented, uninstrument

__all__ = ["installed", "instrument", "is_instrumented", "uninstrument"]
