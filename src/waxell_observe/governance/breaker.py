"""A circuit breaker for the remote pre-run policy check.

In remote mode every run entry (and every ``check_policy()``) asks the control plane
``policy-check/`` on the agent's thread, bounded by ``policy_timeout``. Against a control plane
that is down or hung, every run would pay that timeout. A :class:`CircuitBreaker` per control
plane (``api_url`` + key, see :func:`breaker_for`) stops that:

* **closed** — checks go to the network. Each failure (timeout, refused connection, 5xx, ...)
  adds to a streak; a success resets it. ``failure_threshold`` consecutive failures open it.
* **open** — for ``cooldown`` seconds checks are skipped at once, without any network wait
  (:meth:`CircuitBreaker.allow` answers False and counts the skip). The caller then fails open
  or, under ``policy_fail_closed``, blocks.
* **half-open** — once the cool-down has passed, exactly one caller gets a trial request through;
  the others keep skipping while it is in flight. Its success closes the breaker; its failure
  opens it again for another cool-down. A trial that never reports (its thread died) is given
  up once a further cool-down has passed: the next caller becomes the trial.

Opening is logged once at WARNING, closing once at INFO; a failed trial (the breaker staying open)
at INFO; skipped checks are only counted. Settings: ``WAXELL_POLICY_BREAKER_FAILURES`` (default
:data:`DEFAULT_FAILURE_THRESHOLD`) and ``WAXELL_POLICY_BREAKER_COOLDOWN`` (seconds, default
:data:`DEFAULT_COOLDOWN`), read once when this module is imported.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Literal

from waxell_observe.transport.errors import ControlPlaneError

__all__ = [
    "COOLDOWN",
    "DEFAULT_COOLDOWN",
    "DEFAULT_FAILURE_THRESHOLD",
    "FAILURE_THRESHOLD",
    "BreakerOpenError",
    "CircuitBreaker",
    "State",
    "breaker_for",
    "format_time",
    "is_unreachable",
    "reset_breakers",
]

logger = logging.getLogger("waxell_observe")

State = Literal["closed", "open", "half_open"]

DEFAULT_FAILURE_THRESHOLD = 3
"""Consecutive failed policy checks that open a breaker."""
DEFAULT_COOLDOWN = 30.0
"""Seconds a breaker stays open before one trial request goes through."""


def _env_setting(name: str, default: float, *, integer: bool) -> float:
    """A positive number from the environment; a bad value is logged and the default used."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(int(raw)) if integer else float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        logger.warning("waxell-observe: ignoring %s=%r: expected a positive %s", name, raw,
                       "integer" if integer else "number")  # fmt: skip
        return default
    return value


FAILURE_THRESHOLD = int(
    _env_setting("WAXELL_POLICY_BREAKER_FAILURES", DEFAULT_FAILURE_THRESHOLD, integer=True)
)
"""The threshold of breakers made by :func:`breaker_for` (``WAXELL_POLICY_BREAKER_FAILURES``)."""
COOLDOWN = _env_setting("WAXELL_POLICY_BREAKER_COOLDOWN", DEFAULT_COOLDOWN, integer=False)
"""The cool-down of breakers made by :func:`breaker_for` (``WAXELL_POLICY_BREAKER_COOLDOWN``)."""


class BreakerOpenError(Exception):
    """A policy check was skipped because the breaker of its control plane is open.

    ``until`` is the wall-clock time (epoch seconds) at which the next trial request may go.
    """

    def __init__(self, name: str, until: float, consecutive_failures: int) -> None:
        self.name = name
        self.until = until
        self.consecutive_failures = consecutive_failures
        super().__init__(
            f"the control plane{f' at {name}' if name else ''} was unreachable "
            f"({consecutive_failures} consecutive policy checks failed); the circuit breaker is open "
            f"until {format_time(until)}, policy checks are skipped until then"
        )


def format_time(epoch: float) -> str:
    """``epoch`` as ISO 8601 UTC to the second, e.g. ``2026-01-01T12:00:30Z``."""
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def is_unreachable(error: BaseException) -> bool:
    """Does ``error`` (raised by a policy check) count against the breaker? Everything does except
    a final HTTP answer (a 4xx other than 429, a 2xx with an unreadable body): then the control
    plane answered, so it is reachable, and waiting for it costs no timeout."""
    return not (isinstance(error, ControlPlaneError) and error.status is not None and error.final)


class CircuitBreaker:
    """Closed / open / half-open, thread-safe. See the module docstring for the behaviour.

    Use: ``if not breaker.allow(): <skip>``; otherwise make the request, then call exactly one of
    :meth:`record_success` or :meth:`record_failure`. ``clock`` (monotonic seconds) and
    ``wall_clock`` (epoch seconds, only to say *until when* in messages) are injectable for tests
    (also as attributes, e.g. on the breaker :func:`breaker_for` made, before it is first used).

    Counters, since the breaker was made: ``failures`` (failed requests reported), ``opened``
    (times it opened, re-openings after a failed trial included), ``skipped`` (calls
    :meth:`allow` refused), ``trials`` (half-open trial requests let through);
    ``consecutive_failures`` is the current streak (a success resets it).
    """

    def __init__(
        self,
        name: str = "",
        *,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
        cooldown: float = DEFAULT_COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if (
            isinstance(failure_threshold, bool)
            or not isinstance(failure_threshold, int)
            or failure_threshold < 1
        ):
            raise ValueError(f"failure_threshold must be an integer >= 1, got {failure_threshold!r}")
        if not cooldown > 0:
            raise ValueError(f"cooldown must be > 0 seconds, got {cooldown!r}")
        self.name = name
        self.failure_threshold = failure_threshold
        self.cooldown = float(cooldown)
        self.clock = clock
        """Monotonic seconds. Replaceable (tests) before the breaker is first used."""
        self.wall_clock = wall_clock
        """Epoch seconds, only to say in messages until when the breaker is open."""
        self._lock = threading.Lock()
        self._state: State = "closed"
        self._open_until = 0.0
        """Monotonic time when the next trial may go (open), or when an unreported trial lapses
        (half-open)."""
        self.consecutive_failures = 0
        self.failures = 0
        self.opened = 0
        self.skipped = 0
        self.trials = 0

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker({self.name!r}, state={self.state!r}, "
            f"consecutive_failures={self.consecutive_failures}, "
            f"failures={self.failures}, opened={self.opened}, skipped={self.skipped})"
        )

    @property
    def state(self) -> State:
        """``closed``, ``open`` (skipping; still ``open`` after the cool-down until the next caller
        becomes the trial) or ``half_open`` (a trial request is in flight)."""
        return self._state

    def open_until(self) -> float:
        """Wall-clock time (epoch seconds) when the breaker lets a trial through; 0 when closed."""
        with self._lock:
            return self._until_wall() if self._state != "closed" else 0.0

    def _until_wall(self) -> float:
        return self.wall_clock() + max(self._open_until - self.clock(), 0.0)

    def allow(self) -> bool:
        """May a request go now? False (counted in ``skipped``): skip it, the breaker is open."""
        return self._admit() is None

    def check(self) -> None:
        """:meth:`allow`, raising :class:`BreakerOpenError` (with the time it reopens) when it refuses."""
        refused = self._admit()
        if refused is not None:
            raise BreakerOpenError(self.name, *refused)

    def _admit(self) -> tuple[float, int] | None:
        """``None``: go ahead. Else the skip is counted and ``(open until (epoch), streak)`` returned."""
        with self._lock:
            if self._state == "closed":
                return None
            now = self.clock()
            if now < self._open_until:
                self.skipped += 1
                return self._until_wall(), self.consecutive_failures
            # The cool-down is over (or a trial lapsed unreported): this caller is the trial.
            self._state = "half_open"
            self._open_until = now + self.cooldown
            self.trials += 1
            return None

    def record_success(self) -> None:
        """The control plane answered: reset the streak; close the breaker if it was not closed."""
        with self._lock:
            self.consecutive_failures = 0
            was = self._state
            self._state = "closed"
            self._open_until = 0.0
        if was != "closed":
            logger.info(
                "waxell-observe: control plane %s answered a policy "
                "check again; circuit breaker closed, policy checks resume",
                self.name or "(unnamed)",
            )

    def record_failure(self, error: BaseException | str = "") -> None:
        """A request failed (timeout, connection error, 5xx...): count it; open the breaker at the
        threshold, or again when the failed request was the half-open trial."""
        with self._lock:
            self.failures += 1
            self.consecutive_failures += 1
            was = self._state
            if was == "open":
                return  # a request that started before the breaker opened: it stays open as it is
            if was == "closed" and self.consecutive_failures < self.failure_threshold:
                return
            self._state = "open"
            self._open_until = self.clock() + self.cooldown
            self.opened += 1
            until, streak = self._until_wall(), self.consecutive_failures
        if was == "closed":
            logger.warning(
                "waxell-observe: control plane %s unreachable "
                "(%d consecutive policy checks failed, last: %s); circuit breaker open: "
                "policy checks are skipped until %s (%g s), then one trial request goes",
                self.name or "(unnamed)",
                streak,
                error,
                format_time(until),
                self.cooldown,
            )
        else:
            logger.info(
                "waxell-observe: control plane %s still unreachable (trial policy check failed: %s); "
                "circuit breaker open until %s",
                self.name or "(unnamed)", error, format_time(until),
            )  # fmt: skip

    def _after_fork(self) -> None:
        self._lock = threading.Lock()


_breakers: dict[tuple[str, str], CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(api_url: str, api_key: str) -> CircuitBreaker:
    """The breaker of the control plane at ``api_url`` used with ``api_key`` (made on first use,
    with :data:`FAILURE_THRESHOLD` and :data:`COOLDOWN`). It is named after the URL only."""
    key = (api_url, api_key)
    breaker = _breakers.get(key)
    if breaker is None:
        with _breakers_lock:
            breaker = _breakers.get(key)
            if breaker is None:
                breaker = _breakers[key] = CircuitBreaker(api_url, failure_threshold=FAILURE_THRESHOLD,
                                                          cooldown=COOLDOWN)  # fmt: skip
    return breaker


def reset_breakers() -> None:
    """Forget every breaker (tests): the next check of each control plane starts closed."""
    with _breakers_lock:
        _breakers.clear()


def _after_fork_in_child() -> None:
    """A lock held by another thread at ``fork()`` would stay held in the child: make new ones."""
    global _breakers_lock
    _breakers_lock = threading.Lock()
    for breaker in _breakers.values():
        breaker._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
