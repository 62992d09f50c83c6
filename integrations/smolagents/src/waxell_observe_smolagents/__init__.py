"""waxell-observe capture of smolagents.

``waxell_observe.init()`` turns it on (name ``smolagents``); :func:`instrument` /
:func:`uninstrument` do the same by hand. An agent run is an ``agent`` span (a managed agent nests
in its manager's), each tool call passes the ``tool.before`` gate and becomes a ``tool`` span, and
each model call is recorded once: by the provider integration that saw the request, else from
smolagents' token usage. See :mod:`waxell_observe_smolagents.agents`,
:mod:`waxell_observe_smolagents.models` and ``docs/integrations-frameworks.md``. Importing this
package does not import ``smolagents``.
"""

from __future__ import annotations

from waxell_observe_smolagents._instrument import installed, instrument, is_instrumented, uninstrument

__all__ = ["installed", "instrument", "is_instrumented", "uninstrument"]
