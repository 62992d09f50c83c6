"""waxell-observe capture of the Claude Agent SDK.

``waxell_observe.init()`` turns it on (name ``claude_agent_sdk``); :func:`instrument` /
:func:`uninstrument` do the same by hand. Each ``query()`` and each ``ClaudeSDKClient`` turn is an
``agent`` span with the Claude Code CLI's model calls (tokens, cost) and tools under it; every tool
passes the ``tool.before`` gate first, through a ``PreToolUse`` hook added to the options, and a
refusal is the SDK's own tool denial. See :mod:`waxell_observe_claude_agent_sdk.session` and
``docs/integrations-frameworks.md``. Importing this package does not import ``claude_agent_sdk``.
"""

from __future__ import annotations

from waxell_observe_claude_agent_sdk._instrument import installed, instrument, is_instrumented, uninstrument

__all__ = ["installed", "instrument", "is_instrumented", "uninstrument"]
