"""Calls outside runs: the background collector of LLM calls made while no run is active.

Integrations report every model call through
:func:`waxell_observe.integration_api.record_llm_call`. Outside a run there is nothing to
attach a call to, so it is buffered here (bounded: beyond :data:`MAX_BUFFERED_CALLS` calls
are dropped and counted) and written every :data:`INTERVAL_SECONDS` seconds, and on
``flush()``/``shutdown()``, as automatic runs: one run per model and write, named
``auto:{model}``, workflow ``auto``, metadata ``{"auto_collected": true, "call_count": n}``,
``Run.auto_collected`` set.

The module is a built-in plugin named ``collector``: its ``on_flush``/``on_shutdown`` run
before the sinks' (``tryfirst``) so that the runs they write are delivered by the same
flush. A daemon timer thread starts with the first buffered call; a fork child starts with
an empty buffer and no thread (the parent's calls stay the parent's to write).
"""

from __future__ import annotations

import contextvars
import logging
import math
import os
import threading
import time
from collections import deque
from typing import Any

from waxell_observe.config import ObserveConfig, get_config
from waxell_observe.context import WaxellContext
from waxell_observe.delivery.report import DeliveryReport
from waxell_observe.plugins import hookimpl
from waxell_observe.run import Run

__all__ = ["collect", "write_pending", "pending", "INTERVAL_SECONDS", "MAX_BUFFERED_CALLS", "AUTO_WORKFLOW"]

logger = logging.getLogger("waxell_observe")

NAME = "collector"
INTERVAL_SECONDS = 5.0
"""How often buffered calls are written (read by the timer before every wait)."""
MAX_BUFFERED_CALLS = 10_000
"""Calls held between two writes; further calls are dropped and counted."""
AUTO_WORKFLOW = "auto"


class _Buffered:
    __slots__ = ("config", "fields", "at")

    def __init__(self, config: ObserveConfig, fields: dict[str, Any], at: float) -> None:
        self.config = config
        self.fields = fields
        self.at = at


class _State:
    """Everything that must start fresh in a fork child."""

    def __init__(self) -> None:
        self.buffer: deque[_Buffered] = deque()
        self.buffer_lock = threading.Lock()
        self.write_lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.stop: threading.Event | None = None
        self.written = 0
        self.dropped = 0
        self.failed = 0
        self.errors: list[str] = []


_state = _State()


def _after_fork_in_child() -> None:
    global _state
    _state = _State()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _AutoRunContext(WaxellContext):
    """A context whose run is marked ``auto_collected`` before any sink sees it."""

    __slots__ = ()

    def _prepare(self) -> Run | None:
        run = super()._prepare()
        if run is not None:
            run.auto_collected = True
        return run


def _check_fields(fields: Any) -> None:
    if not isinstance(fields, dict):
        raise ValueError(f"collect() needs the LLM call's fields as a dict, got {type(fields).__name__}")
    model = fields.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"an LLM call needs a model name (non-empty string), got {model!r}")
    for name in ("tokens_in", "tokens_out"):
        value = fields.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"an LLM call needs {name} as a non-negative integer, got {value!r}")


def collect(fields: dict[str, Any]) -> None:
    """Buffer one LLM call reported while no run is active.

    ``fields`` are keyword arguments of :meth:`WaxellContext.record_llm_call` (``model``,
    ``tokens_in`` and ``tokens_out`` required). Raises ``ValueError`` for a call without
    them; a full buffer drops the call (counted, and logged once).
    """
    _check_fields(fields)
    config = get_config()
    if not config.enabled:
        return
    state = _state
    entry = _Buffered(config, dict(fields), time.time())
    with state.buffer_lock:
        full = len(state.buffer) >= MAX_BUFFERED_CALLS
        if full:
            state.dropped += 1
            first_drop = state.dropped == 1
        else:
            state.buffer.append(entry)
    if full:
        if first_drop:
            logger.warning(
                "waxell-observe: background collector buffer full (%d calls); "
                "dropping calls until the next write",
                MAX_BUFFERED_CALLS,
            )
        return
    if state.thread is None:
        _start_timer(state)


def pending() -> int:
    """Calls buffered and not yet written."""
    return len(_state.buffer)


def _start_timer(state: _State) -> None:
    with state.buffer_lock:
        if state.thread is not None:
            return
        stop = threading.Event()
        thread = threading.Thread(target=_timer, args=(state, stop), name="waxell-collector", daemon=True)
        state.stop = stop
        state.thread = thread
    thread.start()


def _timer(state: _State, stop: threading.Event) -> None:
    while not stop.wait(INTERVAL_SECONDS):
        try:
            _write(state)
        except Exception:  # noqa: BLE001 - the timer must survive anything
            logger.exception("waxell-observe: background collector failed to write buffered calls")


def write_pending() -> int:
    """Write the buffered calls as automatic runs now; returns how many calls were written."""
    return _write(_state)


def _write(state: _State) -> int:
    with state.write_lock:
        with state.buffer_lock:
            entries = list(state.buffer)
            state.buffer.clear()
        if not entries:
            return 0
        groups: dict[tuple[int, str], list[_Buffered]] = {}
        for entry in entries:
            groups.setdefault((id(entry.config), entry.fields["model"]), []).append(entry)
        written = 0
        for (_, model), group in groups.items():
            try:
                written += contextvars.Context().run(_write_run, group[0].config, model, group)
            except Exception as exc:  # noqa: BLE001 - never lose the other groups
                state.failed += len(group)
                state.errors.append(f"{type(exc).__name__}: {exc}")
                del state.errors[:-20]
                logger.exception(
                    "waxell-observe: could not write %d auto-collected call(s) of %s", len(group), model
                )
        state.written += written
        return written


def _client_for(config: ObserveConfig) -> Any:
    """``None`` for the global configuration, else a client carrying ``config``."""
    if config is get_config():
        return None
    from waxell_observe.client import WaxellObserveClient

    return WaxellObserveClient.from_config(config)


def _write_run(config: ObserveConfig, model: str, entries: list[_Buffered]) -> int:
    """Write ``entries`` (one model) as one automatic run. Runs in an empty context."""
    context = _AutoRunContext(
        agent_name=f"auto:{model}",
        workflow_name=AUTO_WORKFLOW,
        metadata={"auto_collected": True, "call_count": len(entries)},
        client=_client_for(config),
        enforce_policy=False,
    )
    recorded = 0
    first_start = math.inf
    with context:
        for entry in entries:
            fields = dict(entry.fields)
            if fields.get("started_at") is None:
                duration = fields.get("duration_ms") or 0.0
                fields["started_at"] = entry.at - (
                    duration / 1000.0 if isinstance(duration, (int, float)) else 0.0
                )
            first_start = min(first_start, fields["started_at"])
            try:
                context.record_llm_call(**fields)
            except (TypeError, ValueError) as exc:
                logger.warning("waxell-observe: auto-collected call of %s not recorded: %s", model, exc)
                continue
            recorded += 1
        run = context.run
        if run is not None:
            if recorded != len(entries):
                run.metadata["call_count"] = recorded
            run.started_at = min(run.started_at, first_start)
    return recorded


def _report(state: _State) -> DeliveryReport:
    return DeliveryReport(
        sink=NAME,
        sent=state.written,
        dropped=state.dropped + state.failed,
        pending=len(state.buffer),
        errors=list(state.errors),
    )


@hookimpl(tryfirst=True)
def on_flush(timeout: float | None) -> DeliveryReport | None:
    """Write buffered calls before the sinks flush, so this flush delivers them."""
    state = _state
    if state.thread is None and not state.buffer and not state.written and not state.dropped:
        return None
    _write(state)
    return _report(state)


@hookimpl(tryfirst=True)
def on_shutdown(timeout: float | None) -> DeliveryReport | None:
    """Write buffered calls, then stop the timer (a later call starts it again)."""
    state = _state
    if state.thread is None and not state.buffer and not state.written and not state.dropped:
        return None
    _write(state)
    with state.buffer_lock:
        thread, stop = state.thread, state.stop
        state.thread = None
        state.stop = None
    if stop is not None:
        stop.set()
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout)
    return _report(state)
