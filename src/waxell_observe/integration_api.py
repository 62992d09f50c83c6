"""The entry point integrations use to report what they capture.

Integrations (OpenAI, Anthropic, LangChain, LlamaIndex, third parties) call
:func:`record_llm_call` for every model call they see. Inside a run it is recorded on the
current :class:`~waxell_observe.WaxellContext`; outside any run it goes to the background
collector, which writes it as an automatic run ``auto:{model}``.

Framework integrations (LangChain, LlamaIndex) record the model calls their framework
makes, and those calls usually go through a provider SDK (OpenAI, Anthropic) that is
instrumented too. To record each call once, a framework integration marks the context
while its framework's model call runs (:func:`begin_framework_call` /
:func:`end_framework_call`); :func:`record_llm_call` ignores reports made under that mark,
and provider integrations that record by other means check :func:`framework_call_active`.
Where the provider knows more than the framework (LlamaIndex embeddings carry no token
usage), the framework integration watches instead (:func:`begin_provider_watch` /
:func:`end_provider_watch`) and records the call only when no provider reported it (or started
recording it: :func:`note_provider_request`, for a stream whose record comes later).
"""

from __future__ import annotations

import logging
import threading
from contextvars import ContextVar
from typing import Any

from waxell_observe.config import get_config
from waxell_observe.current import current_context

__all__ = [
    "record_llm_call",
    "begin_framework_call",
    "end_framework_call",
    "framework_call_active",
    "begin_provider_watch",
    "end_provider_watch",
    "note_provider_request",
]

logger = logging.getLogger("waxell_observe")

_framework_call: ContextVar[str] = ContextVar("waxell_observe_framework_call", default="")


def framework_call_active() -> str:
    """The framework integration recording the model call running in this context, or ``""``."""
    return _framework_call.get()


def begin_framework_call(framework: str) -> str:
    """Mark this context: ``framework`` records the model call that is about to run.

    Returns the previous mark, to hand back to :func:`end_framework_call`.
    """
    previous = _framework_call.get()
    _framework_call.set(framework)
    return previous


def end_framework_call(previous: str = "") -> None:
    """Remove the mark set by :func:`begin_framework_call` (restoring ``previous``)."""
    _framework_call.set(previous)


class _Watch:
    __slots__ = ("reports", "requests")

    def __init__(self) -> None:
        self.reports = 0
        self.requests = 0


_watch: ContextVar[_Watch | None] = ContextVar("waxell_observe_provider_watch", default=None)


_run_watches: dict[str, list[_Watch]] = {}
"""Run-wide watches (:func:`begin_provider_watch` with ``run_wide=True``), by run id."""
_run_watches_lock = threading.Lock()


def _current_run_id() -> str:
    ctx = current_context.get()
    run = ctx.run if ctx is not None else None
    return run.run_id if run is not None else ""


def begin_provider_watch(*, run_wide: bool = False) -> Any:
    """Start counting the LLM calls reported through :func:`record_llm_call` in this context.

    ``run_wide``: also count the requests provider integrations start on the current run from any
    task or thread — for a framework whose model-call span and the request itself run in different
    tasks (Pydantic AI's streamed runs); a call of the same run made meanwhile elsewhere counts too.
    Returns a handle for :func:`end_provider_watch`.
    """
    watch = _Watch()
    run_id = _current_run_id() if run_wide else ""
    if run_id:
        with _run_watches_lock:
            _run_watches.setdefault(run_id, []).append(watch)
    return watch, _watch.set(watch), run_id


def note_provider_request() -> None:
    """A provider integration is sending a request it will record (called when its observation of
    the call starts): the current watch counts the call as seen now, since the record of a stream
    may come after the watch ended (when the stream is drained or closed)."""
    if _framework_call.get():
        return
    watch = _watch.get()
    if watch is not None:
        watch.requests += 1
    if _run_watches:
        with _run_watches_lock:
            for other in _run_watches.get(_current_run_id(), ()):
                if other is not watch:
                    other.requests += 1


def end_provider_watch(handle: Any) -> int:
    """Stop the watch started by :func:`begin_provider_watch`; return how many calls a provider
    integration reported or started recording meanwhile."""
    watch: _Watch
    watch, token, run_id = handle
    if run_id:
        with _run_watches_lock:
            watches = _run_watches.get(run_id, [])
            if watch in watches:
                watches.remove(watch)
            if not watches:
                _run_watches.pop(run_id, None)
    try:
        _watch.reset(token)
    except ValueError:  # ended in another context: the watch there is ours only if still set
        if _watch.get() is watch:
            _watch.set(None)
    return max(watch.reports, watch.requests)


def record_llm_call(**fields: Any) -> None:
    """Record one LLM call on the current run, or on the background collector.

    ``fields`` are the keyword arguments of :meth:`WaxellContext.record_llm_call`
    (``model``, ``tokens_in``, ``tokens_out`` required). Never raises. Ignored while a
    framework integration records the call (see :func:`begin_framework_call`).
    """
    try:
        if not get_config().enabled:
            return
        framework = _framework_call.get()
        if framework:
            logger.debug(
                "waxell-observe: LLM call already recorded by the %s integration; skipped", framework
            )
            return
        watch = _watch.get()
        if watch is not None:
            watch.reports += 1
        ctx = current_context.get()
        if ctx is not None and ctx.run is not None:
            ctx.record_llm_call(**fields)
            return
        from waxell_observe import calls_outside_runs

        calls_outside_runs.collect(fields)
    except Exception:  # noqa: BLE001 - integrations must never break the agent
        logger.exception("waxell-observe: failed to record an LLM call reported by an integration")
