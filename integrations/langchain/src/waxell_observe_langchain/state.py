"""What LangChain handlers share: the pending-run record and the registries of runs.

The registries are shared by every handler instance, so two handlers that see the same
LangChain run (the one ``init()`` installs and one passed as a component's own callback)
agree on span ids and on which of them records the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from waxell_observe.config import get_config

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig
    from waxell_observe.context import WaxellContext

__all__ = [
    "FRAMEWORK",
    "ERROR_LIMIT",
    "HIDDEN_TAG",
    "RETRY_TAG",
    "Pending",
    "links",
    "explicit_claims",
    "offered_tools",
    "last_errors",
    "run_name",
    "describe_error",
    "elapsed_ms",
    "config_of",
]

FRAMEWORK = "langchain"
HIDDEN_TAG = "langsmith:hidden"
ERROR_LIMIT = 2000

links: dict[UUID, tuple[str, UUID]] = {}
"""LangChain run id -> (span id its children name as parent, root run id)."""
explicit_claims: dict[UUID, int] = {}
"""Runs a user-created handler records; the init() handler leaves them to it."""
offered_tools: dict[UUID, list[str]] = {}
"""Root run id -> tool names bound to the latest chat model call under it."""
last_errors: dict[UUID | None, str] = {}
"""Parent run id -> error of its latest failed child (what a retry attempt retries)."""
RETRY_TAG = "retry:attempt:"


@dataclass(slots=True, eq=False)
class Pending:
    """A LangChain run between its start and end callbacks."""

    kind: str
    name: str
    run_hex: str  # the LangChain run id's 32 hex digits
    span_id: str
    parent_span_id: str
    parent_run_id: UUID | None
    root: UUID
    target: WaxellContext | None
    started_at: float
    t0: float
    tags: list[str]
    hidden: bool = False
    input: Any = None
    run_type: str = ""
    model: str = ""
    provider_hint: str = ""
    messages: list[dict[str, Any]] | None = None
    prompt: str = ""
    params: dict[str, Any] | None = None
    first_token_at: float = 0.0
    chunks: int = 0
    marked: bool = False
    mark_previous: str = ""
    gate_hold: Any = None  # the llm.before hold of a model call (released when it ends)
    outer_framework: str = ""
    source: str = ""
    retry_attempt: int = 0
    graph_node: str = ""
    graph_step: int = 0
    graph_inner: bool = False


def run_name(serialized: Any, kwargs: dict[str, Any], default: str) -> str:
    """The name LangChain gives a run (``name``, else the serialized name or class)."""
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if isinstance(serialized, dict):
        name = serialized.get("name")
        if isinstance(name, str) and name:
            return name
        ids = serialized.get("id")
        if isinstance(ids, list) and ids and isinstance(ids[-1], str) and ids[-1]:
            return ids[-1]
    return default


def describe_error(error: BaseException) -> str:
    """``Type: message`` of an exception, bounded."""
    text = str(error)
    return f"{type(error).__name__}: {text}"[:ERROR_LIMIT] if text else type(error).__name__


def elapsed_ms(t0: float) -> float:
    """Milliseconds since the ``perf_counter`` reading ``t0``."""
    return round((time.perf_counter() - t0) * 1000.0, 3)


def config_of(target: WaxellContext | None) -> ObserveConfig:
    """The configuration records for ``target`` follow (its run's, else the global one)."""
    run = target.run if target is not None else None
    return run.config if run is not None else get_config()
