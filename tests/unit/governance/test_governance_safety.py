"""safety: steps, tool calls, retries and blocked tools (mid-execution, block)."""

from __future__ import annotations

from waxell_observe.governance import PolicyEngine, PolicyRequest, ToolCallInfo, load_policies


def check(rules: str, **state):
    e = PolicyEngine(load_policies(f"policies: [{{name: safety, category: safety, rules: {rules}}}]"))
    r = e.evaluate(PolicyRequest("a", **state), "mid")
    return r.action, r.reason


def tools(*names: str) -> list[ToolCallInfo]:
    return [ToolCallInfo(n) for n in names]


def test_defaults():
    assert check("{}", step_count=50, tool_calls=tools(*["t"] * 100), retries=3) == ("allow", "")
    assert check("{}", step_count=51) == ("block", "Too many steps: 51 (max 50)")
    assert check("{}", tool_calls=tools(*["t"] * 101)) == ("block", "Too many tool calls: 101 (max 100)")
    assert check("{}", retries=4) == ("block", "Too many retries: 4 (max 3)")


def test_blocked_tools_exact_and_glob():
    rules = '{blocked_tools: [shell, "db_*"]}'
    assert check(rules, tool_calls=tools("search", "calc")) == ("allow", "")
    assert check(rules, tool_calls=tools("search", "shell", "db_drop", "shell")) == (
        "block",
        "Blocked tool used: shell, db_drop",
    )


def test_custom_limits_and_several_violations():
    assert check("{max_steps: 3, max_retries: 0}", step_count=4, retries=1) == (
        "block",
        "Too many steps: 4 (max 3); Too many retries: 1 (max 0)",
    )
    assert check("{max_steps: null}", step_count=10_000) == ("allow", "")
