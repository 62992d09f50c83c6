"""WaxellContext: explicit control over one run's lifecycle (the API of record).

``with WaxellContext(agent_name=...) as ctx:`` (or ``async with``) checks policies when
``enforce_policy`` is on, starts a run, lets the body record LLM calls, steps, scores,
tags, metadata and behaviour spans, and completes the run as ``success`` or ``error`` on
exit. Records are announced through the plugin hooks as they are made; sinks deliver
them on a background worker, so the agent's thread does no I/O.

Every recording method validates its input and raises ``ValueError`` for misuse (a bad
tag key, a wrong score type, negative tokens); anything else that goes wrong while
recording is logged and swallowed: telemetry never breaks the agent.

The class is assembled from parts, one job each: :mod:`.waxell_context` (the lifecycle),
:mod:`.recording` (LLM calls, steps, scores, tags, messages), :mod:`.spans` (behaviour spans),
:mod:`.containers` (``enter_span``/``exit_span``; :mod:`.open_spans` tracks the open ones),
:mod:`.signals` (activity signals kept in the conversation state), :mod:`.prompts` (prompt use),
:mod:`.flushing` (on-demand flush and mid-run governance), :mod:`.base` (shared state and
primitives) and :mod:`.checks` (what the methods accept).
"""

from __future__ import annotations

from waxell_observe.context.checks import SCORE_DATA_TYPES, TAG_KEY_PATTERN
from waxell_observe.context.waxell_context import WaxellContext

__all__ = ["WaxellContext", "SCORE_DATA_TYPES", "TAG_KEY_PATTERN"]
