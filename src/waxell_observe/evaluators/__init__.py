"""Built-in evaluators for :func:`waxell_observe.evaluate` and the pytest marker.

Each function returns an evaluator: a callable with a ``name`` that answers one
:class:`~waxell_observe.Score` (``passed`` set). Checks of the output:

* :func:`exact_match` — the output equals ``expected`` (strings compared stripped; optionally
  ignoring case); :func:`contains` — the output contains text; :func:`regex` — it matches a pattern;
* :func:`json_valid` — the output is JSON (or a dict/list); :func:`json_schema` — it satisfies a
  JSON Schema (with ``jsonschema`` when installed, else a built-in subset);
* :func:`numeric_close` — a number within a tolerance of ``expected``;

checks of what the task did (its :class:`~waxell_observe.evaluation.RunTrace`):

* :func:`cost_at_most`, :func:`latency_at_most`, :func:`tokens_at_most` — ceilings;
* :func:`tool_called` — a tool was called (a number of times, with arguments);

and :class:`LLMJudge` (:mod:`waxell_observe.evaluators.judge`), a model grading with a rubric.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from waxell_observe.evaluation.scores import Score
from waxell_observe.evaluation.trace import RunTrace
from waxell_observe.evaluators.judge import LLMJudge, llm_judge

__all__ = [
    "Evaluator",
    "exact_match",
    "contains",
    "regex",
    "json_valid",
    "json_schema",
    "numeric_close",
    "cost_at_most",
    "latency_at_most",
    "tokens_at_most",
    "tool_called",
    "LLMJudge",
    "llm_judge",
]


class Evaluator:
    """Base of the built-in evaluators: a ``name`` and ``__call__`` taking evaluator arguments."""

    name: str = "evaluator"

    def __repr__(self) -> str:
        return f"<evaluator {self.name}>"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and "output" in value and len(value) == 1:
        return _text(value["output"])
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str) if value is not None else ""


def _pick(value: Any, field: str | None) -> Any:
    if field is None:
        return value
    if isinstance(value, Mapping):
        return value.get(field)
    return getattr(value, field, None)


class _ExactMatch(Evaluator):
    def __init__(self, name: str, field: str | None, ignore_case: bool) -> None:
        self.name, self.field, self.ignore_case = name, field, ignore_case

    def __call__(self, output: Any, expected: Any) -> Score:
        got, want = _pick(output, self.field), _pick(expected, self.field)
        if isinstance(got, str) and isinstance(want, str):
            a, b = got.strip(), want.strip()
            if self.ignore_case:
                a, b = a.casefold(), b.casefold()
            same = a == b
        else:
            same = got == want
        return Score(self.name, same, "" if same else f"expected {want!r}, got {got!r}"[:500], same)


def exact_match(
    *, name: str = "exact_match", field: str | None = None, ignore_case: bool = False
) -> Evaluator:
    """True when the output equals ``expected`` (``field``: compare that key of both)."""
    return _ExactMatch(name, field, ignore_case)


class _Contains(Evaluator):
    def __init__(self, name: str, texts: Sequence[str] | None, ignore_case: bool, require_all: bool) -> None:
        self.name, self.texts, self.ignore_case, self.require_all = name, texts, ignore_case, require_all

    def __call__(self, output: Any, expected: Any) -> Score:
        wanted = self.texts
        if wanted is None:
            wanted = [expected] if isinstance(expected, str) else list(expected or [])
        haystack = _text(output)
        if self.ignore_case:
            haystack = haystack.casefold()
        found = [t for t in wanted if (str(t).casefold() if self.ignore_case else str(t)) in haystack]
        ok = bool(wanted) and (len(found) == len(wanted) if self.require_all else bool(found))
        missing = [t for t in wanted if t not in found]
        return Score(self.name, ok, "" if ok else f"missing {missing!r}"[:500], ok)


def contains(
    text: str | Sequence[str] | None = None,
    *,
    name: str = "contains",
    ignore_case: bool = True,
    require_all: bool = True,
) -> Evaluator:
    """True when the output's text contains ``text`` (one string or several: all of them, or any
    with ``require_all=False``); without ``text``, what ``expected`` holds."""
    texts = [text] if isinstance(text, str) else (list(text) if text is not None else None)
    return _Contains(name, texts, ignore_case, require_all)


class _Regex(Evaluator):
    def __init__(self, name: str, pattern: re.Pattern[str]) -> None:
        self.name, self.pattern = name, pattern

    def __call__(self, output: Any) -> Score:
        ok = self.pattern.search(_text(output)) is not None
        return Score(self.name, ok, "" if ok else f"no match for /{self.pattern.pattern}/"[:500], ok)


def regex(pattern: str | re.Pattern[str], *, name: str = "regex", flags: int = 0) -> Evaluator:
    """True when the output's text matches ``pattern`` (``re.search``)."""
    compiled = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, flags)
    return _Regex(name, compiled)


def _parsed(output: Any) -> tuple[bool, Any, str]:
    if isinstance(output, (dict, list)):
        return True, output, ""
    if not isinstance(output, str):
        return False, None, f"not text or JSON: {type(output).__name__}"
    try:
        return True, json.loads(output), ""
    except json.JSONDecodeError as exc:
        return False, None, f"invalid JSON: {exc.msg} at {exc.pos}"


class _JsonValid(Evaluator):
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, output: Any) -> Score:
        ok, _, problem = _parsed(output)
        return Score(self.name, ok, problem, ok)


def json_valid(*, name: str = "json_valid") -> Evaluator:
    """True when the output is a JSON document (or already a dict or list)."""
    return _JsonValid(name)


class _JsonSchema(Evaluator):
    def __init__(self, name: str, schema: Mapping[str, Any]) -> None:
        from waxell_observe.governance.json_schema import compile_validator, schema_problems

        problems = schema_problems(schema)
        if problems:
            raise ValueError(f"json_schema: the schema is not usable: {'; '.join(problems)}")
        self.name, self.schema = name, dict(schema)
        self._errors = compile_validator(self.schema)

    def __call__(self, output: Any) -> Score:
        ok, document, problem = _parsed(output)
        if ok:
            errors = self._errors(document)
            if errors:
                ok, problem = False, errors[0]
        return Score(self.name, ok, problem[:500], ok)


def json_schema(schema: Mapping[str, Any], *, name: str = "json_schema") -> Evaluator:
    """True when the output (JSON text, or a dict/list) satisfies the JSON Schema ``schema`` (every
    keyword with the ``jsonschema`` package when installed, else the subset of
    :mod:`waxell_observe.governance.json_schema`); ``ValueError`` for an unusable schema."""
    return _JsonSchema(name, schema)


class _NumericClose(Evaluator):
    def __init__(self, name: str, absolute: float, relative: float) -> None:
        self.name, self.absolute, self.relative = name, absolute, relative

    def __call__(self, output: Any, expected: Any) -> Score:
        try:
            got, want = float(_text(output) if isinstance(output, Mapping) else output), float(expected)
        except (TypeError, ValueError):
            return Score(self.name, False, f"not numbers: {output!r} vs {expected!r}"[:500], False)
        ok = math.isclose(got, want, rel_tol=self.relative, abs_tol=self.absolute)
        return Score(
            self.name, ok, "" if ok else f"expected {want}, got {got} (off by {abs(got - want):.6g})", ok
        )


def numeric_close(*, absolute: float = 1e-9, relative: float = 0.0, name: str = "numeric_close") -> Evaluator:
    """True when the output, as a number, is within ``absolute`` or ``relative`` of ``expected``."""
    if absolute < 0 or relative < 0:
        raise ValueError("tolerances must be >= 0")
    return _NumericClose(name, float(absolute), float(relative))


class _Ceiling(Evaluator):
    def __init__(self, name: str, limit: float, measure: str, unit: str) -> None:
        self.name, self.limit, self.measure, self.unit = name, limit, measure, unit

    def __call__(self, trace: RunTrace) -> Score:
        value = float(getattr(trace, self.measure))
        ok = value <= self.limit
        return Score(self.name, ok, f"{value:.6g} {self.unit} (limit {self.limit:.6g})", ok)


def _limit(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{what} must be a number >= 0, got {value!r}")
    return float(value)


def cost_at_most(usd: float, *, name: str = "cost_at_most") -> Evaluator:
    """True when the task's runs cost at most ``usd`` (an LLM judge's calls are not counted)."""
    return _Ceiling(name, _limit(usd, "usd"), "cost", "USD")


def latency_at_most(ms: float, *, name: str = "latency_at_most") -> Evaluator:
    """True when the task took at most ``ms`` milliseconds."""
    return _Ceiling(name, _limit(ms, "ms"), "latency_ms", "ms")


def tokens_at_most(tokens: int, *, name: str = "tokens_at_most") -> Evaluator:
    """True when the task's runs used at most ``tokens`` tokens (in + out)."""
    return _Ceiling(name, _limit(tokens, "tokens"), "total_tokens", "tokens")


class _ToolCalled(Evaluator):
    def __init__(self, name: str, tool: str, times: int | None, arguments: Mapping[str, Any]) -> None:
        self.name, self.tool, self.times, self.arguments = name, tool, times, dict(arguments)

    def __call__(self, trace: RunTrace) -> Score:
        calls = [span for span in trace.tool_calls if span.name == self.tool]
        if self.arguments:
            calls = [c for c in calls if isinstance(c.input, Mapping) and all(
                k in c.input and c.input[k] == v for k, v in self.arguments.items())]  # fmt: skip
        ok = len(calls) == self.times if self.times is not None else bool(calls)
        comment = f"{len(calls)} matching calls of {self.tool!r} (tools called: {trace.tool_names})"
        return Score(self.name, ok, comment[:500], ok)


def tool_called(
    tool: str, *, times: int | None = None, name: str | None = None, **arguments: Any
) -> Evaluator:
    """True when the task called tool ``tool`` (exactly ``times`` times, when given) with every
    argument in ``arguments`` (compared with the call's recorded input)."""
    if not isinstance(tool, str) or not tool:
        raise ValueError(f"tool must be a non-empty string, got {tool!r}")
    return _ToolCalled(name or f"tool_called:{tool}", tool, times, arguments)
