"""``content``: PII, credentials, prompt injection, custom patterns, blocked phrases and lengths.

* pre-execution: the run's ``inputs`` (when ``scan_inputs``);
* mid-execution: ``input_texts`` (``scan_inputs``) and ``output_texts`` (``scan_outputs``);
* post-execution: the run's ``result`` (``scan_outputs``);
* at a gate surface (``llm.before``, ``tool.before``, ``memory.write``, ...): the signal's ``text`` /
  ``input`` / ``content`` / ``prompt`` / ``query`` / ``url``, the JSON of its ``tool_args`` / ``body`` and
  its ``output`` / ``response`` / ``result``; after an action (``llm.after``, ``tool.after``,
  ``retrieval.after``) and at ``run.error`` (the failed run's error text and output) all of them are
  outputs.

Each detector family answers its configured action (``warn``, ``redact`` or ``block``); ``patterns`` answer
the policy's ``action`` (block); blocked phrases (in any case, with look-alike characters folded) and length
limits always block. With ``redact``, the masked copy is returned as
``metadata.redacted_inputs`` (pre), ``metadata.redacted_result`` (post) or ``metadata.redacted_text`` (a
gate's ``text``); several content policies
redact cumulatively. Reasons list violations such as ``"PII detected: ssn"``; matched text is never
included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from waxell_observe.vocabulary import POLICY_CATEGORY_PHASES

from ..content_scan import CustomPattern, Scanner, fold_confusables, iter_strings
from ..models import ContentPolicy
from ..request import PHASES, POST_EXECUTION, PRE_EXECUTION, PolicyRequest
from .base import ALLOW, EvalContext, Outcome, RuleEvaluator
from .gate import violation_action

__all__ = ["ContentEvaluator"]

_SEVERITY = {"warn": 1, "redact": 2, "block": 3}


_INPUT_KEYS = ("text", "input", "content", "prompt", "query", "url")
_OUTPUT_KEYS = ("output", "response", "result")
_JSON_KEYS = ("tool_args", "body")
_RUN_ERROR = "run.error"


def _signal_texts(signal: Mapping[str, Any], keys: tuple[str, ...]) -> list[str]:
    texts: list[str] = []
    for key in keys:
        value = signal.get(key)
        if value is not None:
            texts.extend(iter_strings(value))
    return texts


def _json_texts(signal: Mapping[str, Any]) -> list[str]:
    texts = []
    for key in _JSON_KEYS:
        value = signal.get(key)
        if value is None or value == {}:
            continue
        if isinstance(value, str):
            texts.append(value)
        else:
            try:
                texts.append(json.dumps(value, ensure_ascii=False, default=str))
            except (TypeError, ValueError):
                texts.extend(iter_strings(value))
    return texts


class ContentEvaluator(RuleEvaluator):
    category = "content"
    phases = POLICY_CATEGORY_PHASES["content"]

    def __init__(self, policy: ContentPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.scan_inputs = r.scan_inputs
        self.scan_outputs = r.scan_outputs
        pii = r.pii_detection
        cred = r.credential_detection
        inj = r.prompt_injection_guard
        self.action = violation_action(r, "block")
        custom = [CustomPattern(p.name, p.regex, p.action) for p in r.custom_patterns]
        custom.extend(CustomPattern(regex, regex, self.action) for regex in r.patterns)
        self.pii_action = pii.action
        self.cred_action = cred.action
        self.inj_action = inj.action
        self.custom_action = {p.name: p.action for p in custom}
        self.scanner = Scanner(
            pii_types=pii.types if pii.enabled else (),
            credentials=cred.enabled,
            injection=inj.enabled,
            custom_patterns=custom,
        )
        # Only what answers "redact" gets masked.
        self.redactor = Scanner(
            pii_types=pii.types if pii.enabled and pii.action == "redact" else (),
            credentials=cred.enabled and cred.action == "redact",
            injection=inj.enabled and inj.action == "redact",
            custom_patterns=[p for p in custom if p.action == "redact"],
        )
        # compared after folding look-alike characters (Cyrillic "о" reads as "o"), in any case
        phrases = [fold_confusables(p).lower() for p in r.blocked_phrases if p.strip()]
        self.phrases = (
            re.compile("|".join(f"(?:{re.escape(p)})" for p in phrases), re.IGNORECASE) if phrases else None
        )
        self.max_input = r.max_input_length
        self.max_output = r.max_output_length

    def evaluate(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        if phase not in PHASES:
            return self._surface(request, phase, ctx)
        if phase == PRE_EXECUTION:
            if not self.scan_inputs:
                return Outcome("skip", "Input scanning disabled")
            if request.inputs is None:
                return ALLOW
            texts = list(iter_strings(request.inputs))
            outcome = self._judge(texts, (), self.max_input, "Input")
            if outcome.action == "redact":
                ctx.redacted["inputs"] = self.redactor.redact_value(
                    ctx.redacted.get("inputs", request.inputs)
                )
                assert outcome.metadata is not None
                outcome.metadata["redacted_inputs"] = ctx.redacted["inputs"]
            return outcome
        if phase == POST_EXECUTION:
            if not self.scan_outputs:
                return Outcome("skip", "Output scanning disabled")
            if request.result is None:
                return ALLOW
            texts = list(iter_strings(request.result))
            outcome = self._judge((), texts, self.max_output, "Output")
            if outcome.action == "redact":
                ctx.redacted["result"] = self.redactor.redact_value(
                    ctx.redacted.get("result", request.result)
                )
                assert outcome.metadata is not None
                outcome.metadata["redacted_result"] = ctx.redacted["result"]
            return outcome
        # mid-execution: every text is checked on its own for length
        inputs: Sequence[str] = request.input_texts if self.scan_inputs else ()
        outputs: Sequence[str] = request.output_texts if self.scan_outputs else ()
        if request.signal:
            if self.scan_inputs:
                inputs = [*inputs, *_signal_texts(request.signal, _INPUT_KEYS), *_json_texts(request.signal)]
            if self.scan_outputs:
                outputs = [*outputs, *_signal_texts(request.signal, _OUTPUT_KEYS)]
        if not inputs and not outputs:
            return (
                ALLOW
                if (self.scan_inputs or self.scan_outputs)
                else Outcome("skip", "Content scanning disabled")
            )
        return self._judge(inputs, outputs, None, "", per_text_limits=True)

    def _surface(self, request: PolicyRequest, surface: str, ctx: EvalContext) -> Outcome:
        """A gate: the signal's texts (``text``/``input``/``content``/``url``..., the JSON of ``tool_args``
        and ``body``); after an action (``*.after``) and when a run failed (``run.error``: the error's
        text) its text is output. A ``redact`` answer carries the masked ``text`` as
        ``metadata.redacted_text``."""
        signal = request.signal
        if not signal:
            return ALLOW
        after = surface.endswith(".after") or surface == _RUN_ERROR
        texts = _signal_texts(signal, _INPUT_KEYS) + _json_texts(signal)
        outputs = _signal_texts(signal, _OUTPUT_KEYS)
        if after:
            outputs, texts = outputs + texts, []
        inputs = texts if self.scan_inputs else []
        if not self.scan_outputs:
            outputs = []
        if not inputs and not outputs:
            return ALLOW
        outcome = self._judge(inputs, outputs, None, "", per_text_limits=True)
        if outcome.action == "redact" and isinstance(signal.get("text"), str):
            ctx.redacted["text"] = self.redactor.redact(ctx.redacted.get("text", signal["text"]))
            assert outcome.metadata is not None
            outcome.metadata["redacted_text"] = ctx.redacted["text"]
        return outcome

    # ------------------------------------------------------------------ helpers

    def _judge(
        self,
        inputs: Iterable[str],
        outputs: Iterable[str],
        max_length: int | None,
        label: str,
        *,
        per_text_limits: bool = False,
    ) -> Outcome:
        violations: dict[str, str] = {}  # message -> action (ordered, distinct)
        total = 0
        for texts, limit, what in ((inputs, self.max_input, "Input"), (outputs, self.max_output, "Output")):
            for text in texts:
                if not text:
                    continue
                total += len(text)
                if per_text_limits and limit is not None and len(text) > limit:
                    violations.setdefault(
                        f"{what} too long: {len(text):,} characters (max {limit:,})", "block"
                    )
                self._scan(text, violations)
        if not per_text_limits and max_length is not None and total > max_length:
            violations.setdefault(f"{label} too long: {total:,} characters (max {max_length:,})", "block")
        if not violations:
            return ALLOW
        action = max(violations.values(), key=_SEVERITY.__getitem__)
        messages = list(violations)
        return Outcome(action, "; ".join(messages), {"violations": messages})

    def _scan(self, text: str, violations: dict[str, str]) -> None:
        if self.phrases is not None:
            for m in self.phrases.finditer(fold_confusables(text)):
                violations.setdefault(f"Blocked phrase detected: {m.group().lower()!r}", "block")
        if self.scanner.empty:
            return
        for f in self.scanner.scan(text):
            violations.setdefault(f.message, self._action_for(f.kind, f.type))

    def _action_for(self, kind: str, type_: str) -> str:
        if kind == "pii":
            return self.pii_action
        if kind == "credential":
            return self.cred_action
        if kind == "injection":
            return self.inj_action
        return self.custom_action.get(type_, "warn")
