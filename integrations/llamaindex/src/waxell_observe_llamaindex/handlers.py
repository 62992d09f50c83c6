"""The event and span handlers attached to LlamaIndex's instrumentation dispatcher.

Both forward to a shared :class:`~waxell_observe_llamaindex.tracker.Tracker` (the
process-wide one unless given another), which does the recording. They subclass
LlamaIndex's own handler bases, from ``llama_index_instrumentation`` (the package
``llama-index-core`` builds on) or, for older versions, ``llama_index.core.instrumentation``.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import PrivateAttr

from waxell_observe_llamaindex.tracker import Tracker, default_tracker

try:
    from llama_index_instrumentation.event_handlers import BaseEventHandler
    from llama_index_instrumentation.span_handlers import BaseSpanHandler
except ImportError:  # llama-index-core before the instrumentation package was split out
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler
    from llama_index.core.instrumentation.span_handlers import BaseSpanHandler

__all__ = ["WaxellEventHandler", "WaxellSpanHandler"]

logger = logging.getLogger("waxell_observe")


class _Tracked:
    """What both handlers share: the :class:`Tracker` they forward to (a pydantic private
    attribute ``_waxell_tracker``, set on construction)."""

    _waxell_tracker: Any

    @property
    def tracker(self) -> Tracker:
        """Where this handler's events or spans go."""
        return self._waxell_tracker  # type: ignore[no-any-return]


class WaxellEventHandler(_Tracked, BaseEventHandler):
    """Records LLM calls, embeddings, retrievals, queries and syntheses from LlamaIndex events.

    Attach it together with :class:`WaxellSpanHandler` (``instrument()`` does both): the
    span handler supplies the tree the records are placed in.
    """

    _waxell_tracker: Any = PrivateAttr(default=None)

    def __init__(self, tracker: Tracker | None = None, **data: Any) -> None:
        super().__init__(**data)
        self._waxell_tracker = tracker or default_tracker()

    @classmethod
    def class_name(cls) -> str:
        return "WaxellEventHandler"

    def handle(self, event: Any, **kwargs: Any) -> None:
        """Record what ``event`` reports (never raises)."""
        try:
            self._waxell_tracker.event(event)
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LlamaIndex event handler failed")


class WaxellSpanHandler(_Tracked, BaseSpanHandler[Any]):
    """Follows LlamaIndex spans: the tree of records, and agent runs and tool calls."""

    _waxell_tracker: Any = PrivateAttr(default=None)

    def __init__(self, tracker: Tracker | None = None) -> None:
        super().__init__()
        self._waxell_tracker = tracker or default_tracker()

    @classmethod
    def class_name(cls) -> str:
        return "WaxellSpanHandler"

    # The tracker keeps its own (lighter) books; the base class's open_spans stay empty.

    def span_enter(
        self,
        id_: str,
        bound_args: Any,
        instance: Any = None,
        parent_id: str | None = None,
        tags: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._waxell_tracker.span_enter(id_, parent_id, bound_args, instance)

    def span_exit(
        self, id_: str, bound_args: Any, instance: Any = None, result: Any = None, **kwargs: Any
    ) -> None:
        self._waxell_tracker.span_exit(id_, result, None)

    def span_drop(
        self, id_: str, bound_args: Any, instance: Any = None, err: BaseException | None = None, **kwargs: Any
    ) -> None:
        self._waxell_tracker.span_exit(id_, None, err if err is not None else RuntimeError("span dropped"))

    def new_span(
        self,
        id_: str,
        bound_args: Any,
        instance: Any = None,
        parent_span_id: str | None = None,
        tags: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        return None

    def prepare_to_exit_span(
        self, id_: str, bound_args: Any, instance: Any = None, result: Any = None, **kwargs: Any
    ) -> None:
        return None

    def prepare_to_drop_span(
        self, id_: str, bound_args: Any, instance: Any = None, err: BaseException | None = None, **kwargs: Any
    ) -> None:
        return None
