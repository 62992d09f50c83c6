"""waxell-observe capture of MCP sessions (the ``mcp`` package, version 2).

``waxell_observe.init()`` turns it on (name ``mcp``); :func:`instrument` / :func:`uninstrument`
do the same by hand. Client side: ``ClientSession.call_tool``, ``read_resource`` and
``get_prompt`` inside a run become ``tool`` spans, and each request carries the span's W3C
``traceparent`` in ``params._meta``. Server side: every lowlevel ``Server`` (``MCPServer``
included) created afterwards records the tool, resource and prompt requests it handles, on the
current run or on a run of its own that joins the client's trace. See
``docs/integrations-mcp.md``. Importing this package does not import ``mcp``.
"""

from __future__ import annotations

from waxell_observe_mcp._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
