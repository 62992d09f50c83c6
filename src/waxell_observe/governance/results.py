"""Policy check results: what a policy decided, and how several answers merge.

These objects travel on the hot path (every policy check builds one), so they are
plain ``__slots__`` classes rather than pydantic models. Their dictionary form is the
``policy-check/`` reply of the control-plane wire protocol::

    {"action": ..., "reason": ..., "metadata": {...},
     "evaluations": [{"policy_name", "category", "action", "reason", "duration_ms", "metadata"}]}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from waxell_observe.vocabulary import POLICY_ACTIONS

__all__ = [
    "ACTIONS",
    "ACTION_SEVERITY",
    "ALLOWED_ACTIONS",
    "BLOCKED_ACTIONS",
    "PROPAGATED_METADATA_KEYS",
    "PolicyCheckResult",
    "PolicyEvaluation",
    "merge_metadata",
    "strictest",
]

#: Every action in increasing order of severity. When several policies (or several
#: deciders) answer, the one with the highest severity wins.
ACTIONS: tuple[str, ...] = POLICY_ACTIONS
ACTION_SEVERITY: dict[str, int] = {action: rank for rank, action in enumerate(ACTIONS)}

#: Actions with which the run proceeds.
ALLOWED_ACTIONS = frozenset({"allow", "warn", "redact", "skip"})
#: Actions that stop the run (the SDK raises ``PolicyViolationError``).
BLOCKED_ACTIONS = frozenset({"block", "throttle"})

#: Metadata keys that carry instructions for the caller and so survive merging.
PROPAGATED_METADATA_KEYS = frozenset(
    {
        "redacted_inputs",
        "redacted_result",
        "redacted_text",
        "retry_after_seconds",
        "retry_feedback",
        "max_retries",
        "admission_id",
    }
)


def _severity(action: str) -> int:
    # Unknown actions (from a foreign control plane) rank as a warning: recorded, not fatal.
    return ACTION_SEVERITY.get(action, ACTION_SEVERITY["warn"])


class PolicyEvaluation:
    """The answer of one policy in one phase."""

    __slots__ = ("action", "category", "duration_ms", "metadata", "phase", "policy_name", "reason")

    def __init__(
        self,
        policy_name: str,
        category: str = "",
        action: str = "allow",
        reason: str = "",
        duration_ms: float = 0.0,
        metadata: dict[str, Any] | None = None,
        phase: str = "",
    ) -> None:
        self.policy_name = policy_name
        self.category = category
        self.action = action
        self.reason = reason
        self.duration_ms = duration_ms
        self.metadata: dict[str, Any] = metadata if metadata is not None else {}
        self.phase = phase

    def to_dict(self) -> dict[str, Any]:
        """Wire shape of one entry of ``evaluations`` (``phase`` is our extension)."""
        return {
            "policy_name": self.policy_name,
            "category": self.category,
            "action": self.action,
            "reason": self.reason,
            "duration_ms": round(self.duration_ms, 4),
            "metadata": dict(self.metadata),
            "phase": self.phase,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyEvaluation:
        """Build from a wire dict; missing fields take their defaults."""
        return cls(
            policy_name=str(data.get("policy_name") or data.get("policy") or ""),
            category=str(data.get("category") or ""),
            action=str(data.get("action") or "allow"),
            reason=str(data.get("reason") or ""),
            duration_ms=float(data.get("duration_ms") or 0.0),
            metadata=dict(data.get("metadata") or {}),
            phase=str(data.get("phase") or ""),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PolicyEvaluation):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __repr__(self) -> str:
        return (
            f"PolicyEvaluation(policy_name={self.policy_name!r}, category={self.category!r}, "
            f"action={self.action!r}, reason={self.reason!r}, phase={self.phase!r})"
        )


@dataclasses.dataclass(slots=True, eq=False, repr=False)
class PolicyCheckResult:
    """The merged answer of a policy check: a dataclass with the reference SDK's fields
    (``action, reason="", metadata={}, evaluations=[], redacted_inputs=None``); ``action`` defaults to
    ``"allow"`` (no policy answered). ``None`` for ``metadata`` or ``evaluations`` means empty.
    ``redacted_inputs`` are the inputs to use instead of the original ones (a ``redact`` answer)."""

    action: str = "allow"
    reason: str = ""
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    evaluations: list[PolicyEvaluation] = dataclasses.field(default_factory=list)
    redacted_inputs: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.metadata is None:
            self.metadata = {}  # callers that pass None explicitly
        if self.evaluations is None:
            self.evaluations = []

    @property
    def allowed(self) -> bool:
        """True when the run proceeds (``allow``, ``warn``, ``redact``, ``skip``)."""
        return self.action in ALLOWED_ACTIONS

    @property
    def blocked(self) -> bool:
        """True when the run must stop (``block``, ``throttle``)."""
        return self.action in BLOCKED_ACTIONS

    @property
    def should_redact(self) -> bool:
        """True when the run proceeds with redacted inputs (``redact``)."""
        return self.action == "redact"

    @property
    def should_retry(self) -> bool:
        """True when the policy asks for another attempt (``retry``)."""
        return self.action == "retry"

    @property
    def severity(self) -> int:
        """Rank of :attr:`action` in :data:`ACTION_SEVERITY`."""
        return _severity(self.action)

    @property
    def retry_feedback(self) -> str:
        """Feedback for a ``retry`` outcome ("" when there is none)."""
        return str(self.metadata.get("retry_feedback") or "")

    def to_dict(self) -> dict[str, Any]:
        """The ``policy-check/`` reply."""
        return {
            "action": self.action,
            "reason": self.reason,
            "metadata": dict(self.metadata),
            "evaluations": [evaluation.to_dict() for evaluation in self.evaluations],
        }

    def to_governance_dict(self) -> dict[str, Any]:
        """The ``governance`` object of ingest and ``complete/`` replies."""
        data: dict[str, Any] = {
            "action": self.action,
            "reason": self.reason,
            "evaluations": [evaluation.to_dict() for evaluation in self.evaluations],
        }
        if "retry_feedback" in self.metadata:
            data["retry_feedback"] = self.metadata["retry_feedback"]
        if "max_retries" in self.metadata:
            data["max_retries"] = self.metadata["max_retries"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyCheckResult:
        """Parse a ``policy-check/`` reply (or a ``governance`` object); tolerant of sparse input."""
        metadata = dict(data.get("metadata") or {})
        for key in ("retry_feedback", "max_retries"):
            if key in data and key not in metadata and data[key] not in (None, ""):
                metadata[key] = data[key]
        return cls(
            action=str(data.get("action") or "allow"),
            reason=str(data.get("reason") or ""),
            metadata=metadata,
            evaluations=[
                PolicyEvaluation.from_dict(e) for e in data.get("evaluations") or () if isinstance(e, Mapping)
            ],
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PolicyCheckResult):
            return NotImplemented
        return (
            self.action == other.action
            and self.reason == other.reason
            and self.metadata == other.metadata
            and self.evaluations == other.evaluations
        )

    def __repr__(self) -> str:
        return (
            f"PolicyCheckResult(action={self.action!r}, reason={self.reason!r}, "
            f"evaluations={len(self.evaluations)})"
        )


def merge_metadata(
    answers: Iterable[tuple[str, Mapping[str, Any]]], *, only: frozenset[str] | None = None
) -> dict[str, Any]:
    """Merge the metadata of several answers given as ``(action, metadata)`` pairs, in order.

    Generic keys: the first answer that has the key wins. Caller instructions merge by meaning:
    ``retry_after_seconds`` takes the largest wait, ``max_retries`` the smallest, ``retry_feedback``
    joins the distinct texts with newlines, and ``redacted_inputs`` / ``redacted_result`` /
    ``redacted_text`` come from the
    last ``redact`` answer carrying them (the engine's redactions are cumulative, so the last is complete).
    With ``only``, other keys are dropped.
    """
    merged: dict[str, Any] = {}
    feedback: list[str] = []
    for action, metadata in answers:
        for key, value in metadata.items():
            if only is not None and key not in only:
                continue
            if key == "retry_after_seconds":
                if value is not None and (merged.get(key) is None or value > merged[key]):
                    merged[key] = value
            elif key == "max_retries":
                if value is not None and (merged.get(key) is None or value < merged[key]):
                    merged[key] = value
            elif key == "retry_feedback":
                if value and value not in feedback:
                    feedback.append(str(value))
            elif key in ("redacted_inputs", "redacted_result", "redacted_text"):
                if action == "redact" or key not in merged:
                    merged[key] = value
            elif key not in merged:
                merged[key] = value
    if feedback:
        merged["retry_feedback"] = "\n".join(feedback)
    return merged


def strictest(results: Iterable[PolicyCheckResult]) -> PolicyCheckResult:
    """Merge several answers: the strictest action wins with its reason.

    Among answers of equal (highest) severity the first with a non-empty reason gives the reason.
    Evaluations are concatenated in order; metadata merges as in :func:`merge_metadata`.
    No answers means ``allow``.
    """
    results = list(results)
    if not results:
        return PolicyCheckResult("allow")
    top = max(_severity(r.action) for r in results)
    winners = [r for r in results if _severity(r.action) == top]
    reason = next((r.reason for r in winners if r.reason), "")
    evaluations: list[PolicyEvaluation] = []
    for r in results:
        evaluations.extend(r.evaluations)
    metadata = merge_metadata((r.action, r.metadata) for r in results)
    return PolicyCheckResult(winners[0].action, reason, metadata, evaluations)
