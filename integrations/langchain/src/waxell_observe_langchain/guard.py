"""The envelope every LangChain callback of the handler runs its work in.

Telemetry never breaks the agent: whatever the work of a callback raises is logged (naming
the callback) and swallowed, except :class:`~waxell_observe.errors.PolicyViolationError` —
a blocked run — which LangChain re-raises to the caller (the handler sets ``raise_error``).

:func:`guarded` is one plain call with positional arguments (no thread hop, no I/O, and no
re-packing of LangChain's keyword arguments, which a generic decorator would pay on every
callback), so the async path, where LangChain calls callbacks inline on the event loop,
stays non-blocking and cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from waxell_observe.errors import PolicyViolationError

__all__ = ["guarded"]

logger = logging.getLogger("waxell_observe")


def guarded(callback: str, work: Callable[..., None], *args: Any) -> None:
    """Run ``work(*args)`` on behalf of the LangChain callback named ``callback``.

    A failure is logged as ``waxell-observe: LangChain <callback> failed`` (with its
    traceback) and not raised; ``PolicyViolationError`` propagates.
    """
    try:
        work(*args)
    except PolicyViolationError:
        raise
    except Exception:  # noqa: BLE001 - telemetry never breaks the agent
        logger.exception(f"waxell-observe: LangChain {callback} failed")
