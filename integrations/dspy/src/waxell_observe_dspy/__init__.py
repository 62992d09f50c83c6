"""waxell-observe capture of DSPy.

``waxell_observe.init()`` turns it on (name ``dspy``); :func:`instrument` / :func:`uninstrument` do
the same by hand. Every module call is a span nested as the modules nest (``ReAct`` and DSPy's other
agent loops as ``agent`` spans, the rest as ``chain`` spans), each tool call passes the
``tool.before`` gate and becomes a ``tool`` span, and each LM call is recorded once: by the LiteLLM
integration that saw the request, else from the LM's history. See
:mod:`waxell_observe_dspy.callback`, :mod:`waxell_observe_dspy.tools` and
``docs/integrations-frameworks.md``. Importing this package does not import ``dspy``.
"""

from __future__ import annotations

from waxell_observe_dspy._instrument import installed, instrument, is_instrumented, uninstrument

__all__ = ["installed", "instrument", "is_instrumented", "uninstrument"]
