"""PolicyEngine mechanics: scope, priority, phases, merging, admissions, dry runs, failures."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from waxell_observe.governance import (
    InMemoryUsage,
    LLMCallInfo,
    PolicyEngine,
    PolicyRequest,
    ToolCallInfo,
    UsageSource,
    load_policies,
)
from waxell_observe.governance.usage import UsageScope

NOW = datetime(2025, 6, 4, 10, 30, tzinfo=timezone.utc).timestamp()  # a Wednesday


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def engine(yaml_text: str, usage: InMemoryUsage | None = None, clock: Clock | None = None) -> PolicyEngine:
    clock = clock or Clock()
    return PolicyEngine(
        load_policies(yaml_text), usage if usage is not None else InMemoryUsage(clock=clock), clock
    )


def names(result) -> list[str]:
    return [e.policy_name for e in result.evaluations]


def test_no_policies_allows():
    result = PolicyEngine([], InMemoryUsage()).evaluate(PolicyRequest(agent_name="a"), "pre_execution")
    assert result.to_dict() == {"action": "allow", "reason": "", "metadata": {}, "evaluations": []}
    assert result.allowed


def test_in_memory_usage_is_a_usage_source():
    assert isinstance(InMemoryUsage(), UsageSource)


def test_scope_globs():
    e = engine(
        """
policies:
  - {name: research, category: kill-switch, scope: {agents: ["research-*"]}, rules: {killed: true}}
  - {name: free, category: kill-switch, scope: {user_groups: [free, "trial-*"]}, rules: {killed: true}}
  - name: etl
    category: kill-switch
    scope: {agents: ["*"], workflows: [nightly-etl]}
    rules: {killed: true}
"""
    )

    def check(agent, workflow="", group=""):
        return names(e.evaluate(PolicyRequest(agent, workflow, group), "pre"))

    assert check("research-bot") == ["research"]
    assert check("chat-bot") == []
    assert check("chat-bot", group="free") == ["free"]
    assert check("chat-bot", group="trial-7") == ["free"]
    assert check("chat-bot", group="pro") == []
    assert check("research-bot", "nightly-etl", "free") == ["research", "free", "etl"]
    # globs are case-sensitive, like agent names
    assert check("Research-bot") == []
    assert [p.name for p in e.policies_for("research-bot", "nightly-etl", "")] == ["research", "etl"]


def test_priority_order_then_file_order_and_disabled_skipped():
    e = engine(
        """
policies:
  - {name: c, category: scheduling, priority: 100}
  - {name: a, category: scheduling, priority: 5}
  - {name: off, category: kill-switch, enabled: false, rules: {killed: true}}
  - {name: b, category: scheduling, priority: 100}
  - {name: first, category: scheduling, priority: -1}
"""
    )
    result = e.evaluate(PolicyRequest("x"), "pre")
    assert names(result) == ["first", "a", "c", "b"]
    assert result.action == "allow"
    assert [p.name for p in e.policies] == ["c", "a", "off", "b", "first"]


def test_each_evaluation_has_phase_and_duration():
    e = engine("policies: [{name: s, category: scheduling}, {name: k, category: kill-switch}]")
    result = e.evaluate(PolicyRequest("x"), "pre")
    assert [(ev.policy_name, ev.category, ev.action, ev.phase) for ev in result.evaluations] == [
        ("s", "scheduling", "allow", "pre_execution"),
        ("k", "kill-switch", "allow", "pre_execution"),
    ]
    assert all(ev.duration_ms >= 0 for ev in result.evaluations)


def test_categories_run_only_in_their_phases():
    e = engine(
        """
policies:
  - {name: budget, category: budget, rules: {daily_token_limit: 10, per_workflow_token_limit: 10}}
  - {name: rate, category: rate-limit, rules: {max_per_minute: 100}}
  - {name: llm, category: llm}
  - {name: content, category: content}
  - {name: safety, category: safety}
  - {name: kill, category: kill-switch}
  - {name: ctx, category: context-management}
  - {name: sched, category: scheduling}
  - {name: quality, category: quality}
"""
    )
    req = PolicyRequest("a", result={"answer": "ok"})
    assert names(e.evaluate(req, "pre")) == ["budget", "rate", "content", "kill", "sched"]
    assert names(e.evaluate(req, "mid")) == ["budget", "llm", "content", "safety", "ctx"]
    assert names(e.evaluate(req, "post_execution")) == ["budget", "content", "quality"]


def test_bad_phase():
    e = engine("policies: [{name: s, category: safety}]")
    with pytest.raises(ValueError, match="unknown phase or surface 'during'"):
        e.evaluate(PolicyRequest("a"), "during")


def test_strictest_wins_across_policies():
    e = engine(
        """
policies:
  - {name: pii, category: content, rules: {pii_detection: {action: warn}}}
  - {name: models, category: llm, rules: {allowed_models: [gpt-4o-mini]}}
  - {name: steps, category: safety, rules: {max_steps: 2}}
"""
    )
    req = PolicyRequest(
        "a",
        llm_calls=[LLMCallInfo("gpt-4o-mini", 10, 5)],
        step_count=3,
        input_texts=["mail me at a@b.co"],
    )
    result = e.evaluate(req, "mid")
    assert result.action == "block"
    assert result.reason == "Too many steps: 3 (max 2)"
    assert [(ev.policy_name, ev.action) for ev in result.evaluations] == [
        ("pii", "warn"),
        ("models", "allow"),
        ("steps", "block"),
    ]
    assert result.blocked


def test_final_metadata_carries_only_caller_instructions():
    e = engine(
        """
policies:
  - {name: budget, category: budget, rules: {daily_token_limit: 100}}
  - {name: pii, category: content, rules: {pii_detection: {action: redact}}}
"""
    )
    e.usage.record_usage(agent_name="a", tokens=90, at=NOW)  # type: ignore[union-attr]
    result = e.evaluate(PolicyRequest("a", inputs={"q": "123-45-6789"}), "pre")
    assert result.action == "redact"
    assert result.metadata == {"redacted_inputs": {"q": "##SSN##"}}
    assert result.evaluations[0].metadata == {"rule": "daily_token_limit", "used": 90, "limit": 100}


def test_refused_check_revokes_rate_admissions():
    usage = InMemoryUsage(clock=Clock())
    e = engine(
        """
policies:
  - {name: rate, category: rate-limit, priority: 1, rules: {max_per_minute: 1, max_concurrent: 1}}
  - {name: budget, category: budget, priority: 2, rules: {daily_token_limit: 100}}
""",
        usage,
    )
    usage.record_usage(agent_name="a", tokens=100, at=NOW)
    refused = e.evaluate(PolicyRequest("a", run_id="r1"), "pre")
    assert refused.action == "block"
    assert refused.evaluations[0].action == "allow"  # admitted, then revoked
    assert "admission_id" not in refused.metadata
    scope = UsageScope("rate")
    assert usage.runs_started_since(scope, NOW - 60) == 0
    assert usage.runs_in_flight(scope, NOW) == 0


def test_dry_run_records_nothing():
    usage = InMemoryUsage(clock=Clock())
    e = engine(
        "policies: [{name: rate, category: rate-limit, rules: {max_per_minute: 1, max_concurrent: 1}}]", usage
    )
    for _ in range(3):
        assert e.evaluate(PolicyRequest("a"), "pre", dry_run=True).action == "allow"
    assert usage.runs_started_since(UsageScope("rate"), 0) == 0
    assert e.evaluate(PolicyRequest("a", run_id="r1"), "pre").action == "allow"
    dry = e.evaluate(PolicyRequest("a"), "pre", dry_run=True)
    assert (dry.action, dry.reason) == ("throttle", "Rate limit exceeded: 1 run per minute")


def test_failing_policy_warns_instead_of_raising():
    class Broken(InMemoryUsage):
        def usage_since(self, *a, **k):
            raise RuntimeError("db down")

    e = engine("policies: [{name: budget, category: budget, rules: {daily_token_limit: 5}}]", Broken())
    result = e.evaluate(PolicyRequest("a"), "pre")
    assert (result.action, result.reason) == ("warn", "Policy evaluation failed: RuntimeError: db down")
    assert result.allowed


def test_no_usage_source_means_counters_allow():
    e = PolicyEngine(
        load_policies(
            "policies: [{name: b, category: budget, rules: {daily_token_limit: 1}}, "
            "{name: r, category: rate-limit, rules: {max_per_minute: 1}}, {name: k, category: kill-switch}]"
        )
    )
    assert e.evaluate(PolicyRequest("a"), "pre").action == "allow"
    assert e.evaluate(PolicyRequest("a"), "pre").action == "allow"


def test_request_from_wire_dict():
    req = PolicyRequest.from_dict(
        {
            "agent_name": "bot",
            "workflow_name": "wf",
            "user_group": "free",
            "inputs": {"q": 1},
            "signal": {"conversation_state": {"user_turns": 3}},
            "llm_calls": [{"model": "gpt-4o", "tokens_in": 3, "tokens_out": 4, "cost": 0.5}],
            "tool_calls": [{"name": "shell", "status": "error"}],
            "step_count": 2,
        }
    )
    assert (req.agent_name, req.workflow_name, req.user_group, req.inputs) == ("bot", "wf", "free", {"q": 1})
    assert req.conversation == {"user_turns": 3}
    assert req.llm_calls == (LLMCallInfo("gpt-4o", 3, 4, 0.5),)
    assert req.tool_calls == (ToolCallInfo("shell", "error"),)
    assert (req.total_tokens, req.total_cost, req.step_count) == (7, 0.5, 2)


def test_cache_does_not_leak_between_identities():
    e = engine("policies: [{name: k, category: kill-switch, scope: {agents: [a]}, rules: {killed: true}}]")
    for _ in range(3):
        assert e.evaluate(PolicyRequest("a"), "pre").action == "block"
        assert e.evaluate(PolicyRequest("b"), "pre").action == "allow"
        assert e.evaluate(PolicyRequest("a"), "pre_execution").action == "block"
