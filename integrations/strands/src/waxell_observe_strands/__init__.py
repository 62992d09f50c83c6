"""waxell-observe capture of Strands Agents.

``waxell_observe.init()`` turns it on (name ``strands``); :func:`instrument` / :func:`uninstrument`
do the same by hand. An agent invocation is an ``agent`` span, each tool call passes the
``tool.before`` gate and becomes a ``tool`` span, and each model call is recorded once: by the
provider integration that saw the request, else from Strands' own usage. See
:mod:`waxell_observe_strands.agents`, :mod:`waxell_observe_strands.tools`,
:mod:`waxell_observe_strands.models` and ``docs/integrations-frameworks.md``. Importing this
package does not import ``strands``.
"""

from __future__ import annotations

from waxell_observe_strands._instrument import installed, instrument, is_instrumented, uninstrument

__all__ = ["installed", "instrument", "is_instrumented", "uninstrument"]
