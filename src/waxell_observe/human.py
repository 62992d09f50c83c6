"""``HumanTurn``: one exchange with a person inside a run, timed and recorded when it ends.

``ctx.human_turn(prompt=..., channel=..., action=...)`` returns one; inside the ``with`` block
call :meth:`HumanTurn.set_response` with what the person answered. On exit (also when the block
raises, which it never suppresses) the turn is recorded through
``ctx.record_human_interaction(prompt, response, channel, action, elapsed_ms=..., metadata)``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

__all__ = ["HumanTurn"]

logger = logging.getLogger("waxell_observe")


class HumanTurn:
    """A timed human interaction of the run ``ctx`` (timing starts when the block is entered)."""

    def __init__(
        self,
        ctx: Any,
        prompt: str = "",
        channel: str = "terminal",
        action: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.ctx = ctx
        self.prompt = prompt
        self.channel = channel
        self.action = action
        self.metadata = metadata
        self.response: str | None = None
        self._started: float | None = None

    def set_response(self, response: str) -> None:
        """What the person answered (recorded when the block ends)."""
        self.response = response

    def __enter__(self) -> HumanTurn:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        started = self._started if self._started is not None else time.perf_counter()
        elapsed_ms = round((time.perf_counter() - started) * 1000.0)
        record = getattr(self.ctx, "record_human_interaction", None)
        if record is None:
            return
        try:
            record(
                prompt=self.prompt,
                response=self.response or "",
                channel=self.channel,
                action=self.action,
                elapsed_ms=elapsed_ms,
                metadata=self.metadata,
            )
        except Exception:  # noqa: BLE001 - recording never breaks the agent
            logger.exception("waxell-observe: could not record a human turn")
