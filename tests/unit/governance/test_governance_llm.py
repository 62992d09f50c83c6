"""llm: allowed/blocked models with the spec's matching rule, and the run's token allowance."""

from __future__ import annotations

import pytest

from waxell_observe.governance import LLMCallInfo, PolicyEngine, PolicyRequest, load_policies
from waxell_observe.governance.matching import model_matches


def check(rules: str, *models: str, tokens: int = 10):
    e = PolicyEngine(load_policies(f"policies: [{{name: models, category: llm, rules: {rules}}}]"))
    calls = [LLMCallInfo(m, tokens, 0) for m in models]
    r = e.evaluate(PolicyRequest("a", llm_calls=calls), "mid_execution")
    return r.action, r.reason


@pytest.mark.parametrize(
    ("model", "pattern", "expected"),
    [
        ("gpt-4o-mini", "gpt-4o-mini", True),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", True),
        ("llama3:8b", "llama3", True),
        ("GPT-4o-Mini", "gpt-4o-mini", True),
        ("gpt-4o", "gpt-4", False),
        ("gpt-4o-miniature", "gpt-4o-mini", False),
        ("gpt-4o", "gpt-4o-mini", False),
        ("claude-3-5-sonnet-20241022", "claude-*", True),
    ],
)
def test_model_matches(model, pattern, expected):
    assert model_matches(model, pattern) is expected


def test_allowed_models():
    rules = "{allowed_models: [gpt-4o-mini, claude-3-5-haiku]}"
    assert check(rules, "gpt-4o-mini-2024-07-18", "claude-3-5-haiku-20241022") == ("allow", "")
    assert check(rules, "gpt-4o-mini", "gpt-4o") == (
        "block",
        "Model 'gpt-4o' is not allowed (allowed: gpt-4o-mini, claude-3-5-haiku)",
    )


def test_blocked_models_checked_first():
    rules = "{allowed_models: [gpt-4], blocked_models: [gpt-4-turbo]}"
    assert check(rules, "gpt-4-0613") == ("allow", "")
    assert check(rules, "gpt-4-turbo-2024-04-09") == (
        "block",
        "Model 'gpt-4-turbo-2024-04-09' is blocked (matches 'gpt-4-turbo')",
    )
    assert check(rules, "gpt-4o") == ("block", "Model 'gpt-4o' is not allowed (allowed: gpt-4)")


def test_empty_allowed_means_any_and_action_override():
    assert check("{blocked_models: [o1]}", "anything-at-all") == ("allow", "")
    assert check("{blocked_models: [o1], action_on_violation: warn}", "o1-preview") == (
        "warn",
        "Model 'o1-preview' is blocked (matches 'o1')",
    )


def test_several_violations_join():
    assert check("{allowed_models: [x]}", "a", "b", "a") == (
        "block",
        "Model 'a' is not allowed (allowed: x); Model 'b' is not allowed (allowed: x)",
    )


def test_max_tokens_is_cumulative_per_run():
    assert check("{max_tokens_per_call: 1000}", "m", "m", tokens=500) == ("allow", "")
    assert check("{max_tokens_per_call: 1000}", "m", "m", "m", tokens=400) == (
        "warn",
        "Token limit exceeded: 1,200 tokens used in this run (max_tokens_per_call 1,000)",
    )
    assert (
        check("{max_tokens_per_call: 1000, action_on_token_violation: block}", "m", tokens=1001)[0] == "block"
    )


def test_no_calls_and_not_pre():
    assert check("{allowed_models: [x]}") == ("allow", "")
    e = PolicyEngine(load_policies("policies: [{name: models, category: llm, rules: {allowed_models: [x]}}]"))
    assert e.evaluate(PolicyRequest("a", llm_calls=[LLMCallInfo("y")]), "pre").evaluations == []
