"""context-management: turns, messages, utilization and session length (mid-execution)."""

from __future__ import annotations

from waxell_observe.governance import PolicyEngine, PolicyRequest, load_policies

NOW = 1_750_000_000.0


def check(rules: str, conversation=None, started=None):
    e = PolicyEngine(
        load_policies(f"policies: [{{name: ctx, category: context-management, rules: {rules}}}]"),
        clock=lambda: NOW,
    )
    r = e.evaluate(PolicyRequest("a", conversation=conversation or {}, session_started_at=started), "mid")
    return r.action, r.reason


def test_turns_threshold_and_exceed():
    rules = "{max_conversation_turns: 10}"
    assert check(rules, {"user_turns": 7}) == ("allow", "")
    assert check(rules, {"user_turns": 8}) == ("warn", "Conversation turns at 80% of limit: 8 (max 10)")
    assert check(rules, {"user_turns": 10}) == ("warn", "Conversation turns at 100% of limit: 10 (max 10)")
    assert check(rules, {"user_turns": 11}) == ("warn", "Conversation turns exceeded: 11 (max 10)")
    assert check("{max_conversation_turns: 10, action_on_exceed: block}", {"user_turns": 11}) == (
        "block",
        "Conversation turns exceeded: 11 (max 10)",
    )


def test_utilization_and_messages():
    rules = (
        "{max_context_utilization_percent: 90, max_message_count: "
        "40, warning_threshold_percent: 50, action_on_exceed: block}"
    )
    assert check(rules, {"context_utilization_pct": 95.5, "message_count": 12}) == (
        "block",
        "Context utilization exceeded: 95.5% (max 90%)",
    )
    assert check(rules, {"context_utilization_pct": 10.0, "message_count": 20}) == (
        "warn",
        "Message count at 50% of limit: 20 (max 40)",
    )


def test_session_duration():
    rules = "{max_session_duration_minutes: 30}"
    assert check(rules, started=NOW - 20 * 60) == ("allow", "")
    assert check(rules, started=NOW - 45 * 60) == ("warn", "Session duration exceeded: 45 min (max 30 min)")
    assert check(rules) == ("allow", "")  # no session


def test_missing_or_bad_values_are_ignored():
    assert check("{max_conversation_turns: 1}", {"user_turns": "many"}) == ("allow", "")
    assert check("{max_conversation_turns: 1}", {}) == ("allow", "")
