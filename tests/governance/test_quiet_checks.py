"""Checks nobody would answer are skipped (``policy_gate.quiet``) — and only while that holds: a
policy stored by this process, by another process, or a policy plugin registered since, is asked at
the very next check it could answer."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from waxell_observe import WaxellContext, hookimpl, policy_gate
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError
from waxell_observe.governance import embedded_decider, load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.governance.results import PolicyCheckResult
from waxell_observe.plugins import plugin_manager
from waxell_observe.store import get_store

KILL = "policies:\n  - {name: stop, category: kill-switch, rules: {killed: true}}\n"


def _run(name: str = "quiet-agent") -> str:
    with WaxellContext(agent_name=name) as ctx:
        ctx.record_step("s")
    return ctx.run_id


def test_a_checked_run_with_no_policy_learns_quiet_and_keeps_its_allow_outcome(
    read_run: Callable[[str], dict[str, Any]],
) -> None:
    policy_gate.forget_quiet()
    assert not policy_gate.quiet(get_config())
    with WaxellContext(agent_name="quiet-agent") as first:
        pass
    assert policy_gate.quiet(get_config())  # learnt at the first check nobody answered
    with WaxellContext(agent_name="quiet-agent") as second:  # both checks skipped
        pass
    for ctx in (first, second):
        assert ctx.governance is not None
        assert (ctx.governance.action, ctx.governance.reason, ctx.governance.evaluations) == ("allow", "", [])
    for ctx in (first, second):  # stored alike: the outcome of a check nobody answered
        stored = read_run(ctx.run_id)
        assert (stored["status"], stored["governance"]) == (
            "success",
            {"action": "allow", "reason": "", "metadata": {}, "evaluations": []},
        )


def test_a_policy_stored_by_this_process_refuses_the_very_next_run() -> None:
    _run()
    assert policy_gate.quiet(get_config())
    add_policies(get_store(get_config().db_url), load_policies(KILL))
    assert not policy_gate.quiet(get_config())
    with pytest.raises(PolicyViolationError), WaxellContext(agent_name="quiet-agent"):
        pass


def test_a_policy_stored_by_another_process_is_noticed_when_the_promise_runs_out() -> None:
    _run()
    held = policy_gate._quiet
    assert held is not None and held[0] is get_config()
    script = (
        "from waxell_observe.config import get_config\n"
        "from waxell_observe.governance import load_policies\n"
        "from waxell_observe.governance.policy_store import add_policies\n"
        "from waxell_observe.store import get_store\n"
        f"add_policies(get_store(get_config().db_url), load_policies({KILL!r}))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    # The promise stands until the decider's next look at the store (as its own cache did; it may
    # have looked again since the promise was made, so its next look is the later of the two).
    decider = embedded_decider.decider_for(get_config().db_url)
    assert decider.quiet_until() >= held[1]
    while time.monotonic() < decider.quiet_until():
        time.sleep(decider.quiet_until() - time.monotonic() + 0.01)
    assert not policy_gate.quiet(get_config())
    with pytest.raises(PolicyViolationError), WaxellContext(agent_name="quiet-agent"):
        pass


class _Refuser:
    """A policy plugin with no promise: asked at every check."""

    def __init__(self, action: str) -> None:
        self.action = action
        self.asked: list[str] = []

    @hookimpl
    def on_policy_check(self, run: Any, phase: str, surface: str) -> PolicyCheckResult | None:
        self.asked.append(phase)
        return None if self.action == "none" else PolicyCheckResult(self.action, reason="plugin says no")


def test_a_policy_plugin_registered_after_quiet_is_asked_at_the_next_run() -> None:
    _run()
    assert policy_gate.quiet(get_config())
    plugin = _Refuser("block")
    plugin_manager().register(plugin, name="late-refuser")
    try:
        assert not policy_gate.quiet(get_config())
        with pytest.raises(PolicyViolationError, match="plugin says no"):
            _run()
        assert plugin.asked == ["pre_execution"]
    finally:
        plugin_manager().unregister(plugin)


def test_a_plugin_that_promises_nothing_is_asked_at_every_check() -> None:
    plugin = _Refuser("none")
    plugin_manager().register(plugin, name="silent-plugin")
    try:
        for _ in range(3):
            _run()
        assert plugin.asked == ["pre_execution", "post_execution"] * 3
        assert not policy_gate.quiet(get_config())
    finally:
        plugin_manager().unregister(plugin)


def test_async_runs_take_the_same_quiet_path_and_see_a_new_policy_at_once() -> None:
    import asyncio

    async def run_once() -> WaxellContext:
        async with WaxellContext(agent_name="quiet-async") as ctx:
            await asyncio.sleep(0)
        return ctx

    first = asyncio.run(run_once())
    assert policy_gate.quiet(get_config())
    second = asyncio.run(run_once())
    for ctx in (first, second):
        outcome = ctx.governance
        assert outcome is not None and (outcome.action, outcome.evaluations) == ("allow", [])
    add_policies(get_store(get_config().db_url), load_policies(KILL))
    with pytest.raises(PolicyViolationError):
        asyncio.run(run_once())
