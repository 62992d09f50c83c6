"""The value types of the public API: what the client returns and what handlers receive.

``waxell_observe.types`` is a real module: every name here is the class itself (the ones
defined elsewhere are imported, not copied), so ``isinstance`` works whichever import path
a program uses.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from waxell_observe.governance.results import PolicyCheckResult

__all__ = [
    "ApprovalDecision",
    "CompiledPromptList",
    "CompiledPromptText",
    "DailyRunInfo",
    "LlmCallInfo",
    "PolicyCheckResult",
    "PromptGuardResult",
    "PromptInfo",
    "RunCompleteResult",
    "RunInfo",
]


@dataclass
class RunInfo:
    """The control plane's answer to ``runs/start/``: the run's ids and start time (ISO 8601)."""

    run_id: str
    workflow_id: str
    started_at: str


@dataclass
class DailyRunInfo:
    """The answer to ``runs/daily/``: the agent's run of ``date``; ``created`` when it is new."""

    run_id: str
    workflow_id: str
    started_at: str
    date: str
    created: bool


@dataclass
class RunCompleteResult:
    """The answer to ``runs/{id}/complete/``, with the post-execution governance outcome."""

    run_id: str
    duration: float | None = None
    governance_action: str = "allow"
    governance_reason: str = ""
    retry_feedback: str = ""
    max_retries: int = 0

    @property
    def should_retry(self) -> bool:
        """True when a post-execution policy asks the agent to try again (``retry``)."""
        return self.governance_action == "retry"


@dataclass
class LlmCallInfo:
    """One LLM call, as a plain value (a convenience type; the SDK records calls as dicts)."""

    model: str
    tokens_in: int
    tokens_out: int
    cost: float = 0.0
    task: str = ""
    prompt_preview: str = ""
    response_preview: str = ""


@dataclass
class ApprovalDecision:
    """What an ``on_policy_block`` handler decided about a blocked operation."""

    approved: bool
    approver: str = ""
    timed_out: bool = False
    elapsed_seconds: float | None = None


@dataclass
class PromptGuardResult:
    """What the prompt guard found in one request, and what it did about it.

    ``source`` says who scanned: ``local``, ``server``, ``both`` or ``policy``.
    ``redacted_messages`` holds the redacted request when the action is ``redact``.
    ``findings`` (ours) lists each finding with where it was (role, message index).
    """

    passed: bool
    action: str = "allow"
    violations: list[str] = field(default_factory=list)
    source: str = "local"
    redacted_messages: list[Any] | None = None
    findings: list[Any] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return self.action == "block"

    @property
    def reason(self) -> str:
        """The violations joined with ``"; "``."""
        return "; ".join(self.violations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "action": self.action,
            "violations": list(self.violations),
            "source": self.source,
            "findings": [f.to_dict() if hasattr(f, "to_dict") else f for f in self.findings],
        }


class CompiledPromptText(str):
    """A compiled text prompt: a ``str`` that remembers the hash of its template."""

    _waxell_template_hash: str

    def __new__(cls, value: str, template_hash: str = "") -> CompiledPromptText:
        text = super().__new__(cls, value)
        text._waxell_template_hash = template_hash
        return text


class CompiledPromptList(list[Any]):
    """A compiled chat prompt: a ``list`` of message dicts that remembers its template's hash."""

    _waxell_template_hash: str = ""


def _substitute(text: str, variables: dict[str, str]) -> str:
    for name, value in variables.items():
        text = text.replace("{{" + name + "}}", value)
    return text


@dataclass
class PromptInfo:
    """A prompt of the control plane's registry (``client.get_prompt``).

    ``prompt_type`` is ``text`` (``content`` is a str) or ``chat`` (``content`` is a list of
    ``{"role", "content"}`` dicts).
    """

    name: str
    version: int
    prompt_type: str
    content: Any
    config: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    content_hash: str = ""

    def compile(self, **variables: str) -> Any:
        """The content with every literal ``{{name}}`` replaced by ``variables[name]``.

        Text → :class:`CompiledPromptText`; chat → :class:`CompiledPromptList` of copies of the
        messages (string ``content`` substituted, other content untouched); any other content
        is returned unchanged. Values must be strings (``TypeError`` otherwise).
        """
        for name, value in variables.items():
            if not isinstance(value, str):
                raise TypeError(f"prompt variable {name!r} must be a str, got {type(value).__name__}")
        content = self.content
        if isinstance(content, str):
            return CompiledPromptText(_substitute(content, variables), self.content_hash)
        if isinstance(content, list):
            messages = CompiledPromptList()
            for message in content:
                item = copy.copy(message)
                if isinstance(item, dict) and isinstance(item.get("content"), str):
                    item["content"] = _substitute(item["content"], variables)
                messages.append(item)
            messages._waxell_template_hash = self.content_hash
            return messages
        return content

    @classmethod
    def from_reply(cls, name: str, reply: dict[str, Any]) -> PromptInfo:
        """A ``prompts/{name}/`` reply as a :class:`PromptInfo` (missing fields: defaults)."""
        version = reply.get("version")
        return cls(
            name=str(reply.get("name") or name),
            version=version if isinstance(version, int) and not isinstance(version, bool) else 0,
            prompt_type=str(reply.get("prompt_type") or "text"),
            content=reply.get("content", ""),
            config=dict(reply.get("config") or {}),
            labels=list(reply.get("labels") or []),
            content_hash=str(reply.get("content_hash") or ""),
        )
