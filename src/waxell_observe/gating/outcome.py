"""What a gate answers: :class:`GateOutcome`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from waxell_observe.governance.results import BLOCKED_ACTIONS, PolicyCheckResult

__all__ = ["GateOutcome"]


@dataclass(slots=True)
class GateOutcome:
    """The answer of the policies at one gate surface.

    ``action`` is the strictest answer (``allow`` < ``warn`` < ``redact`` < ``throttle`` < ``block``),
    ``reason`` its reason, ``decisions`` every non-allow answer as ``{"category", "policy", "action",
    "reason"}``, ``redacted_text`` the policy's masked copy of the text it scanned (``redact``), and
    ``scanned_text`` the text it looked at. ``result`` is the merged policy answer (``None`` when no
    policy was consulted).
    """

    action: str = "allow"
    reason: str = ""
    surface: str = ""
    decisions: list[dict[str, Any]] = field(default_factory=list)
    redacted_text: str | None = None
    scanned_text: str | None = None
    result: PolicyCheckResult | None = field(default=None, repr=False, compare=False)
    #: With ``redact`` at a detective gate: the signal's ``text``/``content``/``query``/``documents``
    #: scrubbed (the values to record instead of the originals).
    redacted_signal: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def is_block(self) -> bool:
        """True when the gate refuses what it guards (``block`` or ``throttle``)."""
        return self.action in BLOCKED_ACTIONS

    @property
    def should_act(self) -> bool:
        """True when the answer is anything but ``allow``."""
        return self.action != "allow"
