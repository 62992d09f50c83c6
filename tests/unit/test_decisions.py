"""``waxell_observe.decisions`` (reference §6.4): one decision at a gate surface, asked by hand, with a
real policy in the test's embedded store; what it does to the run is read back from the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.decisions import (
    UnifiedDecisionResult,
    WaxellPolicyDenied,
    evaluate_decision,
    is_unified_decisions_enabled,
)
from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating import GateOutcome, forget
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store

NO_RM = "policies:\n  - {name: no-rm, category: tool-allowlist, rules: {blocked_tools: [rm_rf]}}\n"


@pytest.fixture(autouse=True)
def _fresh_gates(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (
        "WAXELL_SURFACE_GATE",
        "WAXELL_GATE_FAIL_CLOSED",
        "WAXELL_AGENT_NAME",
        "WAXELL_UNIFIED_DECISIONS",
    ):
        monkeypatch.delenv(name, raising=False)
    forget()
    yield
    forget()


def add(text: str) -> None:
    add_policies(get_store(get_config().db_url), load_policies(text))


def test_the_result_is_the_gates_own_answer() -> None:
    assert UnifiedDecisionResult is GateOutcome


def test_a_decision_answers_the_strictest_action_and_every_refusal(
    read_run: Callable[[str], dict[str, Any]],
) -> None:
    add(NO_RM)
    with WaxellContext(agent_name="decisions-agent") as ctx:
        allowed = evaluate_decision("tool.before", {"tool_name": "ls", "tool_args": {}})
        refused = evaluate_decision("tool.before", {"tool_name": "rm_rf", "tool_args": {}})
    assert (allowed.action, allowed.surface, allowed.decisions) == ("allow", "tool.before", [])
    assert (refused.action, refused.reason, refused.is_block) == ("block", "Tool 'rm_rf' is blocked", True)
    assert refused.decisions == [
        {
            "category": "tool-allowlist",
            "policy": "no-rm",
            "action": "block",
            "reason": "Tool 'rm_rf' is blocked",
        }
    ]
    run = read_run(ctx.run_id)
    assert run["status"] == "success"  # answered, not enforced: the caller decides
    assert [(s["name"], s["attributes"]["action"]) for s in run["spans"] if s["kind"] == "policy"] == [
        ("no-rm", "block")
    ]


def test_raise_on_deny_marks_the_run_blocked_and_names_the_refusal(
    read_run: Callable[[str], dict[str, Any]],
) -> None:
    add(NO_RM)
    with pytest.raises(WaxellPolicyDenied) as denied, WaxellContext(agent_name="decisions-deny") as ctx:
        evaluate_decision("tool.before", {"tool_name": "rm_rf", "tool_args": {}}, raise_on_deny=True)
    error = denied.value
    assert isinstance(error, PolicyViolationError)
    assert (str(error), error.reason, error.category, error.policy, error.surface) == (
        "Tool 'rm_rf' is blocked",
        "Tool 'rm_rf' is blocked",
        "tool-allowlist",
        "no-rm",
        "tool.before",
    )
    assert (error.run_id, error.agent_name) == (ctx.run_id, "decisions-deny")
    assert error.policy_result is not None and error.policy_result.action == "block"
    run = read_run(ctx.run_id)
    assert (run["status"], run["error"]) == ("blocked", "Tool 'rm_rf' is blocked")


def test_without_any_policy_the_answer_is_allow() -> None:
    with WaxellContext(agent_name="decisions-none") as _ctx:
        outcome = evaluate_decision("llm.before", {"model": "m", "text": "hello"}, raise_on_deny=True)
    assert (outcome.action, outcome.reason, outcome.decisions) == ("allow", "", [])


def test_bad_questions_are_named() -> None:
    with pytest.raises(ValueError, match="unknown gate surface 'tool.sideways'"):
        evaluate_decision("tool.sideways", {})
    with pytest.raises(ValueError, match="a gate signal must be a mapping, got list"):
        evaluate_decision("tool.before", ["rm_rf"])  # type: ignore[arg-type]


def test_the_denial_on_its_own() -> None:
    assert str(WaxellPolicyDenied()) == "Denied by governance policy"
    assert str(WaxellPolicyDenied(policy="p1", surface="mcp.before")) == "Denied by policy 'p1' at mcp.before"
    error = WaxellPolicyDenied("too costly", category="cost", policy="cap", surface="llm.before")
    assert (error.reason, error.category, error.policy, error.surface, error.policy_result) == (
        "too costly",
        "cost",
        "cap",
        "llm.before",
        None,
    )


@pytest.mark.parametrize(
    ("value", "enabled"),
    [("", False), ("0", False), ("off", False), ("1", True), (" TRUE ", True), ("on", True)],
)
def test_unified_decisions_are_opt_in(monkeypatch: pytest.MonkeyPatch, value: str, enabled: bool) -> None:
    monkeypatch.setenv("WAXELL_UNIFIED_DECISIONS", value)
    assert is_unified_decisions_enabled() is enabled
