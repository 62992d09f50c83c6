"""kill-switch: manual switch and the error-rate breaker with auto-recovery."""

from __future__ import annotations

from datetime import datetime, timezone

from waxell_observe.governance import InMemoryUsage, PolicyEngine, PolicyRequest, load_policies
from waxell_observe.governance.usage import BreakerState, UsageScope

NOW = datetime(2025, 6, 4, 10, 30, tzinfo=timezone.utc).timestamp()


class Clock:
    def __init__(self) -> None:
        self.t = NOW

    def __call__(self) -> float:
        return self.t


def setup(rules: str = "{}"):
    clock = Clock()
    usage = InMemoryUsage(clock=clock)
    e = PolicyEngine(
        load_policies(f"policies: [{{name: kill, category: kill-switch, rules: {rules}}}]"), usage, clock
    )
    return e, usage, clock


def outcomes(usage: InMemoryUsage, errors: int, ok: int, at: float) -> None:
    for i in range(errors + ok):
        usage.record_outcome(agent_name="a", error=i < errors, at=at)


def pre(e: PolicyEngine, **kw):
    r = e.evaluate(PolicyRequest("a"), "pre", **kw)
    return r.action, r.reason


def test_manual_switch_and_disabled():
    assert pre(setup("{killed: true}")[0]) == ("block", "Kill switch engaged for policy 'kill'")
    assert pre(setup("{enabled: false, killed: true}")[0]) == ("skip", "Kill switch disabled")


def test_min_samples():
    e, usage, _ = setup()
    outcomes(usage, errors=9, ok=0, at=NOW - 10)
    assert pre(e) == ("allow", "")


def test_below_rate_allows():
    e, usage, _ = setup()
    outcomes(usage, errors=4, ok=6, at=NOW - 10)
    assert pre(e) == ("allow", "")


def test_trips_at_rate_and_stays_open_then_recovers():
    e, usage, clock = setup()
    outcomes(usage, errors=5, ok=5, at=NOW - 10)
    r = e.evaluate(PolicyRequest("a"), "pre")
    assert (r.action, r.reason) == ("block", "Circuit breaker tripped: error rate 50% (5 of 10 runs)")
    assert r.metadata == {"retry_after_seconds": 1800.0}
    assert usage.get_breaker(UsageScope("kill")) == BreakerState(tripped_at=NOW, error_rate=0.5, samples=10)
    # successes afterwards do not close it
    outcomes(usage, errors=0, ok=50, at=NOW + 60)
    clock.t = NOW + 600
    r = e.evaluate(PolicyRequest("a"), "pre")
    assert (r.action, r.reason) == (
        "block",
        "Circuit breaker open: error rate 50% over 10 runs; auto-recovers in 20 min",
    )
    assert r.metadata == {"retry_after_seconds": 1200.0}
    clock.t = NOW + 1800
    assert pre(e) == ("allow", "")
    assert usage.get_breaker(UsageScope("kill")) == BreakerState(recovered_at=NOW + 1800)


def test_outcomes_before_recovery_are_forgotten():
    e, usage, clock = setup("{auto_recover_after_minutes: 1, error_window_minutes: 10}")
    outcomes(usage, errors=10, ok=0, at=NOW - 5)
    assert pre(e)[0] == "block"
    clock.t = NOW + 61
    assert pre(e) == ("allow", "")  # the 10 errors are still in the window, but precede recovery
    outcomes(usage, errors=10, ok=0, at=NOW + 62)
    clock.t = NOW + 63
    assert pre(e)[0] == "block"


def test_window_excludes_old_outcomes():
    e, usage, _ = setup("{error_window_minutes: 5}")
    outcomes(usage, errors=10, ok=0, at=NOW - 301)
    assert pre(e) == ("allow", "")


def test_no_auto_recovery_and_manual_reset():
    e, usage, clock = setup("{auto_recover_after_minutes: 0, kill_on_error_rate: 0.2, min_samples: 5}")
    outcomes(usage, errors=1, ok=4, at=NOW)
    assert pre(e)[0] == "block"
    clock.t = NOW + 10 * 86400
    assert pre(e) == ("block", "Circuit breaker open: error rate 20% over 5 runs")
    assert e.reset_breaker("kill") is True
    assert e.reset_breaker("missing") is False
    assert pre(e) == ("allow", "")


def test_dry_run_does_not_trip():
    e, usage, _ = setup()
    outcomes(usage, errors=10, ok=0, at=NOW)
    assert pre(e, dry_run=True)[0] == "block"
    assert usage.get_breaker(UsageScope("kill")) is None


def test_scope_of_outcomes():
    clock = Clock()
    usage = InMemoryUsage(clock=clock)
    e = PolicyEngine(
        load_policies("policies: [{name: kill, category: kill-switch, scope: {agents: [a]}}]"), usage, clock
    )
    for _ in range(10):
        usage.record_outcome(agent_name="b", error=True, at=NOW)
    assert pre(e) == ("allow", "")


def test_breaker_state_dict_round_trip():
    state = BreakerState(tripped_at=1.0, recovered_at=None, error_rate=0.5, samples=10)
    assert BreakerState.from_dict(state.to_dict()) == state
    assert state.open and not BreakerState().open
