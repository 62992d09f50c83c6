"""The circuit breaker of the remote policy check: the state machine on a fake clock, then real
runs against a control plane that accepts connections and never answers (and a stub that fails).

Nothing here asserts an upper time bound: requests are counted where the server receives them.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from remote_stubs import HungServer, ProtocolStub

from waxell_observe import PolicyViolationError, WaxellContext, WaxellObserveClient
from waxell_observe.governance import breaker as breaker_module
from waxell_observe.governance.breaker import BreakerOpenError, CircuitBreaker, breaker_for, is_unreachable
from waxell_observe.transport.errors import ControlPlaneError

POLICY_TIMEOUT = 0.2
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

# Every test here talks to a control plane that fails on purpose: delivery errors are expected.
pytestmark = pytest.mark.delivery_problems


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def fresh_breakers() -> Iterator[None]:
    breaker_module.reset_breakers()
    yield
    breaker_module.reset_breakers()


def _breaker(clock: FakeClock, threshold: int = 3, cooldown: float = 30.0) -> CircuitBreaker:
    return CircuitBreaker("http://cp.test", failure_threshold=threshold, cooldown=cooldown, clock=clock,
                          wall_clock=lambda: 1_767_225_600.0 + clock.now)  # fmt: skip


def _counters(b: CircuitBreaker) -> tuple[str, int, int, int, int, int]:
    return b.state, b.consecutive_failures, b.failures, b.opened, b.skipped, b.trials


def _breaker_logs(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if "circuit breaker" in r.getMessage()]


# -- the state machine ---------------------------------------------------------------------------


def test_consecutive_failures_open_it_and_a_success_resets_the_streak() -> None:
    b = _breaker(FakeClock())
    assert b.allow() and _counters(b) == ("closed", 0, 0, 0, 0, 0)
    b.record_failure("timeout")
    b.record_failure("timeout")
    b.record_success()
    assert _counters(b) == ("closed", 0, 2, 0, 0, 0)
    b.record_failure("timeout")
    b.record_failure("timeout")
    assert b.allow() and _counters(b) == ("closed", 2, 4, 0, 0, 0)
    b.record_failure("timeout")
    assert _counters(b) == ("open", 3, 5, 1, 0, 0)


def test_while_open_every_call_is_skipped_and_counted_until_the_cooldown_ends() -> None:
    clock = FakeClock()
    b = _breaker(clock)
    for _ in range(3):
        b.record_failure("timeout")
    assert [b.allow() for _ in range(50)] == [False] * 50
    clock.advance(29.999)
    assert not b.allow()
    assert _counters(b) == ("open", 3, 3, 1, 51, 0)
    with pytest.raises(BreakerOpenError) as raised:
        b.check()
    assert raised.value.until == 1_767_225_600.0 + 1030.0  # the wall-clock time the cool-down ends
    assert "unreachable (3 consecutive policy checks failed)" in str(raised.value)
    assert "circuit breaker is open until 2026-01-01T00:17:10Z" in str(raised.value)
    assert b.skipped == 52


def test_after_the_cooldown_one_trial_goes_and_its_success_closes_the_breaker() -> None:
    clock = FakeClock()
    b = _breaker(clock)
    for _ in range(3):
        b.record_failure("timeout")
    clock.advance(30)
    assert b.allow()  # the trial
    assert _counters(b) == ("half_open", 3, 3, 1, 0, 1)
    assert [b.allow() for _ in range(5)] == [False] * 5  # others skip while the trial is in flight
    b.record_success()
    assert _counters(b) == ("closed", 0, 3, 1, 5, 1)
    assert all(b.allow() for _ in range(5))
    assert b.skipped == 5 and b.open_until() == 0.0


def test_a_failed_trial_reopens_it_for_a_whole_cooldown() -> None:
    clock = FakeClock()
    b = _breaker(clock)
    for _ in range(3):
        b.record_failure("timeout")
    clock.advance(31)
    assert b.allow()
    clock.advance(2)  # the trial took 2 s to fail
    b.record_failure("timeout")
    assert _counters(b) == ("open", 4, 4, 2, 0, 1)
    clock.advance(29.5)
    assert not b.allow()
    clock.advance(0.5)  # 30 s after the trial failed
    assert b.allow()
    assert _counters(b) == ("half_open", 4, 4, 2, 1, 2)


def test_a_trial_that_never_reports_lapses_after_another_cooldown() -> None:
    clock = FakeClock()
    b = _breaker(clock, threshold=1, cooldown=10)
    b.record_failure("refused")
    clock.advance(10)
    assert b.allow()  # its thread dies without reporting
    clock.advance(9)
    assert not b.allow()
    clock.advance(1)
    assert b.allow()
    assert _counters(b) == ("half_open", 1, 1, 1, 1, 2)


def test_a_late_failure_while_open_is_counted_but_does_not_extend_the_cooldown() -> None:
    clock = FakeClock()
    b = _breaker(clock)
    for _ in range(3):
        b.record_failure("timeout")
    clock.advance(20)
    b.record_failure("timeout")  # a request that started before the breaker opened
    assert _counters(b) == ("open", 4, 4, 1, 0, 0)
    clock.advance(10)
    assert b.allow()


def test_opening_and_closing_are_logged_once_and_skips_not_at_all(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    b = _breaker(clock)
    with caplog.at_level(logging.DEBUG, logger="waxell_observe"):
        for _ in range(3):
            b.record_failure("ReadTimeout")
        for _ in range(100):
            b.allow()
        clock.advance(30)
        assert b.allow()
        b.record_failure("ReadTimeout")  # a failed trial: still open
        clock.advance(30)
        assert b.allow()
        b.record_success()
        b.record_success()
    logs = _breaker_logs(caplog)
    assert [level for level, _ in logs] == [logging.WARNING, logging.INFO, logging.INFO]
    assert "http://cp.test unreachable (3 consecutive policy checks failed, last: ReadTimeout)" in logs[0][1]
    assert "skipped until 2026-01-01T00:17:10Z (30 s)" in logs[0][1]
    assert "still unreachable" in logs[1][1]
    assert "circuit breaker closed" in logs[2][1]
    assert len(caplog.records) == 3


def test_exactly_one_trial_among_concurrent_callers() -> None:
    clock = FakeClock()
    b = _breaker(clock, threshold=1)
    b.record_failure("timeout")
    clock.advance(30)
    start = threading.Barrier(16)
    answers: list[bool] = []
    lock = threading.Lock()

    def call() -> None:
        start.wait(10)
        allowed = b.allow()
        with lock:
            answers.append(allowed)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(answers) == [False] * 15 + [True]
    assert (b.trials, b.skipped) == (1, 15)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError, match="cooldown"):
        CircuitBreaker(cooldown=0)


def test_environment_settings(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    read = breaker_module._env_setting
    monkeypatch.setenv("WAXELL_POLICY_BREAKER_FAILURES", "5")
    monkeypatch.setenv("WAXELL_POLICY_BREAKER_COOLDOWN", "2.5")
    assert read("WAXELL_POLICY_BREAKER_FAILURES", 3, integer=True) == 5
    assert read("WAXELL_POLICY_BREAKER_COOLDOWN", 30.0, integer=False) == 2.5
    for bad in ("0", "-1", "many", "1.5"):
        monkeypatch.setenv("WAXELL_POLICY_BREAKER_FAILURES", bad)
        with caplog.at_level(logging.WARNING, logger="waxell_observe"):
            assert read("WAXELL_POLICY_BREAKER_FAILURES", 3, integer=True) == 3
    assert len([r for r in caplog.records if "WAXELL_POLICY_BREAKER_FAILURES" in r.getMessage()]) == 4


def test_one_breaker_per_control_plane_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(breaker_module, "FAILURE_THRESHOLD", 7)
    monkeypatch.setattr(breaker_module, "COOLDOWN", 4.0)
    first = breaker_for("http://a.test", "k1")
    assert breaker_for("http://a.test", "k1") is first
    assert breaker_for("http://a.test", "k2") is not first
    assert breaker_for("http://b.test", "k1") is not first
    assert (first.name, first.failure_threshold, first.cooldown) == ("http://a.test", 7, 4.0)


def test_what_counts_as_unreachable() -> None:
    assert is_unreachable(ControlPlaneError("no answer within the timeout", retryable=True))
    assert is_unreachable(ControlPlaneError("HTTP 503", status=503, retryable=True))
    assert is_unreachable(ControlPlaneError("HTTP 429", status=429, retryable=True))
    assert is_unreachable(RuntimeError("anything else"))
    assert not is_unreachable(ControlPlaneError("HTTP 401", status=401))
    assert not is_unreachable(ControlPlaneError("bad reply", status=200, accepted=True))


# -- real runs against a hung control plane -------------------------------------------------------

POLICY_REQUEST = b"POST /api/v1/observe/policy-check/ HTTP/1.1\r\n"


class CountingHungServer(HungServer):
    """A :class:`HungServer` that also reads what each connection sends, to count the
    ``policy-check/`` requests among them (the delivery thread connects too, for ``runs/...``)."""

    def __init__(self) -> None:
        self._received: dict[int, bytes] = {}
        self._received_lock = threading.Lock()
        super().__init__()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        key = id(conn)
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            with self._received_lock:
                self._received[key] = self._received.get(key, b"") + chunk

    def policy_checks(self) -> int:
        with self._received_lock:
            return sum(data.count(POLICY_REQUEST) for data in self._received.values())

    def wait_for_policy_checks(self, count: int) -> int:
        """Wait (up to 10 s) until ``count`` policy checks arrived, then a moment for stragglers;
        returns the count then."""
        deadline = time.monotonic() + 10
        while self.policy_checks() < count and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        return self.policy_checks()


@pytest.fixture
def counting_hung() -> Iterator[CountingHungServer]:
    server = CountingHungServer()
    yield server
    server.close()


def _remote_breaker(url: str, **options: Any) -> tuple[CircuitBreaker, FakeClock]:
    """Configure remote mode against ``url``; give its breaker a fake clock."""
    WaxellObserveClient.configure(api_url=url, api_key="", policy_timeout=POLICY_TIMEOUT, **options)
    config = WaxellObserveClient.get_config()
    assert config is not None
    b = breaker_for(config.api_url, config.api_key)
    clock = FakeClock()
    b.clock = clock
    return b, clock


def test_a_hung_control_plane_costs_three_timeouts_then_runs_skip_the_network(
    counting_hung: CountingHungServer, engine: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    engine()
    b, clock = _remote_breaker(counting_hung.url)
    ran: list[int] = []
    waited: list[float] = []
    with caplog.at_level(logging.INFO, logger="waxell_observe"):
        for i in range(53):
            started = time.monotonic()
            with WaxellContext(agent_name="breaker-agent", enforce_policy=True) as ctx:
                ran.append(i)
                if i == 10:
                    assert ctx.check_policy_sync().action == "allow"  # mid-execution: skipped too
            waited.append(time.monotonic() - started)
            if i < 3:
                assert counting_hung.wait_for_policy_checks(i + 1) == i + 1
    assert ran == list(range(53))  # fail-open: every run ran
    assert min(waited[:3]) >= POLICY_TIMEOUT * 0.9  # each of the first three waited for the timeout
    assert counting_hung.wait_for_policy_checks(3) == 3  # the other 50 never touched the network
    assert _counters(b) == ("open", 3, 3, 1, 51, 0)
    opened = [m for level, m in _breaker_logs(caplog) if level == logging.WARNING]
    assert len(opened) == 1 and counting_hung.url in opened[0]
    # the first failure's fail-open warning, "failed again" twice, the opening: nothing per skipped run
    policy_logs = [r for r in caplog.records if "policy check" in r.getMessage()]
    assert len(policy_logs) == 4

    # After the cool-down, concurrent runs: exactly one trial request; it fails, the breaker reopens.
    clock.advance(30)
    start = threading.Barrier(8)
    results: list[str] = []

    def run() -> None:
        start.wait(10)
        with WaxellContext(agent_name="breaker-agent") as ctx:
            results.append(ctx.run_id)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 8
    assert counting_hung.wait_for_policy_checks(4) == 4
    assert _counters(b) == ("open", 4, 4, 2, 58, 1)


def test_fail_closed_blocks_with_the_breaker_reason_without_waiting(
    counting_hung: CountingHungServer, engine: Callable[..., Any]
) -> None:
    engine()
    b, _clock = _remote_breaker(counting_hung.url, policy_fail_closed=True)
    reasons: list[str] = []
    ran: list[int] = []
    for i in range(23):
        with pytest.raises(PolicyViolationError) as raised, WaxellContext(agent_name="closed-agent"):
            ran.append(i)
        reasons.append(raised.value.policy_result.reason)
        if i == 3:
            metadata = raised.value.policy_result.metadata
            assert metadata["fail_closed"] is True and metadata["breaker_open"] is True
            assert ISO_UTC.match(metadata["breaker_open_until"])
            assert f"circuit breaker is open until {metadata['breaker_open_until']}" in reasons[-1]
    assert ran == []
    assert all("no answer within the timeout" in r for r in reasons[:3])
    assert all(
        r.startswith(
            "control plane policy check skipped: the control plane at "
            + counting_hung.url
            + " was unreachable (3 consecutive policy checks failed); the circuit breaker is "
            "open until "
        )
        and r.endswith("WAXELL_POLICY_FAIL_CLOSED is set, so the run is blocked")
        for r in reasons[3:]
    )
    assert counting_hung.wait_for_policy_checks(3) == 3
    assert _counters(b) == ("open", 3, 3, 1, 20, 0)
    with WaxellContext(agent_name="closed-agent", enforce_policy=False) as ctx:
        mid = ctx.check_policy_sync()  # a mid-execution check is skipped and blocked the same way
    assert mid.blocked and "circuit breaker is open" in mid.reason
    assert counting_hung.wait_for_policy_checks(3) == 3 and b.skipped == 21


def test_a_successful_trial_closes_the_breaker_and_checks_resume(
    remote: ProtocolStub, engine: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    engine()
    b, clock = _remote_breaker(remote.url)
    remote.fail(503, path="policy-check/", times=3)
    with caplog.at_level(logging.INFO, logger="waxell_observe"):
        for _ in range(13):
            with WaxellContext(agent_name="recovering"):
                pass
        assert len(remote.requests("policy-check/")) == 3
        clock.advance(30)
        for _ in range(6):
            with WaxellContext(agent_name="recovering"):
                pass
    assert len(remote.requests("policy-check/")) == 3 + 1 + 5
    assert _counters(b) == ("closed", 0, 3, 1, 10, 1)
    assert [level for level, _ in _breaker_logs(caplog)] == [logging.WARNING, logging.INFO]


def test_final_http_answers_do_not_open_the_breaker(remote: ProtocolStub, engine: Callable[..., Any]) -> None:
    engine()
    b, _clock = _remote_breaker(remote.url)
    remote.fail(401, path="policy-check/")
    for _ in range(6):
        with WaxellContext(agent_name="unauthorized"):
            pass
    assert len(remote.requests("policy-check/")) == 6  # the control plane answers: nothing to skip
    assert _counters(b) == ("closed", 0, 0, 0, 0, 0)
