"""Delivery of runs to control planes: per-run order, batching, retries, spool.

The agent's thread only appends ``(operation, run, payload)`` to a bounded deque
(:meth:`RemoteDelivery.put`). A daemon worker thread drains the deque into a
:class:`~waxell_observe.delivery.run_state.RunState` per run (records encoded to JSON once),
then delivers every run with something pending, per control plane: ``runs/start/`` first,
then one request per record endpoint with everything buffered for that run (at most
:data:`CHUNK` records a request; smaller after a 413), then ``complete/`` once nothing else
is pending. Records of many runs go out in one worker cycle. A record leaves memory only
when the server acknowledged it. Requests run on a :class:`~waxell_observe.delivery.sender.Sender`
thread while the worker keeps draining, so a hung control plane stalls nothing else.

Failures follow the protocol: 5xx, timeouts and connection errors back the destination off
(exponential with jitter; ``Retry-After`` on 429 is honoured) and everything stays queued;
any other 4xx is final for what that request carried (logged once, counted as dropped; a
refused start drops the whole run). When a server assigns its own run ids, ours are mapped to
its ids for every later request.

What cannot be delivered goes to the on-disk :class:`~waxell_observe.delivery.spool.Spool`:
runs over the spill threshold (half of ``max_queue``) and everything still pending when
:meth:`RemoteDelivery.shutdown` runs out of time. Spooled runs are delivered by the first
process whose delivery finds the control plane reachable (this one or a later one), and
removed from disk only once delivered. While a run has records on disk, its newer records
wait in memory, so its order holds.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from waxell_observe.client import WaxellObserveClient
from waxell_observe.delivery.report import DeliveryReport
from waxell_observe.delivery.run_state import BODY_KEYS, ENDPOINTS, RECORD_KINDS, RunState, encode
from waxell_observe.delivery.sender import Job, Sender
from waxell_observe.delivery.spool import Spool
from waxell_observe.transport import wire
from waxell_observe.transport.errors import ControlPlaneError

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig
    from waxell_observe.governance.results import PolicyCheckResult
    from waxell_observe.run import Run

__all__ = ["CHUNK", "DELIVERY_TIMEOUT", "Destination", "RemoteDelivery", "RunFlush"]

logger = logging.getLogger("waxell_observe")

CHUNK = 1000
"""Most records sent in one request."""
DELIVERY_TIMEOUT = 5.0
"""Seconds one delivery request may take."""
SPOOL_SECONDS_PER_ITEM = 5e-6
"""Estimated cost of writing one held item to the spool at shutdown (sizes the time reserved for it)."""
REPLAY_SCAN_INTERVAL = 2.0
"""Seconds between looks at an empty (or another process's) spool while the control plane is reachable."""
REPLAY_BUDGET = 1.0
"""Seconds a worker cycle may spend on spooled runs before serving live runs again."""
REPLAY_SAVE_INTERVAL = 0.25
"""Seconds between rewrites of the spool segment being delivered (what was delivered leaves it)."""
_POLL = 0.05
_MAX_ERRORS = 20
_DEAD_MEMORY = 10_000

# Outcomes of delivering (part of) a run.
_DONE = "done"  # nothing left for this run
_IDLE = "idle"  # delivered what it could; the run goes on
_RETRY = "retry"  # the destination failed temporarily: stop for now
_STOP = "stop"  # shutdown took over, or its deadline passed
_DROPPED = "dropped"  # refused for good
_SMALLER = "smaller"  # 413: send fewer records per request

Item = tuple[str, "Run", Any]
"""``(operation, run, payload)``; operation: start, llm, step, span, score, end."""


class _FlushMarker:
    """A flush waiting for everything queued before it."""

    __slots__ = ("event", "target")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.target = -1


class RunFlush:
    """A synchronous delivery of one run's records (mid-execution governance) and its outcome."""

    __slots__ = ("conversation", "error", "event", "governance", "ok", "run")

    def __init__(self, run: Run) -> None:
        self.run = run
        self.conversation = wire.conversation_state(run)
        self.event = threading.Event()
        self.ok = False
        self.error = ""
        self.governance: list[PolicyCheckResult] = []


class Destination:
    """One control plane (``api_url`` + key): its client, spool, backoff and run states."""

    def __init__(self, config: ObserveConfig, spool_factory: Callable[[str], Spool | None]) -> None:
        self.api_url = config.api_url
        self.client: WaxellObserveClient = WaxellObserveClient.from_config(config, timeout=DELIVERY_TIMEOUT)
        self.spool = spool_factory(config.api_url)
        self.runs: dict[str, RunState] = {}
        self.ids: dict[str, list[str]] = {}
        """Our run id -> [server run id, server workflow id] where the server chose others."""
        self.spilled: set[str] = set()
        """Runs with records on disk: their newer records wait until the spool is delivered."""
        self.dead: dict[str, None] = {}
        self.chunk = CHUNK
        self.failures = 0
        self.retry_at = 0.0
        self.last_error = ""
        self.next_scan = 0.0
        self.logged: set[tuple[Any, ...]] = set()
        if self.spool is not None:
            self.ids.update(self.spool.load_ids())

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def server_ids(self, run_id: str) -> tuple[str, str]:
        mapped = self.ids.get(run_id)
        if mapped:
            return mapped[0], mapped[1]
        return run_id, run_id

    def mark_dead(self, run_id: str) -> None:
        self.dead[run_id] = None
        if len(self.dead) > _DEAD_MEMORY:
            del self.dead[next(iter(self.dead))]


def _left(states: list[RunState]) -> list[str]:
    """Spool lines of what is still pending in ``states``."""
    return [state.entry_text() for state in states if state.has_pending() and not state.dead]


def _default_spool(api_url: str) -> Spool | None:
    try:
        return Spool.for_destination(api_url)
    except Exception:
        logger.exception("waxell-observe: no spool for %s; undeliverable runs will be dropped", api_url)
        return None


_engines: weakref.WeakSet[RemoteDelivery] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for engine in list(_engines):
        engine._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class RemoteDelivery:
    """The delivery engine behind the remote sink (one per process)."""

    def __init__(
        self,
        name: str = "remote",
        *,
        max_queue: int = 100_000,
        spill_threshold: int | None = None,
        interval: float = 0.2,
        wake_at: int = 1000,
        base_backoff: float = 0.1,
        max_backoff: float = 10.0,
        spool_factory: Callable[[str], Spool | None] = _default_spool,
        behaviour_steps: bool = True,
        senders: int = 4,
    ) -> None:
        self.name = name
        self.senders = senders
        """Runs delivered at the same time (each run's own requests stay in order)."""
        self.max_queue = max_queue
        self.spill_threshold = spill_threshold if spill_threshold is not None else max(1, max_queue // 2)
        self.interval = interval
        self.wake_at = wake_at
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.behaviour_steps = behaviour_steps
        """Also send behaviour spans as ``_kind`` steps (the protocol carries them both ways)."""
        self._spool_factory = spool_factory
        self.sent = 0
        self.dropped = 0
        self.spooled = 0
        self.errors: list[str] = []
        self._init_runtime()
        _engines.add(self)

    def _init_runtime(self) -> None:
        self._queue: deque[Any] = deque()
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._start_lock = threading.Lock()
        self._drop_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._sender: Sender | None = None
        self._epoch = 0
        self._seq = 0
        self._buffered = 0
        self._dests: dict[tuple[str, str], Destination] = {}
        self._last_dest: tuple[ObserveConfig, Destination] | None = None
        self._markers: list[_FlushMarker] = []
        self._run_flushes: list[RunFlush] = []
        self._deadline: float | None = None
        self._replaying = False

    def _reset_after_fork(self) -> None:
        self._init_runtime()
        self.sent = self.dropped = self.spooled = 0
        self.errors = []

    # -- the agent's side -----------------------------------------------------------------------

    def put(self, item: Item) -> bool:
        """Queue one item; False (counted as dropped) when ``max_queue`` items are held."""
        queue = self._queue
        if len(queue) + self._buffered >= self.max_queue:
            self._count_drop(1, "queue full")
            return False
        queue.append(item)
        if self._thread is None:
            self._start()
        elif len(queue) >= self.wake_at:
            self._wake.set()
        return True

    def _count_drop(self, count: int, why: str) -> None:
        if count <= 0:
            return
        with self._drop_lock:
            first = self.dropped == 0
            self.dropped += count
        if first:
            logger.warning("waxell-observe: %s dropped %d record(s): %s", self.name, count, why)

    def _note_error(self, text: str) -> None:
        self.errors.append(text)
        del self.errors[:-_MAX_ERRORS]

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            epoch = self._epoch
            self._sender = Sender(f"waxell-{self.name}-send", self.senders)
            thread = threading.Thread(target=self._run, args=(epoch,), name=f"waxell-{self.name}", daemon=True)
            self._thread = thread
            thread.start()

    @property
    def pending(self) -> int:
        """Items queued or buffered, not yet delivered, dropped or spooled."""
        return sum(1 for item in list(self._queue) if isinstance(item, tuple)) + self._buffered

    def report(self) -> DeliveryReport:
        return DeliveryReport(
            sink=self.name,
            sent=self.sent,
            dropped=self.dropped,
            pending=self.pending,
            spooled=self.spooled,
            errors=list(self.errors),
        )

    def flush(self, timeout: float | None = None) -> DeliveryReport:
        """Wait until everything queued before this call is delivered (or ``timeout`` passes)."""
        if self._queue or self._buffered:
            marker = _FlushMarker()
            self._queue.append(marker)
            if self._thread is None:
                self._start()
            self._wake.set()
            marker.event.wait(timeout)
        return self.report()

    def flush_run(self, run: Run, timeout: float) -> RunFlush:
        """Deliver ``run``'s queued records now and wait (at most ``timeout``) for the answer."""
        request = RunFlush(run)
        self._queue.append(request)
        if self._thread is None:
            self._start()
        self._wake.set()
        if not request.event.wait(timeout):
            request.ok = False
            request.error = request.error or f"no answer from the control plane within {timeout:g}s"
        return request

    def server_ids(self, config: ObserveConfig, run_id: str) -> tuple[str, str]:
        """The server's (run id, workflow id) for our ``run_id`` (ours when it honoured them)."""
        dest = self._dests.get((config.api_url, config.api_key))
        return dest.server_ids(run_id) if dest is not None else (run_id, run_id)

    def shutdown(self, timeout: float | None = None) -> DeliveryReport:
        """Deliver what can be delivered within ``timeout``, spool the rest, stop the threads.

        Part of the budget (sized by how much is held, at most a quarter) is kept for writing
        the spool, so the call returns within ``timeout`` even when the control plane hangs.
        Later :meth:`put` calls start new threads.
        """
        started = time.monotonic()
        if timeout is None:
            self.flush(None)
        else:
            reserve = min(timeout / 4.0, 0.05 + (len(self._queue) + self._buffered) * SPOOL_SECONDS_PER_ITEM)
            deadline = self._deadline = started + max(0.0, timeout - reserve)
            if self._queue or self._buffered:
                marker = _FlushMarker()
                self._queue.append(marker)
                if self._thread is None:
                    self._start()
                self._wake.set()
                while not marker.event.wait(_POLL / 2) and time.monotonic() < deadline:
                    if self._hopeless(deadline):
                        break  # no retry can happen before the deadline: spool now
            while self._replaying and time.monotonic() < deadline:  # a spool being delivered: let it
                time.sleep(_POLL / 2)
        with self._lock:
            self._epoch += 1
            thread, sender = self._thread, self._sender
            self._drain(abandon_requests=True)
            per_dest = [(dest, self._take_all(dest)) for dest in self._dests.values()]
        for dest, states in per_dest:
            if states:
                self._spill_states(dest, states, reason="shutdown")
        self._wake.set()
        if sender is not None:
            sender.stop()
        if thread is not None and thread is not threading.current_thread():
            thread.join(0.02)
        with self._start_lock:
            self._thread = None
            self._sender = None
            self._deadline = None
        if thread is None or not thread.is_alive():
            for dest in self._dests.values():
                dest.client.close()
        return self.report()

    def _hopeless(self, deadline: float) -> bool:
        """True when every destination holding runs is backing off past ``deadline``."""
        holding = [dest for dest in list(self._dests.values()) if dest.runs]
        return bool(holding) and all(dest.failing and dest.retry_at >= deadline for dest in holding)

    # -- the worker's side ----------------------------------------------------------------------

    def _run(self, epoch: int) -> None:
        try:
            while True:
                with self._lock:
                    if self._epoch != epoch:
                        return
                    self._drain()
                for flush in self._take_run_flushes():
                    if self._serve_run_flush(flush, epoch) == _STOP:
                        return
                for dest in list(self._dests.values()):
                    if self._deliver_dest(dest, epoch) == _STOP:
                        return
                    with self._lock:
                        self._settle_markers()
                    if self._replay(dest, epoch) == _STOP:
                        return
                with self._lock:
                    if self._epoch != epoch:
                        return
                    self._maybe_spill()
                    self._settle_markers()
                self._wake.wait(self._sleep_time())
                self._wake.clear()
        except Exception:
            logger.exception("waxell-observe: the %s delivery thread failed", self.name)
            with self._start_lock:
                if self._epoch == epoch:
                    self._thread = None

    def _sleep_time(self) -> float:
        if self._queue:
            return 0.0 if (self._run_flushes or len(self._queue) >= self.wake_at) else self.interval
        now = time.monotonic()
        waits = [dest.retry_at - now for dest in self._dests.values() if dest.failing and dest.runs]
        waits += [dest.next_scan - now for dest in self._dests.values() if dest.next_scan and not dest.failing]
        if waits:
            return max(0.0, min(min(waits), self.interval * 5))
        return self.interval

    def _dest(self, config: ObserveConfig) -> Destination:
        cached = self._last_dest
        if cached is not None and cached[0] is config:
            return cached[1]
        key = (config.api_url, config.api_key)
        dest = self._dests.get(key)
        if dest is None:
            dest = self._dests[key] = Destination(config, self._spool_factory)
        self._last_dest = (config, dest)
        return dest

    def _drain(self, abandon_requests: bool = False) -> None:
        """Move queued items into run states (caller holds the lock)."""
        queue = self._queue
        while queue:
            item = queue[0]
            if isinstance(item, tuple):
                self._buffered += 1  # counted before it leaves the deque: the held count never dips
                queue.popleft()
                self._seq += 1
                if not self._absorb(item, self._seq):
                    self._buffered -= 1
                continue
            queue.popleft()
            if isinstance(item, _FlushMarker):
                item.target = self._seq
                self._markers.append(item)
            elif isinstance(item, RunFlush):
                if abandon_requests:
                    item.error = "shutting down"
                    item.event.set()
                else:
                    self._run_flushes.append(item)

    def _absorb(self, item: Item, seq: int) -> bool:
        """Add one queued item to its run's state; False when it was dropped instead."""
        operation, run, payload = item
        try:
            dest = self._dest(run.config)
            run_id = run.run_id
            if run_id in dest.dead:
                self._count_drop(1, f"run {run_id} was refused by the control plane")
                return False
            state = dest.runs.get(run_id)
            if state is None:
                state = dest.runs[run_id] = RunState(run_id)
                state.started_at = run.started_at
            state.run = run
            if operation == "start":
                state.start = (seq, payload, encode(payload))
                state.started_at = run.started_at
            elif operation == "llm":
                state.llm_calls.append((seq, encode(wire.llm_call(payload)), 1))
            elif operation == "step":
                state.steps.append((seq, encode(wire.step(payload)), 1))
            elif operation == "span":
                positions = state.span_positions
                if positions is None:
                    positions = state.span_positions = {}
                positions[payload.id] = payload.position
                parent = positions.get(payload.parent_span_id) if payload.parent_span_id else None
                state.spans.append((seq, encode(wire.span(payload, state.started_at, parent)), 1))
                if self.behaviour_steps:
                    as_step = wire.behaviour_step(payload)
                    if as_step is not None:
                        state.steps.append((seq, encode(as_step), 0))
            elif operation == "score":
                state.scores.append((seq, encode(wire.score(payload)), 1))
            elif operation == "end":
                state.complete = (seq, encode(payload))
            else:
                raise ValueError(f"unknown delivery operation {operation!r}")
            return True
        except Exception as exc:
            logger.exception("waxell-observe: cannot encode a %s record for delivery", operation)
            self._note_error(f"{type(exc).__name__}: {exc}")
            self._count_drop(1, f"{type(exc).__name__}: {exc}")
            return False

    def _take_run_flushes(self) -> list[RunFlush]:
        with self._lock:
            flushes, self._run_flushes = self._run_flushes, []
        return flushes

    def _settle_markers(self) -> None:
        """Release flush markers whose predecessors are all settled (caller holds the lock)."""
        if not self._markers:
            return
        oldest: int | None = None
        if self._buffered:
            for dest in self._dests.values():
                for state in dest.runs.values():
                    first = state.oldest()
                    if first is not None and (oldest is None or first < oldest):
                        oldest = first
        waiting = []
        for marker in self._markers:
            if oldest is None or marker.target < oldest:
                marker.event.set()
            else:
                waiting.append(marker)
        self._markers = waiting

    # -- delivering -----------------------------------------------------------------------------

    def _request_timeout(self) -> float | None:
        """Timeout for the next request; ``None`` when the shutdown deadline has passed."""
        deadline = self._deadline
        if deadline is None:
            return DELIVERY_TIMEOUT
        remaining = deadline - time.monotonic()
        if remaining < 0.02:
            return None
        return min(DELIVERY_TIMEOUT, remaining)

    def _deliver_dest(self, dest: Destination, epoch: int) -> str:
        if not dest.runs:
            return _IDLE
        if dest.failing and time.monotonic() < dest.retry_at:
            return _IDLE
        with self._lock:
            order = [s for s in dest.runs.values() if s.run_id not in dest.spilled and s.has_pending()]

        def finished(state: RunState, outcome: str) -> None:
            if (outcome == _DONE and not state.has_pending()) or state.dead:
                dest.runs.pop(state.run_id, None)  # (records arriving after the completion stay queued)

        return self._run_states(dest, order, epoch, finished)

    def _run_states(
        self,
        dest: Destination,
        states: list[RunState],
        epoch: int,
        finished: Callable[[RunState, str], None],
        *,
        conversation: dict[str, Any] | None = None,
        budget_end: float | None = None,
    ) -> str:
        """Deliver ``states`` on the sender threads (one run per thread at a time, so each run
        keeps its order), while this (worker) thread keeps draining the queue.

        ``finished(state, outcome)`` is called under the lock as each run's turn ends. No new run
        is started after a retryable failure, after ``budget_end``, or (with a budget) while a
        flush waits. Returns ``_STOP``, ``_RETRY`` (some run failed temporarily) or ``_IDLE``.
        """
        sender = self._sender
        if sender is None:
            return _STOP
        todo = deque(states)
        waiting: list[RunState] = []
        active: list[tuple[Job, RunState]] = []
        retry = False
        while todo or active:
            while todo and len(active) < sender.size and not retry:
                if budget_end is not None and (time.monotonic() > budget_end or self._run_flushes):
                    todo.clear()  # the budget is spent, or an agent waits on a run flush
                    break
                state = todo.popleft()
                if state.live and dest.runs.get(state.run_id) is not state:
                    continue  # spilled to disk while other runs were in flight
                if self._parent_pending(dest, state):
                    waiting.append(state)  # its start names a parent the server has not numbered yet
                    continue
                state.busy = True
                active.append((sender.submit(partial(self._deliver_state, dest, state, epoch, conversation)), state))
            if not active:
                break
            sender.any_done.wait(_POLL)
            sender.any_done.clear()
            with self._lock:  # keep the queue moving while requests are in flight
                if self._epoch != epoch:
                    return _STOP
                self._drain()
                still: list[tuple[Job, RunState]] = []
                for job, state in active:
                    if not job.done.is_set():
                        still.append((job, state))
                        continue
                    state.busy = False
                    if waiting:
                        todo.extendleft(reversed(waiting))
                        waiting = []
                    outcome = job.result if job.error is None else _IDLE
                    if job.error is not None:
                        logger.error("waxell-observe: delivering run %s failed", state.run_id, exc_info=job.error)
                    if outcome == _STOP:
                        return _STOP
                    retry = retry or outcome == _RETRY
                    finished(state, outcome)
                active = still
                self._maybe_spill()
                self._settle_markers()
        return _RETRY if retry else _IDLE

    @staticmethod
    def _parent_pending(dest: Destination, state: RunState) -> bool:
        """True while ``state``'s start names a parent (or root) run whose own start is still
        being delivered here: the server's id for it is not known yet."""
        if state.start is None:
            return False
        body = state.start[1]
        for field in ("parent_workflow_id", "root_workflow_id"):
            parent_id = body.get(field)
            if not parent_id:
                continue
            parent = dest.runs.get(parent_id)
            if parent is not None and parent.start is not None and not parent.dead:
                return True
        return False

    def _deliver_state(
        self, dest: Destination, state: RunState, epoch: int, conversation: dict[str, Any] | None = None
    ) -> str:
        """Send everything pending for one run, in protocol order (``conversation``: the
        ``conversation_state`` sent with LLM calls and steps; by default the run's current one,
        when it changed since it was last sent)."""
        if state.dead:
            return _DONE
        if state.run_id in dest.dead:
            with self._lock:
                if self._epoch != epoch:
                    return _STOP
                state.dead = True
                self._settled(state, state.clear(), sent=False)
            return _DONE
        if state.start is not None:
            text = encode(state.start_body(lambda rid: dest.server_ids(rid)[1]))
            outcome, reply = self._send(dest, state, epoch, "start", "runs/start/", text, 1)
            if outcome != _DONE:
                return outcome
            with self._lock:
                if self._epoch != epoch:
                    return _STOP
                server_id = str(reply.get("run_id") or state.run_id)
                workflow_id = str(reply.get("workflow_id") or server_id)
                state.server_id, state.workflow_id = server_id, workflow_id
                if server_id != state.run_id or workflow_id != state.run_id:
                    dest.ids[state.run_id] = [server_id, workflow_id]
                    if not state.live and dest.spool is not None:
                        dest.spool.save_ids(dest.ids)
                state.start = None
                self._settled(state, 1, sent=True)
        if not state.server_id:
            state.server_id, state.workflow_id = dest.server_ids(state.run_id)
        if conversation is None and state.run is not None and (state.llm_calls or state.steps):
            conversation = wire.conversation_state(state.run)
        conversation_text = encode(conversation) if conversation else ""
        if conversation_text == state.conversation_sent:
            conversation_text = ""
        while True:  # records that arrive while a request is in flight go out before the completion
            for kind in RECORD_KINDS:
                while True:
                    records = getattr(state, kind)
                    if not records:
                        break
                    chunk = records[: dest.chunk]
                    weight = sum(record[2] for record in chunk)
                    extra = ""
                    if conversation_text and kind in ("llm_calls", "steps"):
                        extra = ',"conversation_state":' + conversation_text
                    text = f'{{"{BODY_KEYS[kind]}":[{",".join(r[1] for r in chunk)}]{extra}}}'
                    path = f"runs/{state.server_id}/{ENDPOINTS[kind]}/"
                    outcome, reply = self._send(dest, state, epoch, kind, path, text, weight, len(chunk))
                    if outcome == _SMALLER:
                        continue
                    if outcome not in (_DONE, _DROPPED):
                        return outcome
                    with self._lock:
                        if self._epoch != epoch:
                            return _STOP
                        del getattr(state, kind)[: len(chunk)]
                        if outcome == _DONE:
                            self._settled(state, weight, sent=True)
                            self._note_governance(state, reply)
                            if extra:
                                state.conversation_sent, conversation_text = conversation_text, ""
                    if state.dead:
                        return _DONE
            with self._lock:
                if not (state.llm_calls or state.spans or state.steps or state.scores):
                    break
        if state.complete is not None:
            path = f"runs/{state.server_id}/complete/"
            outcome, reply = self._send(dest, state, epoch, "complete", path, state.complete[1], 1)
            if outcome == _DONE:
                with self._lock:
                    if self._epoch != epoch:
                        return _STOP
                    state.complete = None
                    self._settled(state, 1, sent=True)
                    self._apply_completion(state, reply)
                return _DONE
            return _DONE if outcome == _DROPPED else outcome
        return _IDLE

    def _send(
        self, dest: Destination, state: RunState, epoch: int, what: str, path: str, text: str, weight: int,
        records: int = 1,
    ) -> tuple[str, dict[str, Any]]:  # fmt: skip
        """One POST (on a sender thread) carrying ``records`` records that stand for ``weight``
        queued items.

        Returns ``(outcome, reply)``: ``_DONE`` (delivered), ``_DROPPED`` (refused for good;
        counted, and a refused start or completion is removed from the state), ``_SMALLER``
        (413: the destination's chunk size was halved, send again), ``_RETRY`` or ``_STOP``.
        """
        timeout = self._request_timeout()
        if timeout is None:
            return _STOP, {}
        reply: Any = None
        error: BaseException | None = None
        try:
            traceparent = wire.trace_context(state.run)[2] if state.run is not None else ""
            reply = dest.client.request(
                "POST", path, content=text, timeout=timeout, headers={"traceparent": traceparent} if traceparent else None
            )
        except Exception as exc:  # noqa: BLE001 - classified below
            error = exc
        with self._lock:
            if self._epoch != epoch:
                return _STOP, {}
            if error is None or (isinstance(error, ControlPlaneError) and error.accepted):
                if dest.failing:
                    logger.info("waxell-observe: control plane %s reachable again", dest.api_url)
                dest.failures = 0
                dest.retry_at = 0.0
                return _DONE, reply if isinstance(reply, dict) else {}
            if not isinstance(error, ControlPlaneError):
                logger.error(
                    "waxell-observe: unexpected error delivering %s of run %s", what, state.run_id, exc_info=error
                )
                error = ControlPlaneError(f"{type(error).__name__}: {error}")
            if error.retryable:
                self._back_off(dest, error)
                return _RETRY, {}
            if error.status == 413 and records > 1:
                dest.chunk = max(1, min(dest.chunk, records // 2))
                logger.info(
                    "waxell-observe: %s refused %d records as too large; sending %d per request",
                    dest.api_url, records, dest.chunk,
                )  # fmt: skip
                return _SMALLER, {}
            self._refused(dest, state, what, error, weight)
            return _DROPPED, {}

    def _back_off(self, dest: Destination, exc: ControlPlaneError) -> None:
        now = time.monotonic()
        if dest.failing and dest.retry_at > now and exc.retry_after is None:
            return  # a concurrent request already failed: one wave, one step of backoff
        dest.failures += 1
        delay = min(self.max_backoff, self.base_backoff * (2 ** min(dest.failures - 1, 16)))
        delay *= 0.5 + random.random() / 2.0
        if exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        dest.retry_at = max(dest.retry_at, now + delay)
        dest.last_error = str(exc)
        if dest.failures == 1:
            logger.warning(
                "waxell-observe: control plane %s unavailable (%s); retrying in %.2fs, records stay queued",
                dest.api_url, exc, delay,
            )  # fmt: skip
        else:
            logger.debug("waxell-observe: control plane %s still unavailable (%s)", dest.api_url, exc)

    def _refused(self, dest: Destination, state: RunState, what: str, exc: ControlPlaneError, count: int) -> None:
        """A final refusal: drop what the request carried (a refused start drops the run)."""
        text = f"{what} of run {state.run_id}: {exc}"
        self._note_error(text)
        key = (exc.status, what)
        if key not in dest.logged:
            dest.logged.add(key)
            logger.warning("waxell-observe: control plane %s refused %s; dropped (not retried)", dest.api_url, text)
        if what == "start":
            state.dead = True
            dest.mark_dead(state.run_id)
            count = state.clear()
        elif what == "complete":
            state.complete = None
        self._settled(state, count, sent=False)

    def _settled(self, state: RunState, count: int, *, sent: bool) -> None:
        if state.live:
            self._buffered -= count
        if sent:
            self.sent += count
        else:
            with self._drop_lock:
                self.dropped += count

    def _note_governance(self, state: RunState, reply: dict[str, Any]) -> None:
        governance = reply.get("governance")
        if not isinstance(governance, dict) or not governance.get("action"):
            return
        from waxell_observe.governance.results import PolicyCheckResult

        result = PolicyCheckResult.from_dict(governance)
        if state.governance is None:
            state.governance = []
        state.governance.append(result)
        if result.blocked and not state.warned_block:
            state.warned_block = True
            logger.warning(
                "waxell-observe: the control plane answered %s for run %s mid-way (%s); it stops the run only "
                "with mid_execution_governance=True",
                result.action, state.run_id, result.reason,
            )  # fmt: skip

    def _apply_completion(self, state: RunState, reply: dict[str, Any]) -> None:
        """Keep the ``complete/`` reply's post-execution outcome on the run (when it says something)."""
        run = state.run
        governance = reply.get("governance")
        if run is None or not isinstance(governance, dict) or not governance.get("action"):
            return
        from waxell_observe.governance.results import PolicyCheckResult, strictest

        result = PolicyCheckResult.from_dict(governance)
        if result.action == "allow" and not result.evaluations and not result.retry_feedback:
            return
        local = run.governance
        if local is None or (local.action == "allow" and not local.evaluations):
            run.governance = result
        else:
            run.governance = strictest([local, result])

    # -- mid-execution flush --------------------------------------------------------------------

    def _serve_run_flush(self, flush: RunFlush, epoch: int) -> str:
        run = flush.run
        try:
            with self._lock:
                dest = self._dest(run.config)
                state = dest.runs.get(run.run_id)
                spilled = run.run_id in dest.spilled
            if spilled:
                flush.error = "the run's records wait in the spool (control plane unreachable)"
                return _IDLE
            if state is None or state.dead:
                flush.ok = state is None
                flush.error = "" if state is None else "the control plane refused this run"
                return _IDLE
            outcomes: list[str] = []

            def finished(done: RunState, outcome: str) -> None:
                outcomes.append(outcome)
                if (outcome == _DONE and not done.has_pending()) or done.dead:
                    dest.runs.pop(done.run_id, None)

            if self._run_states(dest, [state], epoch, finished, conversation=flush.conversation) == _STOP:
                flush.error = "shutting down"
                return _STOP
            outcome = outcomes[0] if outcomes else _IDLE
            with self._lock:
                if state.dead:
                    flush.error = "the control plane refused this run"
                elif outcome == _RETRY or state.has_pending():
                    flush.error = dest.last_error or "not delivered"
                else:
                    flush.ok = True
                flush.governance, state.governance = state.governance or [], None
            return outcome if outcome in (_RETRY, _STOP) else _IDLE
        finally:
            flush.event.set()

    # -- the spool ------------------------------------------------------------------------------

    def _take_all(self, dest: Destination) -> list[RunState]:
        """Remove every state with something pending from ``dest`` (caller holds the lock)."""
        states = [state for state in dest.runs.values() if state.has_pending()]
        dest.runs = {}
        for marker in self._markers:
            marker.event.set()
        self._markers = []
        for flush in self._run_flushes:
            flush.error = "shutting down"
            flush.event.set()
        self._run_flushes = []
        return states

    def _maybe_spill(self) -> None:
        """Spill the oldest runs to disk while more than the spill threshold is held (lock held)."""
        if self._buffered + len(self._queue) <= self.spill_threshold:
            return
        target = self.spill_threshold // 2
        for dest in list(self._dests.values()):
            if dest.spool is None:
                continue
            chosen: list[RunState] = []
            held = self._buffered + len(self._queue)
            for state in dest.runs.values():
                if held <= target:
                    break
                if state.has_pending() and not state.busy:
                    chosen.append(state)
                    held -= state.weight()
            if not chosen:
                continue
            for state in chosen:
                dest.runs.pop(state.run_id, None)
            self._spill_states(dest, chosen, reason="queue over the spill threshold")
            if self._buffered + len(self._queue) <= target:
                return

    def _spill_states(self, dest: Destination, states: list[RunState], *, reason: str) -> None:
        """Write ``states`` to ``dest``'s spool (already removed from memory by the caller)."""
        weights = [state.weight() for state in states]
        count = sum(weights)
        self._buffered -= sum(w for state, w in zip(states, weights) if state.live)
        if not any(state.has_pending() for state in states):
            return
        path = dest.spool.write([state.entry_text() for state in states]) if dest.spool is not None else None
        if path is None:
            why = "no spool" if dest.spool is None else "the spool refused them (full or not writable)"
            self._count_drop(count, f"{reason}: {why}")
            return
        self.spooled += count
        for state in states:
            if state.complete is None:
                dest.spilled.add(state.run_id)
        if dest.ids and dest.spool is not None:
            dest.spool.save_ids(dest.ids)
        logger.info("waxell-observe: spooled %d record(s) of %d run(s) to %s (%s)", count, len(states), path, reason)

    def _replay(self, dest: Destination, epoch: int) -> str:
        """Deliver spooled runs of ``dest`` (for at most :data:`REPLAY_BUDGET` per call).

        The segment being delivered is rewritten with what is left every
        :data:`REPLAY_SAVE_INTERVAL` and when the pass ends (also when a shutdown interrupts it),
        so a later process does not send again what this one delivered.
        """
        spool = dest.spool
        now = time.monotonic()
        if spool is None or (dest.failing and now < dest.retry_at) or now < dest.next_scan:
            return _IDLE
        dest.next_scan = now + REPLAY_SCAN_INTERVAL
        segments = spool.segments()
        if not segments:
            self._replaying = False
            self._spool_empty(dest)
            return _IDLE
        if not spool.lock.acquire():
            self._replaying = False
            return _IDLE  # another process is delivering this spool
        self._replaying = True
        try:
            budget_end = time.monotonic() + REPLAY_BUDGET
            for path in segments:
                entries = spool.load(path)
                if entries is None:
                    continue
                states = [RunState.from_entry(entry) for entry in entries]
                save_at = [time.monotonic() + REPLAY_SAVE_INTERVAL]

                def finished(
                    _state: RunState, _outcome: str, path: Path = path, states: list[RunState] = states,
                    save_at: list[float] = save_at,
                ) -> None:  # fmt: skip
                    if time.monotonic() > save_at[0]:  # what was delivered leaves the segment
                        spool.rewrite(path, _left(states))
                        save_at[0] = time.monotonic() + REPLAY_SAVE_INTERVAL

                outcome = self._run_states(dest, states, epoch, finished, budget_end=budget_end)
                with self._lock:
                    left = _left(states)
                    spool.rewrite(path, left)  # also after a shutdown took over: delivered is delivered
                if outcome in (_STOP, _RETRY):
                    self._replaying = False
                    return outcome if outcome == _STOP else _IDLE
                if left:
                    dest.next_scan = 0.0  # more to deliver: come back next cycle
                    self._wake.set()
                    return _IDLE
            if not spool.segments():
                self._replaying = False
                self._spool_empty(dest)
            return _IDLE
        finally:
            spool.lock.release()

    def _spool_empty(self, dest: Destination) -> None:
        """Nothing of ``dest`` is on disk any more: runs held back for the spool may go live."""
        if dest.spilled:
            with self._lock:
                dest.spilled.clear()
                if dest.spool is not None:
                    dest.ids.update(dest.spool.load_ids())
            self._wake.set()
