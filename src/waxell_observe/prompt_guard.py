"""The prompt guard: scan an outgoing LLM request before it leaves the process.

Turned on with ``init(prompt_guard=True, prompt_guard_action=...)`` (or ``WAXELL_PROMPT_GUARD=true``
and ``WAXELL_PROMPT_GUARD_ACTION``). The OpenAI and Anthropic integrations call :func:`guard_request`
with a request's messages (and system prompt) just before the SDK sends it; other integrations
may do the same. The request's text is scanned with :mod:`waxell_observe.governance.content_scan`:

* **PII** (``ssn``, ``email``, ``phone``, ``credit_card``) and **credentials** (``sk-...`` API keys,
  ``AKIA...`` AWS keys, ``ghp_...`` GitHub tokens, private keys, ``password=...``) in every message,
  the system prompt included;
* **prompt-injection phrases** ("ignore previous instructions", "you are now DAN", ...) in user and
  tool messages only: system prompts legitimately say things like "never reveal your system prompt",
  and earlier assistant turns are the model's own words.

What is scanned is the text a model reads: string contents, ``text`` parts, tool-call arguments and
tool results. Images, audio, ids, roles and (signed) thinking blocks are not.

When something is found, the configured action applies:

``block``
    :class:`~waxell_observe.errors.PromptGuardError` is raised and the request is not sent. Its
    ``.result`` is a :class:`PromptGuardResult` (``result.violations == ["PII detected: ssn", ...]``).
``warn``
    a warning naming the violations (never the matched text) is logged and the request is sent unchanged.
``redact``
    the request is sent with every match replaced by a placeholder (``##SSN##``, ``##EMAIL##``,
    ``##PHONE##``, ``##CREDIT_CARD##``, ``##CREDENTIAL##``, ``##INJECTION##``); the caller's own
    message objects are not modified.

Inside a run every outcome other than a clean pass is recorded as a policy span (policy
``prompt-guard``, category ``content``, phase ``mid_execution``) with the violations in its metadata.
The guard fails open: if scanning itself fails (a bug, an unexpected message shape), the error is
logged and the request is sent.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from waxell_observe.config import ObserveConfig, get_config
from waxell_observe.current import current_context
from waxell_observe.errors import PromptGuardError
from waxell_observe.types import PromptGuardResult

__all__ = [
    "POLICY_CATEGORY",
    "POLICY_NAME",
    "GuardedRequest",
    "PromptGuardFinding",
    "PromptGuardResult",
    "guard_request",
    "scan_request",
]

logger = logging.getLogger("waxell_observe")

POLICY_NAME = "prompt-guard"
"""Name of the policy spans the guard records."""
POLICY_CATEGORY = "content"
"""Category of the policy spans the guard records."""

# Keys whose string values are text the model reads. ``input`` and ``arguments`` hold tool-call
# arguments (a JSON string, or a dict whose every string is scanned).
_TEXT_KEYS = frozenset({"content", "text", "arguments", "output", "refusal", "input"})
_ARGUMENT_KEYS = frozenset({"input", "arguments"})
# Roles whose text is scanned for prompt injection as well as PII and credentials.
_UNTRUSTED_ROLES = frozenset({"user", "human", "tool", "function"})
# Responses-API input items without a role.
_ITEM_ROLES = {
    "function_call_output": "tool",
    "custom_tool_call_output": "tool",
    "computer_call_output": "tool",
    "function_call": "assistant",
    "custom_tool_call": "assistant",
    "reasoning": "assistant",
}


@dataclass(frozen=True, slots=True)
class PromptGuardFinding:
    """One detection: ``kind`` (pii|credential|injection), ``type`` (e.g. ``ssn``), where it was."""

    kind: str
    type: str
    role: str
    """Role of the message it was found in (``system`` for a separate system prompt)."""
    index: int
    """Index of the message in the request's messages; ``-1`` for a separate system prompt."""
    message: str
    """The violation text, e.g. ``"PII detected: ssn"``."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "type": self.type, "role": self.role, "index": self.index}


def _result(action: str, findings: list[PromptGuardFinding]) -> PromptGuardResult:
    """The guard's outcome: ``violations`` are the distinct finding texts in order of appearance."""
    violations = list(dict.fromkeys(f.message for f in findings))
    return PromptGuardResult(
        passed=not findings, action=action, violations=violations, findings=list(findings)
    )


@dataclass(slots=True)
class GuardedRequest:
    """The request to send after the guard ran (``messages``/``system`` are redacted copies
    when ``result.action == "redact"``, the caller's own objects otherwise)."""

    messages: Any
    system: Any
    result: PromptGuardResult

    @property
    def changed(self) -> bool:
        return self.result.action == "redact"


# ----------------------------------------------------------------------------- scanning


class _Scan:
    """Scans (and, when asked, redacts) the text of a request, collecting findings."""

    def __init__(self, *, redact: bool, injection: bool = True) -> None:
        self.redact = redact
        self.findings: list[PromptGuardFinding] = []
        self._trusted, self._untrusted = _scanners()
        if not injection:
            self._untrusted = self._trusted
        self._role = ""
        self._index = -1

    def text(self, text: str) -> str:
        scanner = self._untrusted if self._role in _UNTRUSTED_ROLES else self._trusted
        found = scanner.scan(text)
        if not found:
            return text
        for f in found:
            self.findings.append(PromptGuardFinding(f.kind, f.type, self._role, self._index, f.message))
        if not self.redact:
            return text
        from waxell_observe.governance.content_scan import replace_findings

        return replace_findings(text, found)

    def message(self, message: Any, index: int, default_role: str = "user") -> Any:
        """Scan one message; return it unchanged or, when redacting, a redacted copy."""
        if isinstance(message, str):
            self._role, self._index = default_role, index
            return self.text(message)
        data = _as_mapping(message)
        if data is None:
            return message
        role = data.get("role")
        if not isinstance(role, str):
            role = _ITEM_ROLES.get(str(data.get("type") or ""), default_role)
        self._role, self._index = role.lower(), index
        before = len(self.findings)
        redacted = self._value(data, in_arguments=False)
        if self.redact and len(self.findings) > before:
            return redacted
        return message

    def system(self, system: Any) -> Any:
        if system is None:
            return None
        self._role, self._index = "system", -1
        if isinstance(system, str):
            return self.text(system)
        before = len(self.findings)
        redacted = self._value(system, in_arguments=False, key="content")
        return redacted if self.redact and len(self.findings) > before else system

    def _value(self, value: Any, *, in_arguments: bool, key: str = "") -> Any:
        if isinstance(value, str):
            return self.text(value) if (in_arguments or key in _TEXT_KEYS) else value
        data = _as_mapping(value)
        if data is not None:
            return {
                k: self._value(v, in_arguments=in_arguments or k in _ARGUMENT_KEYS, key=k)
                for k, v in data.items()
            }
        if isinstance(value, (list, tuple)):
            items = [self._value(v, in_arguments=in_arguments, key=key) for v in value]
            return items if isinstance(value, list) else tuple(items)
        return value


@functools.lru_cache(maxsize=1)
def _scanners() -> tuple[Any, Any]:
    """(scanner for trusted text: PII and credentials, scanner for untrusted text: everything)."""
    from waxell_observe.governance.content_scan import Scanner

    return Scanner(injection=False), Scanner()


def _as_mapping(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping):
        return value
    dump = getattr(value, "model_dump", None)  # SDK message objects (pydantic)
    if callable(dump):
        try:
            data = dump(exclude_none=True)
        except Exception:  # noqa: BLE001 - an odd object is simply not scanned
            logger.debug("waxell-observe: prompt guard cannot read a %s message", type(value).__name__)
            return None
        return data if isinstance(data, Mapping) else None
    return None


def _scan(
    messages: Any, system: Any, *, redact: bool, injection: bool = True
) -> tuple[list[PromptGuardFinding], Any, Any]:
    scan = _Scan(redact=redact, injection=injection)
    new_system = scan.system(system)
    if isinstance(messages, str):
        new_messages: Any = scan.message(messages, 0)
    elif messages is None:
        new_messages = None
    else:
        items = list(messages)
        new_messages = [scan.message(m, i) for i, m in enumerate(items)]
        if not redact or not scan.findings:
            new_messages = messages
    return scan.findings, new_messages, new_system


def scan_request(messages: Any, system: Any = None, *, injection: bool = True) -> PromptGuardResult:
    """Scan a request's ``messages`` (a list of chat messages or Responses-API input items, or a
    single string) and separate ``system`` prompt; return the findings (action ``allow`` when none,
    else ``block``). ``injection=False`` skips the prompt-injection detectors (e.g. for embedding
    inputs, which no model follows as instructions). Pure: nothing is logged or recorded."""
    findings, _, _ = _scan(messages, system, redact=False, injection=injection)
    return _result("block" if findings else "allow", findings)


# ----------------------------------------------------------------------------- guarding


def _active_config(config: ObserveConfig | None) -> ObserveConfig:
    if config is not None:
        return config
    ctx = current_context.get()
    run = ctx.run if ctx is not None else None
    return run.config if run is not None else get_config()


def guard_request(
    messages: Any,
    system: Any = None,
    *,
    provider: str = "",
    model: str = "",
    injection: bool = True,
    config: ObserveConfig | None = None,
) -> GuardedRequest | None:
    """Apply the prompt guard to an outgoing request.

    Returns ``None`` when the guard is off or found nothing (send the request as it is), else a
    :class:`GuardedRequest` whose ``messages``/``system`` are what to send. Raises
    :class:`~waxell_observe.errors.PromptGuardError` when the action is ``block``. ``provider`` and
    ``model`` name the request in messages and records; ``injection=False`` skips the
    prompt-injection detectors; ``config`` defaults to the current run's configuration, else the
    global one.
    """
    config = _active_config(config)
    if not config.enabled or not config.prompt_guard:
        return None
    action = config.prompt_guard_action
    started = time.perf_counter()
    try:
        findings, new_messages, new_system = _scan(
            messages, system, redact=action == "redact", injection=injection
        )
    except Exception:  # noqa: BLE001 - the guard fails open, loudly
        logger.exception("waxell-observe: prompt guard could not scan a request to %s; sent unscanned", model)
        return None
    if not findings:
        return None
    result = _result(action, findings)
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    _record(result, provider, model, elapsed_ms)
    target = f"{provider + ' ' if provider else ''}request{' to ' + model if model else ''}"
    if action == "block":
        raise PromptGuardError(f"Prompt guard blocked the {target}: {result.reason}", result)
    if action == "warn":
        logger.warning("waxell-observe: prompt guard: %s (%s sent unchanged)", result.reason, target)
        return GuardedRequest(messages, system, result)
    if isinstance(new_messages, list):
        result.redacted_messages = new_messages
    logger.info("waxell-observe: prompt guard redacted the %s: %s", target, result.reason)
    return GuardedRequest(new_messages, new_system, result)


def _record(result: PromptGuardResult, provider: str, model: str, elapsed_ms: float) -> None:
    """Record the outcome as a policy span on the current run (nothing outside a run)."""
    ctx = current_context.get()
    if ctx is None or ctx.run is None:
        logger.debug("waxell-observe: prompt guard outcome outside a run not recorded: %s", result.reason)
        return
    try:
        ctx.record_policy_check(
            policy_name=POLICY_NAME,
            action=result.action,
            category=POLICY_CATEGORY,
            reason=result.reason,
            duration_ms=round(elapsed_ms, 3),
            phase="mid_execution",
            metadata={
                "violations": result.violations,
                "findings": [f.to_dict() for f in result.findings],
                "provider": provider,
                "model": model,
            },
        )
    except Exception:  # noqa: BLE001 - recording never breaks the agent
        logger.exception("waxell-observe: could not record the prompt guard outcome")
