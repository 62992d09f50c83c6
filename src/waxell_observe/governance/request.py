"""What a policy check looks at: who is running, and (mid/post) what the run did so far.

Light dataclasses, built on the hot path by the SDK (embedded mode) or from a wire payload by the
server (:meth:`PolicyRequest.from_dict`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from waxell_observe.vocabulary import GATE_SURFACES, POLICY_PHASES, SURFACE_OF_PHASE

__all__ = [
    "MID_EXECUTION",
    "PHASES",
    "POST_EXECUTION",
    "PRE_EXECUTION",
    "LLMCallInfo",
    "PolicyRequest",
    "ToolCallInfo",
    "normalize_checkpoint",
    "normalize_phase",
]

#: The three phases, in run order.
PHASES: tuple[str, ...] = POLICY_PHASES
PRE_EXECUTION, MID_EXECUTION, POST_EXECUTION = PHASES
_PHASE_ALIASES = {"pre": PRE_EXECUTION, "mid": MID_EXECUTION, "post": POST_EXECUTION}


def normalize_phase(phase: str) -> str:
    """``pre``/``mid``/``post`` or the full names; anything else is a ``ValueError``."""
    if phase in PHASES:
        return phase
    try:
        return _PHASE_ALIASES[phase]
    except KeyError:
        raise ValueError(f"unknown phase {phase!r} (expected one of: {', '.join(PHASES)})") from None


_PHASE_OF_SURFACE = {surface: phase for phase, surface in SURFACE_OF_PHASE.items()}
_SURFACES = frozenset(GATE_SURFACES)


def normalize_checkpoint(name: str) -> str:
    """Where a check happens: a phase (``pre``/``mid``/``post`` or the full names, and the surfaces
    that are phases: ``run.start``, ``step.mid``, ``run.complete``) comes back as its full phase name;
    any other gate surface (``tool.before``, ``llm.before``, ...) comes back as itself. Anything else is a
    ``ValueError``."""
    if name in PHASES:
        return name
    phase = _PHASE_ALIASES.get(name) or _PHASE_OF_SURFACE.get(name)
    if phase is not None:
        return phase
    if name in _SURFACES:
        return name
    raise ValueError(
        f"unknown phase or surface {name!r} (expected one of: {', '.join(PHASES)}, or a surface: "
        f"{', '.join(GATE_SURFACES)})"
    )


@dataclass(slots=True)
class LLMCallInfo:
    """One LLM call of the run, as far as governance cares."""

    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LLMCallInfo:
        return cls(
            model=str(data.get("model") or ""),
            tokens_in=int(data.get("tokens_in") or 0),
            tokens_out=int(data.get("tokens_out") or 0),
            cost=float(data.get("cost") or 0.0),
        )


@dataclass(slots=True)
class ToolCallInfo:
    """One tool call of the run."""

    name: str
    status: str = "ok"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCallInfo:
        return cls(name=str(data.get("name") or ""), status=str(data.get("status") or "ok"))


@dataclass(slots=True)
class PolicyRequest:
    """Input of :meth:`PolicyEngine.evaluate`.

    Pre-execution needs only identity and ``inputs``. Mid- and post-execution add the run's state:
    ``llm_calls``, ``step_count``, ``tool_calls``, ``retries``, ``conversation`` (the wire
    ``conversation_state``: ``user_turns``, ``message_count``, ``context_utilization_pct``...),
    ``session_started_at`` (epoch seconds), texts to scan — ``input_texts`` (prompt previews, user
    messages) and ``output_texts`` (response previews, agent responses, tool and retrieval outputs) — and,
    post-execution, ``result``.
    """

    agent_name: str
    workflow_name: str = ""
    user_group: str = ""
    user_id: str = ""
    run_id: str = ""
    inputs: Any = None
    llm_calls: Sequence[LLMCallInfo] = ()
    step_count: int = 0
    tool_calls: Sequence[ToolCallInfo] = ()
    retries: int = 0
    conversation: Mapping[str, Any] = field(default_factory=dict)
    session_started_at: float | None = None
    input_texts: Sequence[str] = ()
    output_texts: Sequence[str] = ()
    result: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: The gate surface being checked (one of ``vocabulary.GATE_SURFACES``), "" for a plain phase check.
    surface: str = ""
    #: What the surface gate looks at (``tool_name``, ``tool_args``, ``model``, ``url``, ``text``, ...).
    signal: Mapping[str, Any] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        """Tokens in + out over the run's LLM calls."""
        return sum(c.tokens_in + c.tokens_out for c in self.llm_calls)

    @property
    def total_cost(self) -> float:
        """Cost (USD) over the run's LLM calls."""
        return sum(c.cost for c in self.llm_calls)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyRequest:
        """Build from a ``policy-check/`` body, optionally with run-state keys of the same names.

        ``conversation_state`` (or ``signal.conversation_state``) fills ``conversation``.
        """
        conversation = data.get("conversation_state") or data.get("conversation")
        if conversation is None:
            signal = data.get("signal")
            if isinstance(signal, Mapping):
                conversation = signal.get("conversation_state")
        return cls(
            agent_name=str(data.get("agent_name") or ""),
            workflow_name=str(data.get("workflow_name") or ""),
            user_group=str(data.get("user_group") or ""),
            user_id=str(data.get("user_id") or ""),
            run_id=str(data.get("run_id") or ""),
            inputs=data.get("inputs"),
            llm_calls=tuple(
                c if isinstance(c, LLMCallInfo) else LLMCallInfo.from_dict(c)
                for c in data.get("llm_calls") or ()
            ),
            step_count=int(data.get("step_count") or 0),
            tool_calls=tuple(
                c if isinstance(c, ToolCallInfo) else ToolCallInfo.from_dict(c)
                for c in data.get("tool_calls") or ()
            ),
            retries=int(data.get("retries") or 0),
            conversation=dict(conversation) if isinstance(conversation, Mapping) else {},
            session_started_at=data.get("session_started_at"),
            input_texts=tuple(data.get("input_texts") or ()),
            output_texts=tuple(data.get("output_texts") or ()),
            result=data.get("result"),
            metadata=dict(data.get("metadata") or {}),
            surface=str(data.get("surface") or ""),
            signal=dict(data["signal"]) if isinstance(data.get("signal"), Mapping) else {},
        )
