"""waxell-observe capture of Haystack.

``waxell_observe.init()`` turns it on (name ``haystack``); :func:`instrument` /
:func:`uninstrument` do the same by hand. Every span Haystack's tracing API opens (pipeline runs,
components, agents, tool calls) is recorded on the current run, nested as Haystack nests them,
beside whatever tracer the program enabled itself; each tool call passes the ``tool.before`` gate
before it runs; each model call is recorded once (by the provider integration that saw the request,
else from the generator's reply metadata). See :mod:`waxell_observe_haystack.spans`,
:mod:`waxell_observe_haystack.tools` and ``docs/integrations-frameworks.md``. Importing this package
does not import ``haystack``.
"""

from __future__ import annotations

from waxell_observe_haystack._instrument import installed, instrument, is_instrumented, uninstrument

__all__ = ["installed", "instrument", "is_instrumented", "uninstrument"]
