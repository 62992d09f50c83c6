"""Entering and completing a decorator's run without ever breaking the decorated call.

Only :class:`~waxell_observe.errors.PolicyViolationError` (a policy refused the run) leaves
these helpers; any other failure is logged and the call goes on unobserved.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from waxell_observe.context import WaxellContext
from waxell_observe.errors import PolicyViolationError

if TYPE_CHECKING:
    from waxell_observe.decorators.observe import ObservedFunction

__all__ = ["enter", "aenter", "exit_run", "aexit", "inert_context"]

logger = logging.getLogger("waxell_observe")


def inert_context(observed: ObservedFunction, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Disabled mode, for a function that declares ``waxell_ctx``: pass a context that records nothing."""
    if observed.signature.wants_context(args, kwargs):
        context = WaxellContext(agent_name=observed.agent_name, enforce_policy=False)
        context.__enter__()  # disabled configuration: marks the context inert, starts nothing
        kwargs["waxell_ctx"] = context


def enter(context: WaxellContext) -> bool:
    """Start the run; False (logged) when that failed for any reason but a policy."""
    try:
        context.__enter__()
        return True
    except PolicyViolationError:
        raise
    except Exception:  # noqa: BLE001 - telemetry never breaks the agent
        logger.exception("waxell-observe: cannot start run of %r; calling it unobserved", context.agent_name)
        return False


async def aenter(context: WaxellContext) -> bool:
    """:func:`enter` for async code (the pre-execution policy check does not block the loop)."""
    try:
        await context.__aenter__()
        return True
    except PolicyViolationError:
        raise
    except Exception:  # noqa: BLE001 - telemetry never breaks the agent
        logger.exception("waxell-observe: cannot start run of %r; calling it unobserved", context.agent_name)
        return False


def exit_run(context: WaxellContext, exc: BaseException | None) -> None:
    """Complete the run as ``success`` (``exc`` is None) or from ``exc``; a post-execution block
    (``PolicyViolationError`` once the run is completed) propagates."""
    try:
        if exc is None:
            context.__exit__(None, None, None)
        else:
            context.__exit__(type(exc), exc, exc.__traceback__)
    except PolicyViolationError:  # a post-execution block (the run is completed)
        raise
    except Exception:  # noqa: BLE001 - telemetry never breaks the agent
        logger.exception("waxell-observe: failed to complete run of %r", context.agent_name)


async def aexit(context: WaxellContext, exc: BaseException | None) -> None:
    """:func:`exit_run` for async code. If the task is cancelled while the run completes,
    the run is completed synchronously before the cancellation goes on."""
    try:
        if exc is None:
            await context.__aexit__(None, None, None)
        else:
            await context.__aexit__(type(exc), exc, exc.__traceback__)
    except PolicyViolationError:  # a post-execution block (the run is completed)
        raise
    except Exception:  # noqa: BLE001 - telemetry never breaks the agent
        logger.exception("waxell-observe: failed to complete run of %r", context.agent_name)
        exit_run(context, exc)
    except BaseException:
        exit_run(context, exc)  # does nothing if the run was already completed
        raise
