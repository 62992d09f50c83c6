"""rate-limit: sliding windows and concurrency slots, admitted atomically."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from waxell_observe.governance import InMemoryUsage, PolicyEngine, PolicyRequest, load_policies
from waxell_observe.governance.usage import RateWindow, UsageScope

NOW = datetime(2025, 6, 4, 10, 30, tzinfo=timezone.utc).timestamp()


class Clock:
    def __init__(self) -> None:
        self.t = NOW

    def __call__(self) -> float:
        return self.t


def setup(rules: str) -> tuple[PolicyEngine, InMemoryUsage, Clock]:
    clock = Clock()
    usage = InMemoryUsage(clock=clock)
    e = PolicyEngine(
        load_policies(f"policies: [{{name: rate, category: rate-limit, rules: {rules}}}]"), usage, clock
    )
    return e, usage, clock


def test_per_minute_window():
    e, _, clock = setup("{max_per_minute: 2}")
    assert e.evaluate(PolicyRequest("a", run_id="r1"), "pre").action == "allow"
    clock.t += 10
    assert e.evaluate(PolicyRequest("a", run_id="r2"), "pre").action == "allow"
    clock.t += 10
    r = e.evaluate(PolicyRequest("a", run_id="r3"), "pre")
    assert (r.action, r.reason) == ("throttle", "Rate limit exceeded: 2 runs per minute")
    assert r.metadata == {"retry_after_seconds": 40.0}  # the first admission leaves the window at NOW+60
    assert r.evaluations[0].metadata == {
        "rule": "max_per_minute",
        "limit": 2,
        "current": 2,
        "retry_after_seconds": 40.0,
    }
    assert r.blocked
    clock.t = NOW + 60  # exactly one minute after the first: it no longer counts
    assert e.evaluate(PolicyRequest("a", run_id="r4"), "pre").action == "allow"


def test_hour_and_day_windows_and_block_action():
    e, _, clock = setup("{max_per_hour: 3, max_per_day: 4, action: block}")
    for i in range(3):
        clock.t = NOW + i * 600
        assert e.evaluate(PolicyRequest("a"), "pre").action == "allow"
    r = e.evaluate(PolicyRequest("a"), "pre")
    assert (r.action, r.reason) == ("block", "Rate limit exceeded: 3 runs per hour")
    clock.t = NOW + 3600
    assert e.evaluate(PolicyRequest("a"), "pre").action == "allow"  # 4th of the day
    clock.t = NOW + 7200
    r = e.evaluate(PolicyRequest("a"), "pre")
    assert (r.action, r.reason) == ("block", "Rate limit exceeded: 4 runs per day")


def test_max_concurrent_and_release():
    e, usage, _ = setup("{max_concurrent: 2}")
    r1 = e.evaluate(PolicyRequest("a", run_id="r1"), "pre")
    assert (r1.action, r1.metadata) == ("allow", {"admission_id": "r1"})
    assert e.evaluate(PolicyRequest("a", run_id="r2"), "pre").action == "allow"
    r3 = e.evaluate(PolicyRequest("a", run_id="r3"), "pre")
    assert (r3.action, r3.reason) == ("throttle", "Concurrency limit reached: 2 of 2 runs in flight")
    assert usage.runs_in_flight(UsageScope("rate"), NOW) == 2
    e.release("r1")
    e.release("r1")  # idempotent
    assert e.evaluate(PolicyRequest("a", run_id="r3"), "pre").action == "allow"
    # a check without a run id gets a generated admission id to release with
    e.release("r2")
    anonymous = e.evaluate(PolicyRequest("a"), "pre")
    token = anonymous.metadata["admission_id"]
    assert isinstance(token, str) and len(token) == 32
    assert e.evaluate(PolicyRequest("a"), "pre").action == "throttle"
    e.release(token)
    assert e.evaluate(PolicyRequest("a"), "pre").action == "allow"


def test_run_end_in_usage_source_frees_slot():
    e, usage, _ = setup("{max_concurrent: 1}")
    assert e.evaluate(PolicyRequest("a", run_id="r1"), "pre").action == "allow"
    usage.record_outcome(agent_name="a", error=True, run_id="r1")  # ended with an error
    assert e.evaluate(PolicyRequest("a", run_id="r2"), "pre").action == "allow"


def test_stale_slots_expire():
    clock = Clock()
    usage = InMemoryUsage(clock=clock, slot_ttl_seconds=300)
    e = PolicyEngine(
        load_policies("policies: [{name: rate, category: rate-limit, rules: {max_concurrent: 1}}]"),
        usage,
        clock,
    )
    assert e.evaluate(PolicyRequest("a", run_id="crashed"), "pre").action == "allow"
    assert e.evaluate(PolicyRequest("a", run_id="r2"), "pre").action == "throttle"
    clock.t += 301
    assert e.evaluate(PolicyRequest("a", run_id="r2"), "pre").action == "allow"


def test_counters_are_per_policy():
    clock = Clock()
    usage = InMemoryUsage(clock=clock)
    e = PolicyEngine(
        load_policies(
            """
policies:
  - {name: research, category: rate-limit, scope: {agents: ["research-*"]}, rules: {max_per_minute: 1}}
  - {name: chat, category: rate-limit, scope: {agents: ["chat-*"]}, rules: {max_per_minute: 1}}
"""
        ),
        usage,
        clock,
    )
    assert e.evaluate(PolicyRequest("research-1"), "pre").action == "allow"
    assert e.evaluate(PolicyRequest("research-2"), "pre").action == "throttle"  # shared by the scope
    assert e.evaluate(PolicyRequest("chat-1"), "pre").action == "allow"


def test_admit_is_atomic_under_threads():
    usage = InMemoryUsage()
    scope = UsageScope("p")
    admitted = []

    def worker(i: int) -> None:
        a = usage.admit(scope, f"h{i}", NOW, [RateWindow("max_per_minute", 60, 1000)], 5)
        if a.admitted:
            admitted.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 5
    assert usage.runs_in_flight(scope, NOW) == 5
    assert usage.runs_started_since(scope, NOW - 60) == 5


def test_revoke_forgets_the_admission():
    usage = InMemoryUsage()
    scope = UsageScope("p")
    windows = [RateWindow("max_per_minute", 60, 1)]
    assert usage.admit(scope, "h1", NOW, windows, None).admitted
    refused = usage.admit(scope, "h2", NOW + 1, windows, None)
    assert refused == (False, "max_per_minute", 1, 1, 59.0)
    usage.release(scope, "h1", revoke=True)
    assert usage.admit(scope, "h2", NOW + 1, windows, None).admitted
