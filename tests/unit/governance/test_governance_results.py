"""PolicyCheckResult / PolicyEvaluation wire shapes and strictest-wins merging."""

from __future__ import annotations

import pytest

from waxell_observe.governance.results import (
    ACTION_SEVERITY,
    ACTIONS,
    PolicyCheckResult,
    PolicyEvaluation,
    merge_metadata,
    strictest,
)


def test_severity_order():
    assert ACTIONS == ("allow", "skip", "warn", "redact", "retry", "throttle", "block")
    assert [ACTION_SEVERITY[a] for a in ACTIONS] == [0, 1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    ("action", "allowed", "blocked"),
    [
        ("allow", True, False),
        ("warn", True, False),
        ("redact", True, False),
        ("skip", True, False),
        ("retry", False, False),
        ("throttle", False, True),
        ("block", False, True),
    ],
)
def test_allowed_and_blocked(action, allowed, blocked):
    result = PolicyCheckResult(action)
    assert result.allowed is allowed
    assert result.blocked is blocked


def test_defaults_are_not_shared():
    a, b = PolicyCheckResult(), PolicyCheckResult()
    a.metadata["x"] = 1
    a.evaluations.append(PolicyEvaluation("p"))
    assert b.metadata == {} and b.evaluations == []


def test_slots_no_dict():
    with pytest.raises(AttributeError):
        PolicyCheckResult().other = 1  # type: ignore[attr-defined]


def test_to_dict_wire_shape():
    result = PolicyCheckResult(
        "warn",
        "Daily token budget at 90%",
        {"retry_after_seconds": 5},
        [
            PolicyEvaluation(
                "daily",
                "budget",
                "warn",
                "Daily token budget at 90%",
                0.123456,
                {"used": 900},
                "pre_execution",
            )
        ],
    )
    assert result.to_dict() == {
        "action": "warn",
        "reason": "Daily token budget at 90%",
        "metadata": {"retry_after_seconds": 5},
        "evaluations": [
            {
                "policy_name": "daily",
                "category": "budget",
                "action": "warn",
                "reason": "Daily token budget at 90%",
                "duration_ms": 0.1235,
                "metadata": {"used": 900},
                "phase": "pre_execution",
            }
        ],
    }


def test_from_dict_round_trip_and_sparse():
    original = PolicyCheckResult(
        "block",
        "no",
        {"k": 1},
        [PolicyEvaluation("p", "llm", "block", "no", 1.5, {"m": "x"}, "mid_execution")],
    )
    assert PolicyCheckResult.from_dict(original.to_dict()) == original
    sparse = PolicyCheckResult.from_dict({"action": "allow"})
    assert (sparse.action, sparse.reason, sparse.metadata, sparse.evaluations) == ("allow", "", {}, [])
    assert PolicyCheckResult.from_dict({}).action == "allow"
    # evaluations from other servers lack phase
    ev = PolicyCheckResult.from_dict({"action": "warn", "evaluations": [{"policy_name": "a"}]}).evaluations[0]
    assert (ev.policy_name, ev.category, ev.action, ev.duration_ms, ev.phase) == ("a", "", "allow", 0.0, "")


def test_from_governance_reply_keeps_retry_fields():
    reply = {
        "action": "retry",
        "reason": "Quality check failed",
        "retry_feedback": "add sources",
        "max_retries": 2,
    }
    result = PolicyCheckResult.from_dict(reply)
    assert result.metadata == {"retry_feedback": "add sources", "max_retries": 2}
    assert result.retry_feedback == "add sources"
    assert result.to_governance_dict() == {
        "action": "retry",
        "reason": "Quality check failed",
        "evaluations": [],
        "retry_feedback": "add sources",
        "max_retries": 2,
    }


def test_strictest_empty_is_allow():
    assert strictest([]).to_dict() == {"action": "allow", "reason": "", "metadata": {}, "evaluations": []}


def test_strictest_wins_with_its_reason_and_concatenates_evaluations():
    e1 = PolicyEvaluation("a", action="warn")
    e2 = PolicyEvaluation("b", action="block")
    e3 = PolicyEvaluation("c", action="redact")
    merged = strictest(
        [
            PolicyCheckResult("warn", "close to budget", {"note": 1}, [e1]),
            PolicyCheckResult("block", "model not allowed", {"note": 2}, [e2]),
            PolicyCheckResult("redact", "PII detected: ssn", {"redacted_inputs": {"q": "##SSN##"}}, [e3]),
        ]
    )
    assert merged.action == "block"
    assert merged.reason == "model not allowed"
    assert merged.evaluations == [e1, e2, e3]
    assert merged.metadata == {"note": 1, "redacted_inputs": {"q": "##SSN##"}}


def test_strictest_ties_take_first_non_empty_reason():
    merged = strictest([PolicyCheckResult("throttle", ""), PolicyCheckResult("throttle", "rate")])
    assert (merged.action, merged.reason) == ("throttle", "rate")


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        (["allow", "skip"], "skip"),
        (["skip", "warn"], "warn"),
        (["warn", "redact"], "redact"),
        (["redact", "retry"], "retry"),
        (["retry", "throttle"], "throttle"),
        (["throttle", "block", "allow"], "block"),
    ],
)
def test_strictest_order(actions, expected):
    assert strictest(PolicyCheckResult(a) for a in actions).action == expected


def test_strictest_preserves_caller_instructions():
    merged = strictest(
        [
            PolicyCheckResult("throttle", "rate", {"retry_after_seconds": 10}),
            PolicyCheckResult("throttle", "budget", {"retry_after_seconds": 30.5}),
            PolicyCheckResult("retry", "q1", {"retry_feedback": "cite sources", "max_retries": 3}),
            PolicyCheckResult("retry", "q2", {"retry_feedback": "be shorter", "max_retries": 2}),
            PolicyCheckResult("retry", "q3", {"retry_feedback": "cite sources"}),
            PolicyCheckResult("redact", "a", {"redacted_inputs": {"q": "##SSN## x@y.z"}}),
            PolicyCheckResult("redact", "b", {"redacted_inputs": {"q": "##SSN## ##EMAIL##"}}),
        ]
    )
    assert merged.metadata == {
        "retry_after_seconds": 30.5,
        "retry_feedback": "cite sources\nbe shorter",
        "max_retries": 2,
        "redacted_inputs": {"q": "##SSN## ##EMAIL##"},
    }


def test_merge_metadata_only_filter():
    assert merge_metadata(
        [("warn", {"used": 1, "retry_after_seconds": 2})], only=frozenset({"retry_after_seconds"})
    ) == {"retry_after_seconds": 2}


def test_unknown_action_ranks_as_warn():
    merged = strictest([PolicyCheckResult("escalate", "x"), PolicyCheckResult("allow")])
    assert merged.action == "escalate"
    assert strictest([PolicyCheckResult("escalate"), PolicyCheckResult("redact", "r")]).action == "redact"
