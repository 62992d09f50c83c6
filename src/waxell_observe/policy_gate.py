"""Asking every policy plugin about a run, and merging the answers (the strictest wins)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from waxell_observe.governance.results import PolicyCheckResult, strictest
from waxell_observe.plugins import direct_implementations, plugin_manager, report_failure
from waxell_observe.vocabulary import POLICY_PHASES

if TYPE_CHECKING:
    from waxell_observe.run import Run

__all__ = ["check", "acheck", "flush_run", "PHASES"]

logger = logging.getLogger("waxell_observe")

PHASES = POLICY_PHASES

IO_BOUND_ATTRIBUTE = "waxell_policy_check_does_io"
"""A plugin that sets this attribute to True (its ``on_policy_check`` waits on the network)
is called from a worker thread in async contexts, so the event loop is not blocked."""


def check(run: Run, phase: str, surface: str) -> PolicyCheckResult:
    """Ask every ``on_policy_check`` implementation about ``run``; the strictest answer wins.

    The implementations are called directly, each isolated as pluggy's call would isolate it (an
    exception is logged and counted, the others still answer); a hook wrapper sends the call
    through pluggy."""
    functions = direct_implementations("on_policy_check")
    if functions is None:
        return _merge(plugin_manager().hook.on_policy_check(run=run, phase=phase, surface=surface))
    answers: list[PolicyCheckResult | None] | None = None  # made when a decider answers (most do not)
    for function, plugin_name in functions:
        try:
            answer = function(run, phase, surface)
        except Exception:  # noqa: BLE001 - a plugin never breaks the agent
            report_failure(plugin_name, "on_policy_check")
            continue
        if answer is not None:
            if answers is None:
                answers = [answer]
            else:
                answers.append(answer)
    return PolicyCheckResult("allow") if answers is None else _merge(answers)


async def acheck(run: Run, phase: str, surface: str) -> PolicyCheckResult:
    """:func:`check` for async code: network-bound deciders run in a thread."""
    hook = plugin_manager().hook.on_policy_check
    if any(getattr(impl.plugin, IO_BOUND_ATTRIBUTE, False) for impl in hook.get_hookimpls()):
        import asyncio

        return await asyncio.to_thread(check, run, phase, surface)
    return _merge(hook(run=run, phase=phase, surface=surface))


def flush_run(run: Run) -> PolicyCheckResult:
    """Ask sinks to deliver ``run``'s buffered records now; merge any governance they return."""
    answers = plugin_manager().hook.on_run_flush(run=run)
    return _merge(answers)


def _merge(answers: list[PolicyCheckResult | None]) -> PolicyCheckResult:
    results = [answer for answer in answers if isinstance(answer, PolicyCheckResult)]
    if not results:
        return PolicyCheckResult("allow")
    return results[0] if len(results) == 1 else strictest(results)
