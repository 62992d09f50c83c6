"""``quality``: post-execution checks on the run's result, answering ``retry`` with feedback.

The result's text is the result itself when it is a string, otherwise its string values joined with
newlines (numbers and booleans included). ``json_schema`` validates the result object (a string result
is parsed as JSON first). A failed check answers its ``action`` (``retry`` by default); a ``retry``
carries ``metadata.retry_feedback`` — ``retry_config.feedback_template`` filled with ``{failures}``
(one ``- message`` line per failed check), ``{message}`` (messages joined with ``"; "``), ``{retries}``
and ``{max_retries}`` — and ``metadata.max_retries``. Once the run has retried ``max_retries`` times,
a failure only warns. A failed check whose action is ``error`` (or ``block``) answers the policy's action
(``action`` / ``action_on_violation``, else block).

``contains`` / ``not_contains`` compare in any case unless ``case_sensitive``; a ``regex`` check with
``invert`` fails when the pattern is found. The reference's ``min_response_chars`` /
``max_response_chars`` warn (or answer ``action``). At ``llm.after`` the checks read the signal's
``text`` / ``output`` / ``response``; post-execution, those of a signal when given, else the run's result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from waxell_observe.vocabulary import POLICY_CATEGORY_PHASES

from ..json_schema import validate
from ..models import QualityPolicy, TemplateCheck
from ..request import PolicyRequest
from .base import ALLOW, EvalContext, Outcome, RuleEvaluator
from .gate import violation_action

__all__ = ["QualityEvaluator", "result_text"]


def result_text(result: Any) -> str:
    """The text quality checks look at."""
    if isinstance(result, str):
        return result
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, Mapping):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif value is not None:
            parts.append(json.dumps(value) if isinstance(value, bool) else str(value))

    walk(result)
    return "\n".join(parts)


def _signal_result(signal: Mapping[str, Any]) -> Any:
    for key in ("text", "output", "response", "result"):
        value = signal.get(key)
        if value is not None:
            return value
    return None


class _Defaults(dict[str, Any]):
    """Leaves unknown ``{placeholders}`` of a feedback template as they are."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class _Check:
    __slots__ = ("action", "folded", "invert", "max", "message", "min", "regex", "schema", "type", "value")

    def __init__(self, spec: TemplateCheck) -> None:
        self.type = spec.type
        self.value = spec.value or ""
        pattern = spec.pattern if spec.pattern is not None else spec.value
        self.regex = re.compile(pattern) if spec.type == "regex" and pattern is not None else None
        self.min = spec.min
        self.max = spec.max
        self.schema = spec.schema_
        self.action = spec.action
        self.message = spec.message
        self.invert = spec.invert
        self.folded = "" if spec.case_sensitive else self.value.lower()

    def failure(self, result: Any, text: str) -> str | None:
        """None when the check passes, else the message to report."""
        problem: str | None = None
        if self.type in ("contains", "not_contains"):
            found = self.folded in text.lower() if self.folded else self.value in text
            if self.type == "contains" and not found:
                problem = f"response must contain {self.value!r}"
            elif self.type == "not_contains" and found:
                problem = f"response must not contain {self.value!r}"
        elif self.type == "regex":
            assert self.regex is not None
            matched = self.regex.search(text) is not None
            if self.invert and matched:
                problem = f"response must not match /{self.regex.pattern}/"
            elif not self.invert and not matched:
                problem = f"response must match /{self.regex.pattern}/"
        elif self.type == "length":
            problem = self._length_problem(len(text))
        elif self.type == "json_schema":
            problem = self._schema_problem(result)
        if problem is None:
            return None
        return self.message or problem

    def _length_problem(self, n: int) -> str | None:
        if self.min is not None and n < self.min:
            return f"response is too short: {n} characters (min {self.min})"
        if self.max is not None and n > self.max:
            return f"response is too long: {n} characters (max {self.max})"
        return None

    def _schema_problem(self, result: Any) -> str | None:
        assert self.schema is not None
        data = result
        if isinstance(result, str):
            try:
                data = json.loads(result)
            except ValueError:
                return "response is not valid JSON"
        errors = validate(data, self.schema)
        if errors:
            return "response does not match the schema: " + "; ".join(errors)
        return None


class QualityEvaluator(RuleEvaluator):
    category = "quality"
    phases = POLICY_CATEGORY_PHASES["quality"]

    def __init__(self, policy: QualityPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.checks = [_Check(c) for c in r.template_checks]
        self.max_retries = r.retry_config.max_retries
        self.template = r.retry_config.feedback_template
        self.error_action = violation_action(r, "block")
        self.length_action = violation_action(r, "warn")
        self.min_chars = r.min_response_chars
        self.max_chars = r.max_response_chars

    def evaluate(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        if not self.checks and self.min_chars is None and self.max_chars is None:
            return ALLOW
        result = _signal_result(request.signal) if request.signal else None
        if result is None:
            result = request.result if phase == "post_execution" else None
        if result is None:
            return Outcome("skip", "No result to check") if phase == "post_execution" else ALLOW
        text = result_text(result)
        failures: list[tuple[str, str]] = []
        for check in self.checks:
            message = check.failure(result, text)
            if message is not None:
                failures.append((check.action, message))
        if self.min_chars is not None and len(text) < self.min_chars:
            failures.append(
                ("length", f"response is too short: {len(text)} characters (min {self.min_chars})")
            )
        if self.max_chars is not None and len(text) > self.max_chars:
            failures.append(
                ("length", f"response is too long: {len(text)} characters (max {self.max_chars})")
            )
        if not failures:
            return ALLOW
        messages = [m for _, m in failures]
        reason = "Quality check failed: " + "; ".join(messages)
        metadata: dict[str, Any] = {"failures": messages}
        if any(action in ("error", "block") for action, _ in failures):
            return Outcome(self.error_action, reason, metadata)
        if any(action == "length" for action, _ in failures) and self.length_action != "warn":
            return Outcome(self.length_action, reason, metadata)
        if not any(action == "retry" for action, _ in failures):
            return Outcome("warn", reason, metadata)
        if request.retries >= self.max_retries:
            metadata["retries"] = request.retries
            return Outcome(
                "warn", f"{reason} (retries exhausted: {request.retries} of {self.max_retries})", metadata
            )
        metadata["retry_feedback"] = self._feedback(messages, request.retries)
        metadata["max_retries"] = self.max_retries
        return Outcome("retry", reason, metadata)

    def _feedback(self, messages: list[str], retries: int) -> str:
        values = _Defaults(
            failures="\n".join(f"- {m}" for m in messages),
            message="; ".join(messages),
            retries=retries,
            max_retries=self.max_retries,
        )
        try:
            return self.template.format_map(values)
        except (ValueError, IndexError, KeyError, AttributeError):
            return f"{self.template}\n" + str(values["failures"])
