"""Asking every policy plugin about a run, and merging the answers (the strictest wins)."""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any

from waxell_observe import plugins as _plugins
from waxell_observe.governance.results import PolicyCheckResult, strictest
from waxell_observe.plugins import direct_implementations, plugin_manager, report_failure
from waxell_observe.vocabulary import POLICY_PHASES

if TYPE_CHECKING:
    from waxell_observe.run import Run

__all__ = ["check", "acheck", "allowed", "flush_run", "quiet", "forget_quiet", "PHASES", "QUIET_ATTRIBUTE"]

logger = logging.getLogger("waxell_observe")

PHASES = POLICY_PHASES

IO_BOUND_ATTRIBUTE = "waxell_policy_check_does_io"
"""A plugin that sets this attribute to True (its ``on_policy_check`` waits on the network)
is called from a worker thread in async contexts, so the event loop is not blocked."""


QUIET_ATTRIBUTE = "waxell_policy_quiet_until"
"""A plugin may define ``waxell_policy_quiet_until(config) -> float``: a ``time.monotonic()``
deadline before which its ``on_policy_check`` answers ``None`` for every run of ``config`` (``0``:
no promise; ``math.inf``: never answers for it). When every implementation promised, checks of
that configuration are answered ``allow`` without calling any of them until the earliest
deadline (see :func:`quiet`). A plugin whose promise no longer holds calls :func:`forget_quiet`."""

_monotonic = time.monotonic
_new_result = object.__new__
_quiet: tuple[Any, float, int] | None = None
"""``(config, deadline, plugins.generation)`` of the last configuration found quiet."""


def quiet(config: Any) -> bool:
    """True when no policy plugin would answer a check of a run of ``config`` now: every
    ``on_policy_check`` implementation promised it (:data:`QUIET_ATTRIBUTE`) and the promise holds
    (its deadline has not passed, plugins have not changed since)."""
    return _holds(_quiet, config, _plugins.generation)


def _holds(held: tuple[Any, float, int] | None, config: Any, generation: int) -> bool:
    """Whether the promise ``held`` covers ``config`` now, plugins being at ``generation``."""
    return held is not None and held[0] is config and held[2] == generation and _monotonic() < held[1]


def forget_quiet() -> None:
    """Ask the plugins again at the next check (a plugin's promise changed: policies were stored)."""
    global _quiet
    _quiet = None


def _learn_quiet(config: Any, functions: tuple[tuple[Any, str], ...], generation: int) -> None:
    """After a check nobody answered: keep until when nobody will (the plugins' earliest promise;
    ``generation``: :data:`plugins.generation` as it was before ``functions`` were looked up)."""
    global _quiet
    deadline = math.inf
    for function, _name in functions:
        promise = getattr(_owner(function), QUIET_ATTRIBUTE, None)
        if promise is None:
            return
        try:
            deadline = min(deadline, float(promise(config)))
        except Exception:  # noqa: BLE001 - a broken promise is no promise (the plugin is asked each time)
            logger.exception("waxell-observe: %s(config) of a policy plugin failed", QUIET_ATTRIBUTE)
            return
    if deadline > _monotonic():
        _quiet = (config, deadline, generation)


def _owner(function: Any) -> Any:
    """The module (or object) an implementation function belongs to: where its promise lives."""
    owner = getattr(function, "__self__", None)
    if owner is not None:
        return owner
    import sys

    return sys.modules.get(getattr(function, "__module__", "") or "")


def allowed() -> PolicyCheckResult:
    """A fresh ``allow`` result with nothing in it (what a check nobody answered returns)."""
    result: PolicyCheckResult = _new_result(PolicyCheckResult)
    result.action = "allow"
    result.reason = ""
    result.metadata = {}
    result.evaluations = []
    result.redacted_inputs = None
    return result


def check(run: Run, phase: str, surface: str) -> PolicyCheckResult:
    """Ask every ``on_policy_check`` implementation about ``run``; the strictest answer wins.

    The implementations are called directly, each isolated as pluggy's call would isolate it (an
    exception is logged and counted, the others still answer); a hook wrapper sends the call
    through pluggy. While :func:`quiet` holds for the run's configuration nobody is called."""
    config = run.config
    generation = _plugins.generation  # before the lookup: a promise learnt below is of these plugins
    if _holds(_quiet, config, generation):
        return allowed()
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
    if answers is None:
        _learn_quiet(config, functions, generation)
        return allowed()
    return _merge(answers)


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
