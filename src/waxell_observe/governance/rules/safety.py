"""``safety``: caps on steps, tool calls and retries, forbidden tools, and what one call may produce.

Mid-execution, on the run so far: a count going over its maximum (``max_steps: 50`` allows 50 steps) or a
recorded tool in ``blocked_tools`` (names or globs) answers the violation action — ``action``, else
``action_on_violation``, else block.

At a gate (``tool.before``, ``tool.after``, ``llm.after``, ``run.error`` with the failed run's error text,
and a ``step.mid`` check carrying a signal), the reference's checks of one signal answer ``action`` /
``action_on_violation``, else warn: the signal's
``tool_name`` in ``blocked_tools`` (in any case); its ``position`` at or past ``max_steps``; its
``tool_call_count`` at or past ``max_tool_calls``; its ``output`` / ``text`` longer than
``max_output_length``; and, over its text and tool arguments, ``content_filters`` (regexes, warn) and
``blocked_patterns`` (regexes, block).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from waxell_observe.vocabulary import POLICY_CATEGORY_PHASES

from ..content_scan import iter_strings
from ..matching import compile_globs
from ..models import SafetyPolicy
from ..request import MID_EXECUTION, PolicyRequest
from .base import ALLOW, EvalContext, Outcome, RuleEvaluator, worst
from .gate import Names, number, signal_name, violation_action

__all__ = ["SafetyEvaluator"]

_TEXT_KEYS = ("text", "output", "content", "input", "response")


def _union(patterns: list[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


class SafetyEvaluator(RuleEvaluator):
    category = "safety"
    phases = POLICY_CATEGORY_PHASES["safety"]

    def __init__(self, policy: SafetyPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.max_steps = r.max_steps
        self.max_tool_calls = r.max_tool_calls
        self.max_retries = r.max_retries
        self.blocked = compile_globs(r.blocked_tools) if r.blocked_tools else None
        self.blocked_names = Names(r.blocked_tools)
        self.run_action = violation_action(r, "block")
        self.gate_action = violation_action(r, "warn")
        self.max_output = r.max_output_length
        self.filters = [(p, re.compile(p)) for p in r.content_filters]
        self.patterns = [(p, re.compile(p)) for p in r.blocked_patterns]

    def evaluate(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        found: list[Outcome] = []
        if request.signal:
            self._signal(request.signal, found)
        if phase != MID_EXECUTION:
            return worst(found)
        if self.max_steps is not None and request.step_count > self.max_steps:
            found.append(self._over("max_steps", "steps", request.step_count, self.max_steps))
        n_tools = len(request.tool_calls)
        if self.max_tool_calls is not None and n_tools > self.max_tool_calls:
            found.append(self._over("max_tool_calls", "tool calls", n_tools, self.max_tool_calls))
        if self.max_retries is not None and request.retries > self.max_retries:
            found.append(self._over("max_retries", "retries", request.retries, self.max_retries))
        if self.blocked is not None:
            used = [t.name for t in request.tool_calls if self.blocked(t.name)]
            if used:
                names = list(dict.fromkeys(used))
                found.append(
                    Outcome(
                        self.run_action,
                        f"Blocked tool used: {', '.join(names)}",
                        {"rule": "blocked_tools", "tools": names},
                    )
                )
        return worst(found) if found else ALLOW

    def _signal(self, signal: Mapping[str, Any], found: list[Outcome]) -> None:
        action = self.gate_action
        tool = signal_name(signal, "tool_name")
        if tool and self.blocked_names and self.blocked_names.match(tool) is not None:
            found.append(
                Outcome(action, f"Tool {tool!r} is blocked", {"rule": "blocked_tools", "tool_name": tool})
            )
        position = number(signal.get("position"))
        if self.max_steps is not None and position is not None and position >= self.max_steps:
            found.append(
                Outcome(
                    action,
                    f"Step {position:g} reaches max_steps {self.max_steps}",
                    {"rule": "max_steps", "count": position, "limit": self.max_steps},
                )
            )
        count = number(signal.get("tool_call_count"))
        if self.max_tool_calls is not None and count is not None and count >= self.max_tool_calls:
            found.append(
                Outcome(
                    action,
                    f"Tool call {count:g} reaches max_tool_calls {self.max_tool_calls}",
                    {"rule": "max_tool_calls", "count": count, "limit": self.max_tool_calls},
                )
            )
        if self.max_output is not None:
            for key in ("output", "text"):
                value = signal.get(key)
                if isinstance(value, str) and len(value) > self.max_output:
                    found.append(
                        Outcome(
                            action,
                            f"Output too long: {len(value):,} characters "
                            f"(max_output_length {self.max_output:,})",
                            {"rule": "max_output_length", "length": len(value), "limit": self.max_output},
                        )
                    )
                    break
        if self.filters or self.patterns:
            self._patterns(signal, found)

    def _patterns(self, signal: Mapping[str, Any], found: list[Outcome]) -> None:
        texts = [t for key in _TEXT_KEYS if signal.get(key) is not None for t in iter_strings(signal[key])]
        args = signal.get("tool_args")
        if args:
            texts.append(args if isinstance(args, str) else json.dumps(args, ensure_ascii=False, default=str))
        for pattern, regex in self.patterns:
            if any(regex.search(t) for t in texts):
                found.append(
                    Outcome("block", f"Blocked pattern matched: /{pattern}/", {"rule": "blocked_patterns"})
                )
                return
        for pattern, regex in self.filters:
            if any(regex.search(t) for t in texts):
                found.append(
                    Outcome("warn", f"Content filter matched: /{pattern}/", {"rule": "content_filters"})
                )
                return

    def _over(self, rule: str, what: str, count: int, limit: int) -> Outcome:
        return Outcome(
            self.run_action,
            f"Too many {what}: {count} (max {limit})",
            {"rule": rule, "count": count, "limit": limit},
        )
