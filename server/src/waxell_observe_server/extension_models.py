"""Request bodies of the wire endpoints beyond the base protocol (``docs/wire-protocol.md``,
"Extensions"): ``runs/daily/``, ``runs/{run_id}/partial/`` and ``prompt-guard/``.

Like :mod:`.wire_models`: unknown fields are ignored and ``null`` is accepted for every
optional field.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Annotated

from pydantic import AfterValidator, Field

from waxell_observe_server.limits import MAX_INT
from waxell_observe_server.wire_models import Name, _Body

__all__ = ["DailyRunBody", "PartialOutputBody", "PromptGuardBody", "PARTIAL_MAX_CHARS"]

PARTIAL_MAX_CHARS = 20_000
"""Longest ``partial`` accepted (the client cuts its previews to this length)."""


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day(value: str | None) -> str | None:
    if not value:
        return None
    try:
        if not _DAY.fullmatch(value):
            raise ValueError
        return _dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"expected a date YYYY-MM-DD, got {value[:32]!r}") from None


Day = Annotated[str | None, AfterValidator(_day)]


class DailyRunBody(_Body):
    """``POST runs/daily/``: the agent's one run of a day."""

    agent_slug: Annotated[Name, Field(max_length=256)]
    agent_type: str | None = "mcp"
    date: Day = None
    """``YYYY-MM-DD``; the server's current UTC day when missing."""
    execution_region: Annotated[str | None, Field(max_length=64)] = None


class PartialOutputBody(_Body):
    """``POST runs/{run_id}/partial/``: a live preview of a streaming answer (the latest wins)."""

    partial: Annotated[str | None, Field(max_length=PARTIAL_MAX_CHARS)] = ""
    chunk_count: Annotated[int | None, Field(ge=0, le=MAX_INT)] = None
    model: Annotated[str | None, Field(max_length=256)] = ""
    done: bool | None = False


class PromptGuardBody(_Body):
    """``POST prompt-guard/``: scan ``text`` as the local prompt guard scans a user message."""

    text: str
    model: str | None = ""
    agent_name: str | None = ""
