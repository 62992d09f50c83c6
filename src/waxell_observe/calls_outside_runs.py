"""Calls outside runs: LLM calls made while no run is active become automatic runs.

Integrations report every model call through
:func:`waxell_observe.integration_api.record_llm_call`. Outside a run there is nothing to
attach a call to, so this module keeps one *automatic run* open per model (and
configuration), named ``auto:{model}``, workflow ``auto``, metadata
``{"auto_collected": true, "call_count": n}``, ``Run.auto_collected`` set. Each call is
recorded into it at once — journaled before ``collect()`` returns, so it survives
``os._exit`` and ``kill -9`` like any other record. The open runs are ended every
:data:`INTERVAL_SECONDS` seconds, after :data:`MAX_CALLS_PER_RUN` calls, and on
``flush()``/``shutdown()``; the next call opens a new one.

The module is a built-in plugin named ``collector``: its ``on_flush``/``on_shutdown`` run
before the pipeline's (``tryfirst``) so that the runs they end are delivered by the same
flush. A daemon timer thread starts with the first call; a fork child starts with no open
run and no thread (the parent's runs stay the parent's to end).
"""

from __future__ import annotations

import contextvars
import logging
import math
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from waxell_observe.config import ObserveConfig, get_config
from waxell_observe.plugins import hookimpl

if TYPE_CHECKING:
    from waxell_observe.auto_run_context import AutoRunContext as _AutoRunContext
    from waxell_observe.delivery.report import DeliveryReport

__all__ = ["collect", "write_pending", "pending", "INTERVAL_SECONDS", "MAX_CALLS_PER_RUN", "AUTO_WORKFLOW"]

logger = logging.getLogger("waxell_observe")

NAME = "collector"
INTERVAL_SECONDS = 5.0
"""How long an automatic run stays open (read by the timer before every wait)."""
MAX_CALLS_PER_RUN = 10_000
"""Calls one automatic run takes; the next call ends it and opens another."""
AUTO_WORKFLOW = "auto"


class _OpenRun:
    """An automatic run taking calls, entered in a context of its own (never the caller's)."""

    __slots__ = ("context", "scope", "calls", "first_start")

    def __init__(self, context: _AutoRunContext) -> None:
        self.context = context
        self.scope = contextvars.Context()
        self.calls = 0
        self.first_start = math.inf


class _State:
    """Everything that must start fresh in a fork child."""

    def __init__(self) -> None:
        self.open: dict[tuple[int, str], _OpenRun] = {}
        self.lock = threading.RLock()  # a plugin's hook may report a call of its own
        self.thread: threading.Thread | None = None
        self.stop: threading.Event | None = None
        self.written = 0
        self.failed = 0
        self.errors: list[str] = []


_state = _State()


def _after_fork_in_child() -> None:
    global _state
    _state = _State()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
    """Record one LLM call reported while no run is active into its model's automatic run.

    ``fields`` are keyword arguments of :meth:`WaxellContext.record_llm_call` (``model``,
    ``tokens_in`` and ``tokens_out`` required). Raises ``ValueError`` for a call without
    them; a call the run refuses (another bad field) is logged and counted as failed.
    """
    _check_fields(fields)
    config = get_config()
    if not config.enabled:
        return
    state = _state
    model = fields["model"]
    fields = dict(fields)
    if fields.get("started_at") is None:
        duration = fields.get("duration_ms") or 0.0
        fields["started_at"] = time.time() - (
            duration / 1000.0 if isinstance(duration, (int, float)) else 0.0
        )
    with state.lock:
        key = (id(config), model)
        run = state.open.get(key)
        if run is None or run.calls >= MAX_CALLS_PER_RUN:
            if run is not None:
                _end(state, state.open.pop(key))
            run = _open(state, config, model, fields["started_at"])
            if run is None:
                return
            state.open[key] = run
        try:
            run.scope.run(run.context.record_llm_call, **fields)
        except (TypeError, ValueError) as exc:
            _failed(state, exc, f"auto-collected call of {model} not recorded")
            return
        run.calls += 1
        run.first_start = min(run.first_start, fields["started_at"])
        state.written += 1
    if state.thread is None:
        _start_timer(state)


def pending() -> int:
    """Calls recorded into automatic runs that are not ended yet."""
    with _state.lock:
        return sum(run.calls for run in _state.open.values())


def _open(state: _State, config: ObserveConfig, model: str, first_start: float) -> _OpenRun | None:
    from waxell_observe.auto_run_context import AutoRunContext  # WaxellContext: only once a call comes

    context = AutoRunContext(
        first_start,
        agent_name=f"auto:{model}",
        workflow_name=AUTO_WORKFLOW,
        metadata={"auto_collected": True, "call_count": 0},
        client=_client_for(config),
        enforce_policy=False,
    )
    run = _OpenRun(context)
    try:
        run.scope.run(context.__enter__)
    except Exception as exc:  # noqa: BLE001 - counted and logged; the caller's call is not broken
        _failed(state, exc, f"could not open an automatic run for {model}")
        return None
    return run


def _end(state: _State, run: _OpenRun) -> None:
    recorded = run.context.run
    if recorded is not None:
        recorded.metadata["call_count"] = run.calls
        recorded.started_at = min(recorded.started_at, run.first_start)
    try:
        run.scope.run(run.context.__exit__, None, None, None)
    except Exception as exc:  # noqa: BLE001 - the other runs still end
        _failed(state, exc, "could not end an automatic run")


def _failed(state: _State, exc: BaseException, what: str) -> None:
    state.failed += 1
    state.errors.append(f"{type(exc).__name__}: {exc}")
    del state.errors[:-20]
    logger.warning("waxell-observe: %s: %s", what, exc)


def _start_timer(state: _State) -> None:
    with state.lock:
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
            _end_all(state)
        except Exception:  # noqa: BLE001 - the timer must survive anything
            logger.exception("waxell-observe: background collector failed to end its automatic runs")


def write_pending() -> int:
    """End the open automatic runs now; returns how many calls they held."""
    return _end_all(_state)


def _end_all(state: _State) -> int:
    with state.lock:
        runs = list(state.open.values())
        state.open.clear()
        for run in runs:
            _end(state, run)
    return sum(run.calls for run in runs)


def _client_for(config: ObserveConfig) -> Any:
    """``None`` for the global configuration, else a client carrying ``config``."""
    if config is get_config():
        return None
    from waxell_observe.client import WaxellObserveClient

    return WaxellObserveClient.from_config(config)


def _report(state: _State) -> DeliveryReport:
    from waxell_observe.delivery.report import DeliveryReport

    return DeliveryReport(
        sink=NAME,
        sent=state.written,
        dropped=state.failed,
        pending=pending(),
        errors=list(state.errors),
    )


@hookimpl(tryfirst=True)
def on_flush(timeout: float | None) -> DeliveryReport | None:
    """End the open automatic runs before the pipeline flushes, so this flush delivers them."""
    state = _state
    if state.thread is None and not state.open and not state.written and not state.failed:
        return None
    _end_all(state)
    return _report(state)


@hookimpl(tryfirst=True)
def on_shutdown(timeout: float | None) -> DeliveryReport | None:
    """End the open automatic runs, then stop the timer (a later call starts it again)."""
    state = _state
    if state.thread is None and not state.open and not state.written and not state.failed:
        return None
    _end_all(state)
    with state.lock:
        thread, stop = state.thread, state.stop
        state.thread = None
        state.stop = None
    if stop is not None:
        stop.set()
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout)
    return _report(state)
