"""Whose policies a gate applies (spec §5.1 step 11): the open context's agent, else the process's
(``init(agent_name=..., workflow_name=...)``, else ``WAXELL_AGENT_NAME`` / ``WAXELL_WORKFLOW``). A gate
with no identity at all allows everything and logs one warning per process."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from waxell_observe.current import current_context

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig
    from waxell_observe.context.waxell_context import WaxellContext
    from waxell_observe.run import Run

__all__ = ["Identity", "resolve"]

logger = logging.getLogger("waxell_observe")

_warned_anonymous = False


@dataclass(frozen=True, slots=True)
class Identity:
    """The agent a gate speaks for, the configuration that says where its policies are, and its run
    (``None`` outside a run)."""

    agent_name: str
    workflow_name: str
    user_group: str
    config: ObserveConfig
    ctx: WaxellContext | None = None
    run: Run | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.agent_name, self.workflow_name, self.user_group)


def resolve(ctx: WaxellContext | None) -> Identity | None:
    """The identity of a gate called with ``ctx`` (``None``: the current context, if any)."""
    global _warned_anonymous
    if ctx is None:
        ctx = current_context.get()
    run = ctx._run if ctx is not None else None
    if ctx is not None and run is not None and not ctx._finished:
        return Identity(run.agent_name, run.workflow_name, run.user_group, run.config, ctx, run)
    from waxell_observe.config import get_config
    from waxell_observe.initialization import process_identity

    if ctx is not None:
        return Identity(ctx.agent_name, ctx.workflow_name, ctx.user_group, get_config(), None, None)
    agent, workflow = process_identity()
    if not agent:
        if not _warned_anonymous:
            _warned_anonymous = True
            logger.warning(
                "waxell-observe: a governance gate ran with no agent identity (no open context, no "
                "init(agent_name=...), no WAXELL_AGENT_NAME); gates allow everything until one is set"
            )
        return None
    return Identity(agent, workflow, "", get_config(), None, None)
