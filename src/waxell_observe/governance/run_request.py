"""Turning a :class:`~waxell_observe.run.Run` into a :class:`PolicyRequest`, and the run-side state the
embedded decider keeps between checks (``run.plugin_state["governance"]``).

The run keeps aggregates only (tokens and cost per model, tool names, counts, conversation state), which
is what budgets, llm, safety and context-management policies read. Content policies also scan texts
recorded during the run — LLM prompt/response previews, user messages and agent responses, tool and
retrieval outputs; :class:`RunGovernance` collects those (only for runs a content policy covers) and a
mid-execution check scans the texts recorded since the previous one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .request import MID_EXECUTION, POST_EXECUTION, PRE_EXECUTION, LLMCallInfo, PolicyRequest, ToolCallInfo
from .strings import iter_strings

if TYPE_CHECKING:
    from waxell_observe.records import LLMCallRecord, SpanRecord
    from waxell_observe.run import Run

__all__ = ["STATE_KEY", "RunGovernance", "request_for_run", "run_models"]

#: Key of the decider's per-run state in ``run.plugin_state``.
STATE_KEY = "governance"

_MAX_PENDING_TEXTS = 1000


class RunGovernance:
    """Per-run state of the embedded decider."""

    __slots__ = ("collect", "holds_slot", "input_texts", "output_texts")

    def __init__(self) -> None:
        #: True while a content policy covers the run: texts are collected for mid-execution checks.
        self.collect = False
        #: True when a pre-execution check took a concurrency slot for the run.
        self.holds_slot = False
        self.input_texts: list[str] = []
        self.output_texts: list[str] = []

    @staticmethod
    def of(run: Run, create: bool = False) -> RunGovernance | None:
        state = run.plugin_state.get(STATE_KEY)
        if state is None and create:
            state = run.plugin_state[STATE_KEY] = RunGovernance()
        return state

    def _add(self, texts: list[str], value: Any) -> None:
        for text in iter_strings(value):
            if text and len(texts) < _MAX_PENDING_TEXTS:
                texts.append(text)

    def observe_llm_call(self, call: LLMCallRecord) -> None:
        self._add(self.input_texts, call.prompt_preview)
        self._add(self.output_texts, call.response_preview)

    def observe_span(self, span: SpanRecord) -> None:
        kind = span.kind
        if kind == "io":
            self._add(self.input_texts, span.input)
            self._add(self.output_texts, span.output)
        elif kind in ("tool", "retrieval"):
            self._add(self.output_texts, span.output)

    def take_texts(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The texts recorded since the last call (for one mid-execution check)."""
        inputs, outputs = tuple(self.input_texts), tuple(self.output_texts)
        self.input_texts.clear()
        self.output_texts.clear()
        return inputs, outputs


def run_models(run: Run) -> dict[str, tuple[int, float]]:
    """``model -> (tokens, cost)`` of the run so far."""
    return {model: (int(u[0] + u[1]), float(u[2])) for model, u in run.model_usage.items()}


def request_for_run(run: Run, phase: str, state: RunGovernance | None = None) -> PolicyRequest:
    """What ``phase`` looks at: identity and inputs before the run; its records so far during it; and
    its result after it. Mid-execution consumes the texts ``state`` collected since the last check."""
    if phase == PRE_EXECUTION:
        return PolicyRequest(
            agent_name=run.agent_name,
            workflow_name=run.workflow_name,
            user_group=run.user_group,
            user_id=run.user_id,
            run_id=run.run_id,
            inputs=run.inputs,
            metadata=run.metadata,
        )
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    if phase == MID_EXECUTION and state is not None and state.collect:
        inputs, outputs = state.take_texts()
    return PolicyRequest(
        agent_name=run.agent_name,
        workflow_name=run.workflow_name,
        user_group=run.user_group,
        user_id=run.user_id,
        run_id=run.run_id,
        inputs=run.inputs,
        llm_calls=[
            LLMCallInfo(model, int(u[0]), int(u[1]), float(u[2])) for model, u in run.model_usage.items()
        ],
        step_count=run.step_count,
        tool_calls=[ToolCallInfo(name) for name in run.tool_names],
        retries=run.retry_count,
        conversation=run.conversation_state(),
        session_started_at=run.started_at or None,
        input_texts=inputs,
        output_texts=outputs,
        result=(run.result or None) if phase == POST_EXECUTION else None,
        metadata=run.metadata,
    )
