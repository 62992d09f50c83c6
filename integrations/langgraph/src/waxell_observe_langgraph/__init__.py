"""waxell-observe capture of LangGraph graphs.

``waxell_observe.init()`` turns it on (name ``langgraph``); :func:`instrument` / :func:`uninstrument`
do the same by hand. Built on the LangChain integration (which it switches on): a graph's nodes
are steps with their ``chain`` spans (``langgraph.node``, ``langgraph.step``), the model calls and
tools inside them are recorded once, and a subgraph runs as a child run of the run it is called
from (see :mod:`waxell_observe_langgraph.graphs`). See ``docs/integrations-frameworks.md``.
Importing this package does not import ``langgraph``.
"""

from __future__ import annotations

from waxell_observe_langgraph._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
