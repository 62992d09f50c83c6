"""quality: post-execution template checks, retry feedback and the JSON-schema subset."""

from __future__ import annotations

import pytest

from waxell_observe.governance import PolicyEngine, PolicyRequest, load_policies
from waxell_observe.governance.json_schema import validate


def run(rules: str, result, retries: int = 0):
    e = PolicyEngine(load_policies(f"policies: [{{name: answers, category: quality, rules: {rules}}}]"))
    return e.evaluate(PolicyRequest("a", result=result, retries=retries), "post_execution")


def test_contains_fails_with_retry_feedback():
    rules = """{template_checks: [{type: contains, value: "Sources:", message: "cite your sources"}],
                retry_config: {max_retries: 2, feedback_template: "Please fix: {message}"}}"""
    r = run(rules, {"answer": "Paris."})
    assert (r.action, r.reason) == ("retry", "Quality check failed: cite your sources")
    assert r.metadata == {"retry_feedback": "Please fix: cite your sources", "max_retries": 2}
    assert r.to_governance_dict()["retry_feedback"] == "Please fix: cite your sources"
    assert not r.allowed and not r.blocked
    assert run(rules, {"answer": "Paris. Sources: atlas"}).action == "allow"


def test_default_template_and_messages():
    rules = """{template_checks: [{type: contains, value: "Sources:"}, {type: length, max: 5}]}"""
    r = run(rules, "a long answer")
    assert (
        r.reason
        == "Quality check failed: response must contain 'Sources:'; response is too long: 13 characters (max "
        "5)"
    )
    assert r.metadata == {
        "retry_feedback": "The response did not pass the quality checks:\n"
        "- response must contain 'Sources:'\n- response is "
        "too long: 13 characters (max 5)\nPlease revise it.",
        "max_retries": 3,
    }


@pytest.mark.parametrize(
    ("check", "result", "failure"),
    [
        (
            '{type: not_contains, value: "As an AI"}',
            "As an AI model, no",
            "response must not contain 'As an AI'",
        ),
        ("{type: regex, pattern: '^\\d+$'}", "12a", "response must match /^\\d+$/"),
        ("{type: regex, value: 'ok'}", "nope", "response must match /ok/"),
        ("{type: length, min: 5}", "abc", "response is too short: 3 characters (min 5)"),
        (
            "{type: json_schema, schema: {type: object, required: [answer]}}",
            {"reply": "x"},
            "response does not match the schema: $: missing required property 'answer'",
        ),
        ("{type: json_schema, schema: {type: object}}", "not json", "response is not valid JSON"),
    ],
)
def test_each_check_type_fails(check, result, failure):
    r = run(f"{{template_checks: [{check}]}}", result)
    assert r.action == "retry"
    assert r.reason == f"Quality check failed: {failure}"


@pytest.mark.parametrize(
    ("check", "result"),
    [
        ('{type: not_contains, value: "As an AI"}', "fine"),
        ("{type: regex, pattern: '^\\d+$'}", "123"),
        ("{type: length, min: 1, max: 3}", "abc"),
        ("{type: json_schema, schema: {type: object, required: [answer]}}", {"answer": "x"}),
        ("{type: json_schema, schema: {type: object, required: [answer]}}", '{"answer": "x"}'),
    ],
)
def test_each_check_type_passes(check, result):
    assert run(f"{{template_checks: [{check}]}}", result).action == "allow"


def test_text_of_structured_results():
    assert (
        run('{template_checks: [{type: contains, value: "42"}]}', {"n": 42, "items": ["a"]}).action == "allow"
    )


def test_warn_only_checks_and_exhausted_retries():
    r = run("{template_checks: [{type: contains, value: x, action: warn}]}", "y")
    assert (r.action, r.reason, r.metadata) == ("warn", "Quality check failed: response must contain 'x'", {})
    r = run("{template_checks: [{type: contains, value: x}], retry_config: {max_retries: 2}}", "y", retries=2)
    assert (r.action, r.reason) == (
        "warn",
        "Quality check failed: response must contain 'x' (retries exhausted: 2 of 2)",
    )
    assert r.metadata == {}


def test_no_result_skips_and_template_with_unknown_placeholder():
    assert run("{template_checks: [{type: contains, value: x}]}", None).action == "skip"
    r = run(
        '{template_checks: [{type: contains, value: x}], retry_config: {feedback_template: "{oops} '
        '{retries}/{max_retries}"}}',
        "y",
    )
    assert r.metadata["retry_feedback"] == "{oops} 0/3"


def test_json_schema_subset():
    schema = {
        "type": "object",
        "required": ["answer", "confidence"],
        "properties": {
            "answer": {"type": "string"},
            "confidence": {"type": "number"},
            "tone": {"enum": ["formal", "casual"]},
            "sources": {"type": "array", "items": {"type": "string"}},
            "count": {"type": "integer"},
            "maybe": {"type": ["string", "null"]},
        },
    }
    assert (
        validate(
            {"answer": "x", "confidence": 1, "tone": "formal", "sources": ["a"], "count": 2, "maybe": None},
            schema,
        )
        == []
    )
    assert validate({"answer": 3, "tone": "rude", "sources": ["a", 1], "count": True}, schema) == [
        "$: missing required property 'confidence'",
        "$.answer: expected string, got integer",
        "$.tone: 'rude' is not one of ['formal', 'casual']",
        "$.sources[1]: expected string, got integer",
        "$.count: expected integer, got boolean",
    ]
    assert validate([], {"type": "object"}) == ["$: expected object, got array"]
    assert validate(True, {"type": "number"}) == ["$: expected number, got boolean"]
