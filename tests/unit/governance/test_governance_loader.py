"""Policy files: parsing, defaults, round trip, and the exact error messages."""

from __future__ import annotations

import json
from datetime import date

import pytest

from waxell_observe.governance.loader import PolicyFileError, load_policies, parse_policies
from waxell_observe.governance.models import (
    CATEGORIES,
    BudgetPolicy,
    ContentPolicy,
    KillSwitchPolicy,
    Policy,
    QualityPolicy,
    SafetyPolicy,
    SchedulingPolicy,
)

FULL = """
policies:
  - name: daily-budget
    category: budget
    scope:
      agents: ["research-*"]
      workflows: ["*"]
      user_groups: ["free"]
    priority: 10
    enabled: true
    rules: {daily_token_limit: 100000, warning_threshold_percent: 80, action_on_exceed: block,
            model_limits: {gpt-4o: {daily_cost_limit: 5}}}
  - {name: rate, category: rate-limit, rules: {max_per_minute: 10, max_concurrent: 2}}
  - {name: models, category: llm, rules: {allowed_models: [gpt-4o-mini], blocked_models: [gpt-4]}}
  - {name: pii, category: content, rules: {pii_detection: {enabled: true, action: redact}}}
  - {name: safety, category: safety}
  - {name: breaker, category: kill-switch, rules: {}}
  - {name: ctx, category: context-management, rules: {max_conversation_turns: 20}}
  - name: hours
    category: scheduling
    rules: {allowed_hours: {start: 9, end: 17}, allowed_days: [0, 1, 2, 3, 4], timezone: Europe/Paris,
            blackout_dates: [2025-12-25, "2026-01-01"]}
  - name: answers
    category: quality
    rules:
      template_checks:
        - {type: contains, value: "Sources:", action: retry, message: "cite sources"}
        - {type: json_schema, schema: {type: object, required: [answer]}}
      retry_config: {max_retries: 2, feedback_template: "Fix: {failures}"}
  - {name: tools, category: tool-allowlist, rules: {allowed_tools: [Search, "read_*"], blocked_tools: [rm]}}
  - {name: hosts, category: net, rules: {allowed_domains: [example.com], allowed_protocols: [https]}}
  - name: domains
    category: domain
    rules: {blocked_domains: ["*.evil.test", finance], max_calls_per_run: 3}
  - {name: mcp, category: mcp-server-allowlist, rules: {allowed_servers: [github]}}
  - {name: prompts, category: prompt-allowlist, rules: {blocked_prompts: ["draft-*"]}}
  - {name: reach, category: scope, rules: {denied_tools: [wire], max_amount: 500, max_records_deleted: 10}}
  - {name: depth, category: recursion-bound, rules: {max_depth: 5, max_tool_calls: 40}}
  - {name: spawn, category: delegation, rules: {max_concurrent_delegates: 2, require_approval: true}}
  - name: egress
    category: output-egress-format
    rules: {block_urls: true, allowed_url_domains: [docs.test]}
  - {name: size, category: input-validation, rules: {max_input_size_kb: 16}}
  - {name: chunks, category: rag, rules: {min_relevance_score: 0.4, max_chunks: 8}}
  - {name: mem, category: memory, rules: {forbidden_memory_types: [semantic], block_pii_in_memory: true}}
  - name: args
    category: tool-argument-schema
    rules: {schemas: {Transfer: {type: object, required: [to], additionalProperties: false,
                                 properties: {to: {type: string}, amount: {type: number, maximum: 100}}}}}
  - {name: sa, category: agent-service-account-scope, rules: {required_scopes: [billing.write]}}
  - name: hours-of-day
    category: time-of-day-gating
    rules: {allowed_windows: [{days: [mon, tue, Friday], start: "08:30", end: "18:00"}], timezone: Asia/Tokyo}
  - {name: billing, category: chargeback-attribution, rules: {valid_values: {cost_center: [cc-1, cc-2]}}}
  - name: ops
    category: operations
    rules:
      timeout_seconds: 30
      maintenance_windows: [{start: "2025-06-01T00:00:00Z", end: "2025-06-01T02:00:00"}]
  - {name: region, category: data-residency, rules: {allowed_regions: [EU, US]}}
  - {name: code, category: code-execution, rules: {allowed_languages: [python], blocked_commands: ["rm -rf"]}}
  - {name: sources, category: provenance-required, rules: {min_citations: 1}}
  - {name: injection, category: prompt-injection-guard, rules: {max_payload_kb: 8}}
  - {name: approval, category: approval, rules: {approvers: [cfo], timeout_minutes: 30}}
"""


def _one(yaml_text: str) -> Policy:
    return load_policies(yaml_text)[0]


def _error(text: str) -> str:
    with pytest.raises(PolicyFileError) as info:
        load_policies(text)
    return str(info.value)


def test_every_category_loads_with_its_class():
    policies = load_policies(FULL)
    assert [p.category for p in policies] == list(CATEGORIES)
    assert [type(p).__name__ for p in policies] == [
        "BudgetPolicy",
        "RateLimitPolicy",
        "LlmPolicy",
        "ContentPolicy",
        "SafetyPolicy",
        "KillSwitchPolicy",
        "ContextManagementPolicy",
        "SchedulingPolicy",
        "QualityPolicy",
        "ToolAllowlistPolicy",
        "NetworkPolicy",
        "DomainGovernancePolicy",
        "McpServerAllowlistPolicy",
        "PromptAllowlistPolicy",
        "ScopePolicy",
        "RecursionBoundPolicy",
        "DelegationPolicy",
        "OutputEgressFormatPolicy",
        "InputValidationPolicy",
        "RetrievalPolicy",
        "MemoryPolicy",
        "ToolArgumentSchemaPolicy",
        "AgentServiceAccountScopePolicy",
        "TimeOfDayGatingPolicy",
        "ChargebackAttributionPolicy",
        "OperationsPolicy",
        "DataResidencyPolicy",
        "CodeExecutionPolicy",
        "ProvenanceRequiredPolicy",
        "PromptInjectionGuardPolicy",
        "ApprovalPolicy",
    ]
    budget = policies[0]
    assert isinstance(budget, BudgetPolicy)
    assert budget.priority == 10
    assert budget.scope.agents == ["research-*"]
    assert budget.scope.user_groups == ["free"]
    assert budget.rules.model_limits["gpt-4o"].daily_cost_limit == 5.0
    sched = policies[7]
    assert isinstance(sched, SchedulingPolicy)
    assert sched.rules.blackout_dates == [date(2025, 12, 25), date(2026, 1, 1)]


def test_spec_defaults():
    budget = _one("policies: [{name: b, category: budget}]")
    assert isinstance(budget, BudgetPolicy)
    assert (budget.priority, budget.enabled) == (100, True)
    assert budget.scope.model_dump() == {"agents": ["*"], "workflows": ["*"], "user_groups": ["*"]}
    assert budget.rules.warning_threshold_percent == 80
    assert budget.rules.action_on_exceed == "block"

    rate = _one("policies: [{name: r, category: rate-limit}]")
    assert rate.rules.action == "throttle"  # type: ignore[attr-defined]

    llm = _one("policies: [{name: l, category: llm}]")
    assert llm.rules.model_dump() == {  # type: ignore[attr-defined]
        "allowed_models": [],
        "blocked_models": [],
        "max_tokens_per_call": None,
        "action_on_violation": "block",
        "action_on_token_violation": "warn",
        "action": None,
    }

    content = _one("policies: [{name: c, category: content}]")
    assert isinstance(content, ContentPolicy)
    r = content.rules
    assert (r.scan_inputs, r.scan_outputs) == (True, True)
    assert r.pii_detection.model_dump() == {
        "enabled": True,
        "action": "warn",
        "types": ["ssn", "email", "phone", "credit_card"],
    }
    assert r.credential_detection.model_dump() == {"enabled": True, "action": "block"}
    assert r.prompt_injection_guard.model_dump() == {"enabled": True, "action": "block"}

    safety = _one("policies: [{name: s, category: safety}]")
    assert isinstance(safety, SafetyPolicy)
    assert safety.rules.model_dump() == {
        "action": None,
        "action_on_violation": None,
        "scope_tools": [],
        "exclude_tools": [],
        "scope_models": [],
        "exclude_models": [],
        "max_steps": 50,
        "max_tool_calls": 100,
        "blocked_tools": [],
        "max_retries": 3,
        "max_output_length": None,
        "content_filters": [],
        "blocked_patterns": [],
    }

    kill = _one("policies: [{name: k, category: kill-switch}]")
    assert isinstance(kill, KillSwitchPolicy)
    assert kill.rules.model_dump() == {
        "enabled": True,
        "killed": False,
        "kill_on_error_rate": 0.5,
        "error_window_minutes": 5.0,
        "min_samples": 10,
        "auto_recover_after_minutes": 30.0,
    }

    ctx = _one("policies: [{name: x, category: context-management}]")
    assert ctx.rules.warning_threshold_percent == 80  # type: ignore[attr-defined]
    assert ctx.rules.action_on_exceed == "warn"  # type: ignore[attr-defined]

    sched = _one("policies: [{name: s, category: scheduling}]")
    assert sched.rules.timezone == "UTC"  # type: ignore[attr-defined]

    quality = _one(
        "policies: [{name: q, category: quality, rules: {template_checks: [{type: contains, value: x}]}}]"
    )
    assert isinstance(quality, QualityPolicy)
    assert quality.rules.template_checks[0].action == "retry"
    assert quality.rules.retry_config.max_retries == 3


def test_scope_shorthands():
    star = _one('policies: [{name: a, category: safety, scope: "*"}]')
    assert star.scope.agents == ["*"]
    single = _one("policies: [{name: a, category: safety, scope: {agents: bot, user_groups: null}}]")
    assert single.scope.agents == ["bot"]
    assert single.scope.user_groups == ["*"]


def test_content_toggle_shorthand_and_empty_rules():
    c = _one("policies: [{name: c, category: content, rules: {pii_detection: false}}]")
    assert c.rules.pii_detection.enabled is False  # type: ignore[attr-defined]
    empty = _one("policies:\n  - name: c\n    category: content\n    rules:\n")
    assert empty.rules.scan_inputs is True  # type: ignore[attr-defined]


def test_json_and_round_trip(tmp_path):
    policies = load_policies(FULL)
    as_json = json.dumps({"policies": [p.to_dict() for p in policies]})
    assert load_policies(as_json) == policies
    path = tmp_path / "p.json"
    path.write_text(as_json)
    assert load_policies(path) == policies
    assert load_policies(str(path)) == policies
    yaml_path = tmp_path / "p.yaml"
    yaml_path.write_text(FULL)
    assert load_policies(yaml_path) == policies
    # a bare list and a single policy mapping are accepted too
    assert load_policies(json.dumps([policies[0].to_dict()])) == policies[:1]
    assert load_policies(json.dumps(policies[0].to_dict())) == policies[:1]
    assert load_policies("policies: []") == []
    assert load_policies("") == []


def test_to_dict_is_plain_json():
    sched = load_policies(FULL)[7]
    assert sched.to_dict() == {
        "name": "hours",
        "category": "scheduling",
        "scope": {"agents": ["*"], "workflows": ["*"], "user_groups": ["*"]},
        "priority": 100,
        "enabled": True,
        "rules": {
            "allowed_hours": {"start": 9, "end": 17},
            "allowed_days": [0, 1, 2, 3, 4],
            "timezone": "Europe/Paris",
            "blackout_dates": ["2025-12-25", "2026-01-01"],
            "maintenance_windows": [],
            "action": None,
            "action_on_violation": None,
        },
    }
    assert load_policies(FULL)[8].to_dict()["rules"]["template_checks"][1]["schema"] == {
        "type": "object",
        "required": ["answer"],
    }


def test_policy_from_dict():
    p = Policy.from_dict({"name": "s", "category": "safety", "rules": {"max_steps": 5}})
    assert isinstance(p, SafetyPolicy) and p.rules.max_steps == 5
    with pytest.raises(PolicyFileError, match="unknown category"):
        Policy.from_dict({"name": "s", "category": "nope"})


# --------------------------------------------------------------------------- errors


def test_unknown_category():
    assert _error("policies: [{name: a, category: buget}]") == (
        "invalid policy file: policy 'a': field 'category': unknown category 'buget' (expected one of: "
        "budget, rate-limit, llm, content, safety, kill-switch, context-management, scheduling, quality, "
        "tool-allowlist, network, domain-governance, mcp-server-allowlist, prompt-allowlist, scope, "
        "recursion-bound, delegation, output-egress-format, input-validation, retrieval, memory, "
        "tool-argument-schema, agent-service-account-scope, time-of-day-gating, chargeback-attribution, "
        "operations, data-residency, code-execution, provenance-required, prompt-injection-guard, approval; "
        "or an alias: net (network), domain (domain-governance), rag (retrieval))"
    )


def test_missing_category_and_name():
    assert _error("policies: [{name: a}]") == "invalid policy file: policy 'a': field 'category': required"
    assert _error("policies: [{category: safety}]") == (
        "invalid policy file: policy #1 (unnamed): field 'name': required"
    )


def test_unknown_rule():
    assert _error("policies: [{name: b, category: budget, rules: {daily_tokens: 5}}]") == (
        "invalid policy file: policy 'b': field 'rules.daily_tokens': unknown rule for category 'budget' "
        "(known rules: daily_token_limit, daily_cost_limit, per_workflow_token_limit, "
        "per_workflow_cost_limit, model_limits, warning_threshold_percent, action_on_exceed)"
    )


def test_unknown_nested_and_top_level_fields():
    assert _error("policies: [{name: c, category: content, rules: {pii_detection: {level: 3}}}]") == (
        "invalid policy file: policy 'c': field 'rules.pii_detection.level': unknown field"
    )
    assert _error("policies: [{name: c, category: safety, owner: me}]") == (
        "invalid policy file: policy 'c': field 'owner': unknown field"
    )


def test_wrong_types():
    assert _error("policies: [{name: b, category: budget, rules: {daily_token_limit: lots}}]") == (
        "invalid policy file: policy 'b': field 'rules.daily_token_limit': "
        "Input should be a valid integer, unable to parse string as an integer (got 'lots')"
    )
    assert _error("policies: [{name: b, category: budget, rules: {daily_token_limit: true}}]") == (
        "invalid policy file: policy 'b': field 'rules.daily_token_limit': expected a number, got true"
    )
    assert _error("policies: [{name: b, category: budget, rules: {action_on_exceed: explode}}]") == (
        "invalid policy file: policy 'b': field 'rules.action_on_exceed': "
        "Input should be 'block', 'warn' or 'throttle' (got 'explode')"
    )
    assert _error("policies: [{name: b, category: safety, priority: high}]") == (
        "invalid policy file: policy 'b': field 'priority': "
        "Input should be a valid integer, unable to parse string as an integer (got 'high')"
    )


def test_invalid_regex():
    msg = _error(
        "policies: [{name: c, category: content, rules: {custom_patterns: [{name: x, regex: '([a-z'}]}}]"
    )
    assert msg == (
        "invalid policy file: policy 'c': field 'rules.custom_patterns.0.regex': "
        "invalid regex '([a-z': unterminated character set at position 1"
    )
    msg = _error(
        "policies: [{name: q, category: quality, rules: {template_checks: [{type: regex, pattern: '('}]}}]"
    )
    assert msg == (
        "invalid policy file: policy 'q': field 'rules.template_checks.0': "
        "invalid regex '(': missing ), unterminated subpattern at position 0"
    )


def test_unknown_timezone():
    assert _error("policies: [{name: s, category: scheduling, rules: {timezone: Mars/Olympus}}]") == (
        "invalid policy file: policy 's': field 'rules.timezone': "
        "unknown timezone 'Mars/Olympus' (expected an IANA name such as 'Europe/Paris')"
    )


@pytest.mark.parametrize(
    ("hours", "problem"),
    [
        ("{start: 9, end: 9}", "field 'rules.allowed_hours': start and end are both 9: the window is empty"),
        (
            "{start: 24, end: 5}",
            "field 'rules.allowed_hours.start': Input should be less than or equal to 23 (got 24)",
        ),
        (
            "{start: 1, end: 25}",
            "field 'rules.allowed_hours.end': Input should be less than or equal to 24 (got 25)",
        ),
        ("{start: 1}", "field 'rules.allowed_hours.end': required"),
    ],
)
def test_bad_hours(hours, problem):
    assert _error(f"policies: [{{name: s, category: scheduling, rules: {{allowed_hours: {hours}}}}}]") == (
        f"invalid policy file: policy 's': {problem}"
    )


def test_bad_days_and_dates():
    assert "field 'rules.allowed_days.0': Input should be less than or equal to 6 (got 7)" in _error(
        "policies: [{name: s, category: scheduling, rules: {allowed_days: [7]}}]"
    )
    assert "policy 's': field 'rules.blackout_dates.0'" in _error(
        "policies: [{name: s, category: scheduling, rules: {blackout_dates: ['2025-13-01']}}]"
    )


def test_quality_check_needs_its_fields():
    assert _error("policies: [{name: q, category: quality, rules: {template_checks: [{type: length}]}}]") == (
        "invalid policy file: policy 'q': field "
        "'rules.template_checks.0': a length check needs 'min' and/or 'max'"
    )
    assert "a contains check needs 'value'" in _error(
        "policies: [{name: q, category: quality, rules: {template_checks: [{type: contains}]}}]"
    )


def test_all_or_nothing_lists_every_problem():
    text = """
policies:
  - {name: good, category: safety}
  - {name: bad1, category: budget, rules: {daily_token_limit: -1}}
  - {name: bad2, category: llm, rules: {allowed: [x]}}
"""
    with pytest.raises(PolicyFileError) as info:
        load_policies(text)
    err = info.value
    assert err.problems == [
        "policy 'bad1': field 'rules.daily_token_limit': Input should be greater than or equal to 0 (got -1)",
        (
            "policy 'bad2': field 'rules.allowed': unknown rule "
            "for category 'llm' (known rules: allowed_models, "
            "blocked_models, max_tokens_per_call, action_on_violation, action_on_token_violation, action)"
        ),
    ]
    assert str(err).startswith("invalid policy file: 2 problems:\n  - policy 'bad1'")


def test_duplicate_names():
    assert _error("policies: [{name: a, category: safety}, {name: a, category: llm}]") == (
        "invalid policy file: policy 'a': field 'name': duplicate policy name (also policy #1)"
    )


def test_file_level_errors(tmp_path):
    assert _error("policies: {name: a}") == "invalid policy file: 'policies' must be a list, got dict"
    assert _error("policies: [1]") == "invalid policy file: policy #1 (unnamed): expected a mapping, got int"
    assert _error("rules: []") == "invalid policy file: expected a mapping with a 'policies' list"
    assert _error("policies: [\n  - a").startswith("invalid policy file: invalid YAML:")
    assert _error('{"policies": [}').startswith("invalid policy file: invalid JSON:")
    bad = tmp_path / "bad.yaml"
    bad.write_text("policies: [{name: a, category: nope}]")
    with pytest.raises(PolicyFileError) as info:
        load_policies(bad)
    assert str(info.value).startswith(f"invalid policy file in {bad}: policy 'a'")


def test_parse_policies_direct():
    assert [p.name for p in parse_policies([{"name": "x", "category": "safety"}])] == ["x"]


def test_yaml_12_booleans_keep_words_as_strings():
    p = _one("policies: [{name: off, category: safety, scope: {user_groups: [no, yes]}, enabled: true}]")
    assert (p.name, p.scope.user_groups, p.enabled) == ("off", ["no", "yes"], True)
