"""What the gate categories share: name lists, the violation action, scoping by tool and model, and
where a check finds its texts.

The reference's rule helpers, followed exactly: a violation answers ``rules.action``, else
``rules.action_on_violation``, else the category's default (block unless the category says otherwise);
values and list entries are trimmed and lowercased before they are compared; an entry holding ``*``,
``?`` or ``[`` is a glob, any other entry must match exactly.

A gate category reads the check's ``signal`` (what the gate at a surface looks at: ``tool_name``,
``model``, ``url``, ``text``, ...) and, at the three phases, the run's state too.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

from waxell_observe.vocabulary import POLICY_CATEGORY_PHASES

from ..content_scan import iter_strings
from ..models import Policy
from ..request import MID_EXECUTION, POST_EXECUTION, PRE_EXECUTION, PolicyRequest
from .base import ALLOW, EvalContext, Outcome, RuleEvaluator

__all__ = [
    "GateEvaluator",
    "Names",
    "number",
    "norm",
    "signal_name",
    "texts_for",
    "violation_action",
]

GLOB_CHARS = frozenset("*?[")


def norm(value: Any) -> str:
    """A value as compared by gate rules: a string trimmed and lowercased ("" for None)."""
    if value is None:
        return ""
    return (value if isinstance(value, str) else str(value)).strip().lower()


def number(value: Any) -> float | None:
    """``value`` as a number (numeric strings too), or None; booleans are not numbers."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", "").lstrip("$"))
        except ValueError:
            return None
    return None


def signal_name(signal: Mapping[str, Any], *keys: str) -> str:
    """The first non-empty of ``signal[key]`` for ``keys``, normalised (:func:`norm`)."""
    for key in keys:
        value = signal.get(key)
        if value is not None and value != "":
            return norm(value)
    return ""


class Names:
    """A compiled name list: exact entries in a set, globs in one regex. Entries are normalised."""

    __slots__ = ("_exact", "_globs", "entries")

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries: tuple[str, ...] = tuple(dict.fromkeys(norm(e) for e in entries if norm(e)))
        self._exact = frozenset(e for e in self.entries if not GLOB_CHARS & set(e))
        self._globs = tuple(
            (e, re.compile(fnmatch.translate(e), re.DOTALL)) for e in self.entries if GLOB_CHARS & set(e)
        )

    def __bool__(self) -> bool:
        return bool(self.entries)

    def match(self, value: str) -> str | None:
        """The entry that ``value`` (already normalised) matches, or None."""
        if value in self._exact:
            return value
        for entry, regex in self._globs:
            if regex.match(value):
                return entry
        return None

    def shown(self) -> str:
        return ", ".join(self.entries)


def violation_action(rules: Any, default: str) -> str:
    """``rules.action``, else ``rules.action_on_violation``, else ``default``."""
    return str(getattr(rules, "action", None) or getattr(rules, "action_on_violation", None) or default)


def texts_for(request: PolicyRequest, phase: str, keys: Iterable[str]) -> Iterator[str]:
    """The texts a check looks at: the signal's ``keys`` (strings inside them too), and at the phases
    the run's: its inputs (pre), the texts recorded since the last check (mid), its result (post)."""
    signal = request.signal
    if signal:
        for key in keys:
            value = signal.get(key)
            if value is not None:
                yield from iter_strings(value)
    if phase == PRE_EXECUTION:
        if request.inputs is not None:
            yield from iter_strings(request.inputs)
    elif phase == MID_EXECUTION:
        yield from request.input_texts
        yield from request.output_texts
    elif phase == POST_EXECUTION and request.result is not None:
        yield from iter_strings(request.result)


class GateEvaluator(RuleEvaluator):
    """Base of the gate categories: ``phases`` come from the vocabulary's table, the violation action
    from the rules, and the policy is skipped for a signal whose ``tool_name`` / ``model`` is out of its
    ``scope_tools`` / ``scope_models`` or in its ``exclude_tools`` / ``exclude_models``.

    Subclasses set ``category`` (and ``default_action`` when it is not ``block``) and implement
    :meth:`decide`."""

    default_action: ClassVar[str] = "block"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.category:
            cls.phases = POLICY_CATEGORY_PHASES[cls.category]

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        rules = policy.rules
        self.action = violation_action(rules, self.default_action)
        self._scope_tools = Names(getattr(rules, "scope_tools", ()))
        self._exclude_tools = Names(getattr(rules, "exclude_tools", ()))
        self._scope_models = Names(getattr(rules, "scope_models", ()))
        self._exclude_models = Names(getattr(rules, "exclude_models", ()))
        self._scoped = bool(
            self._scope_tools or self._exclude_tools or self._scope_models or self._exclude_models
        )

    def evaluate(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        if self._scoped and not self._in_scope(request.signal):
            return ALLOW
        return self.decide(request, phase, ctx)

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:  # pragma: no cover
        raise NotImplementedError

    def _in_scope(self, signal: Mapping[str, Any]) -> bool:
        tool = signal_name(signal, "tool_name")
        if tool:
            if self._scope_tools and self._scope_tools.match(tool) is None:
                return False
            if self._exclude_tools and self._exclude_tools.match(tool) is not None:
                return False
        model = signal_name(signal, "model")
        if model:
            if self._scope_models and self._scope_models.match(model) is None:
                return False
            if self._exclude_models and self._exclude_models.match(model) is not None:
                return False
        return True

    def violation(self, reason: str, rule: str, action: str | None = None, /, **details: Any) -> Outcome:
        """An outcome answering ``action`` (default: the policy's violation action); ``details`` go into
        its metadata with ``rule``."""
        return Outcome(action or self.action, reason, {"rule": rule, **details})
