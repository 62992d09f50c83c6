"""budget: daily totals pre-execution, run totals mid-execution, warn-only post-execution."""

from __future__ import annotations

from datetime import datetime, timezone

from waxell_observe.governance import InMemoryUsage, LLMCallInfo, PolicyEngine, PolicyRequest, load_policies

NOW = datetime(2025, 6, 4, 10, 30, tzinfo=timezone.utc).timestamp()
MIDNIGHT = datetime(2025, 6, 4, tzinfo=timezone.utc).timestamp()


def setup(rules: str, scope: str = "{}") -> tuple[PolicyEngine, InMemoryUsage]:
    usage = InMemoryUsage(clock=lambda: NOW)
    policies = load_policies(
        f"policies: [{{name: budget, category: budget, scope: {scope}, rules: {rules}}}]"
    )
    return PolicyEngine(policies, usage, clock=lambda: NOW), usage


def pre(e: PolicyEngine, agent: str = "agent", group: str = ""):
    r = e.evaluate(PolicyRequest(agent, user_group=group), "pre_execution")
    return r.action, r.reason


def test_daily_tokens_allow_warn_block():
    e, usage = setup("{daily_token_limit: 1000}")
    assert pre(e) == ("allow", "")
    usage.record_usage(agent_name="agent", tokens=799, at=NOW - 60)
    assert pre(e) == ("allow", "")
    usage.record_usage(agent_name="agent", tokens=1, at=NOW - 60)
    assert pre(e) == ("warn", "Daily token budget at 80%: 800 of 1,000 tokens used")
    usage.record_usage(agent_name="agent", tokens=200, at=NOW - 60)
    assert pre(e) == ("block", "Daily token budget exceeded: 1,000 of 1,000 tokens used")
    result = e.evaluate(PolicyRequest("agent"), "pre")
    assert result.evaluations[0].metadata == {"rule": "daily_token_limit", "used": 1000, "limit": 1000}
    assert result.blocked


def test_only_today_utc_counts():
    e, usage = setup("{daily_token_limit: 1000}")
    usage.record_usage(agent_name="agent", tokens=5000, at=MIDNIGHT - 1)
    assert pre(e) == ("allow", "")
    usage.record_usage(agent_name="agent", tokens=1000, at=MIDNIGHT)
    assert pre(e)[0] == "block"


def test_scope_limits_what_counts():
    e, usage = setup("{daily_token_limit: 1000}", '{agents: ["research-*"]}')
    usage.record_usage(agent_name="chat", tokens=5000, at=NOW)
    assert pre(e, "research-1") == ("allow", "")
    usage.record_usage(agent_name="research-2", tokens=1000, at=NOW)
    # the budget is shared by every agent in scope
    assert pre(e, "research-1")[0] == "block"
    assert pre(e, "chat") == ("allow", "")  # not in scope: not evaluated
    assert e.evaluate(PolicyRequest("chat"), "pre").evaluations == []


def test_daily_cost_and_custom_threshold():
    e, usage = setup("{daily_cost_limit: 5, warning_threshold_percent: 50}")
    usage.record_usage(agent_name="agent", cost=2.4, at=NOW)
    assert pre(e) == ("allow", "")
    usage.record_usage(agent_name="agent", cost=0.1, at=NOW)
    assert pre(e) == ("warn", "Daily cost budget at 50%: $2.50 of $5.00 used")
    usage.record_usage(agent_name="agent", cost=3.0, at=NOW)
    assert pre(e) == ("block", "Daily cost budget exceeded: $5.50 of $5.00 used")


def test_model_limits_use_the_model_matching_rule():
    e, usage = setup("{model_limits: {gpt-4o: {daily_cost_limit: 1}}}")
    usage.record_usage(agent_name="agent", cost=10, model="claude-3-5-sonnet", at=NOW)
    assert pre(e) == ("allow", "")
    usage.record_usage(agent_name="agent", cost=0.6, model="gpt-4o-2024-08-06", at=NOW)
    usage.record_usage(agent_name="agent", cost=0.5, model="gpt-4", at=NOW)  # does not match gpt-4o
    assert pre(e) == ("allow", "")
    usage.record_usage(agent_name="agent", cost=0.4, model="gpt-4o", at=NOW)
    assert pre(e) == ("block", "Daily cost budget for gpt-4o exceeded: $1.00 of $1.00 used")


def test_throttle_waits_until_utc_midnight():
    e, usage = setup("{daily_token_limit: 10, action_on_exceed: throttle}")
    usage.record_usage(agent_name="agent", tokens=10, at=NOW)
    result = e.evaluate(PolicyRequest("agent"), "pre")
    assert result.action == "throttle"
    assert result.metadata == {"retry_after_seconds": 13.5 * 3600}


def test_warn_on_exceed():
    e, usage = setup("{daily_token_limit: 10, action_on_exceed: warn}")
    usage.record_usage(agent_name="agent", tokens=11, at=NOW)
    assert pre(e) == ("warn", "Daily token budget exceeded: 11 of 10 tokens used")


def test_mid_run_totals():
    e, _ = setup("{per_workflow_token_limit: 1000, per_workflow_cost_limit: 0.5}")
    assert pre(e) == ("allow", "")  # nothing to check before the run
    calls = [LLMCallInfo("gpt-4o", 300, 100, 0.1), LLMCallInfo("gpt-4o", 350, 50, 0.1)]
    r = e.evaluate(PolicyRequest("agent", llm_calls=calls), "mid_execution")
    assert (r.action, r.reason) == ("warn", "Run token budget at 80%: 800 of 1,000 tokens used")
    calls.append(LLMCallInfo("gpt-4o", 400, 0, 0.31))
    r = e.evaluate(PolicyRequest("agent", llm_calls=calls), "mid_execution")
    assert (r.action, r.reason) == (
        "block",
        "Run token budget exceeded: 1,200 of 1,000 tokens used; "
        "Run cost budget exceeded: $0.51 of $0.50 used",
    )


def test_mid_daily_includes_the_run_without_double_counting():
    e, usage = setup("{daily_token_limit: 1000}")
    usage.record_usage(agent_name="agent", tokens=500, run_id="other", at=NOW)
    usage.record_usage(agent_name="agent", tokens=300, run_id="me", at=NOW)  # already flushed by this run
    calls = [LLMCallInfo("m", 300, 0), LLMCallInfo("m", 200, 0)]
    r = e.evaluate(PolicyRequest("agent", run_id="me", llm_calls=calls), "mid")
    assert (r.action, r.reason) == ("block", "Daily token budget exceeded: 1,000 of 1,000 tokens used")


def test_post_execution_only_warns():
    e, usage = setup("{daily_token_limit: 100, per_workflow_token_limit: 50}")
    usage.record_usage(agent_name="agent", tokens=100, run_id="me", at=NOW)
    r = e.evaluate(
        PolicyRequest("agent", run_id="me", llm_calls=[LLMCallInfo("m", 100, 0)], result={"a": 1}), "post"
    )
    assert (r.action, r.reason) == (
        "warn",
        "Run token budget exceeded: 100 of 50 tokens used; "
        "Daily token budget exceeded: 100 of 100 tokens used",
    )
    assert r.allowed
