"""What every part of :class:`~waxell_observe.WaxellContext` shares: its slots, and the
primitives its recording methods build on (the active run, spans, policy evaluations)."""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any

from waxell_observe import policy_gate
from waxell_observe.context import span_cap as _span_cap
from waxell_observe.context.checks import check_choice, check_duration, check_name
from waxell_observe.context.open_spans import OPEN as _OPEN
from waxell_observe.context.open_spans import innermost as innermost_open_span
from waxell_observe.conversation import ConversationState
from waxell_observe.errors import PolicyViolationError
from waxell_observe.governance.results import PolicyCheckResult, PolicyEvaluation
from waxell_observe.plugins import record_hooks
from waxell_observe.records import ScoreRecord, SpanRecord, StepRecord, new_id
from waxell_observe.records import _take as _take_id
from waxell_observe.run import Run
from waxell_observe.serialize import preview, to_jsonable
from waxell_observe.vocabulary.rows import policy_span_attributes, policy_span_status

if TYPE_CHECKING:
    from contextvars import Token

    from waxell_observe.context.human_loop import LoopState
    from waxell_observe.context.waxell_context import WaxellContext

logger = logging.getLogger("waxell_observe")

_INF = math.inf
_time = time.time
_new_object = object.__new__
_TRACEBACK_LIMIT = 16_000


def _call_hook(run: Run, hook_name: str, *args: Any) -> None:
    """Call a record hook for ``run`` through its hook table, isolated. The recording methods
    inline this (``hooks.on_step(run, step)`` in a ``try``): a single implementation (the
    pipeline's, usually) is then called directly, one Python call per record instead of three
    (``emit``, the dispatch loop, the isolating wrapper)."""
    hooks = run._hooks
    if not hooks.valid:
        hooks = record_hooks(run)
    try:
        getattr(hooks, hook_name)(run, *args)
    except Exception:  # noqa: BLE001 - a plugin never breaks the agent
        hooks.failed(hook_name)


def _violation(verdict: PolicyCheckResult, run: Run | None = None) -> PolicyViolationError:
    """The error for a ``block``/``throttle`` verdict on ``run``. ``policy_result.metadata["evaluations"]``
    lists each policy's answer as a dict (also available as ``policy_result.evaluations``); the error
    names the run (``run_id``, ``agent_name``, ``workflow_name``) when it is given."""
    if "evaluations" not in verdict.metadata:
        verdict.metadata["evaluations"] = [evaluation.to_dict() for evaluation in verdict.evaluations]
    reason = verdict.reason or f"policy answered {verdict.action}"
    error = PolicyViolationError(f"Policy {verdict.action}: {reason}", verdict)
    if run is not None:
        error.run_id = run.run_id
        error.agent_name = run.agent_name
        error.workflow_name = run.workflow_name
    return error


class ContextBase:
    """The state of a :class:`~waxell_observe.WaxellContext` and the primitives its parts share."""

    __slots__ = (
        "agent_name",
        "workflow_name",
        "inputs",
        "metadata",
        "client",
        "enforce_policy",
        "session_id",
        "user_id",
        "user_group",
        "mid_execution_governance",
        "agent_type",
        "interaction_mode",
        "auto_grounding",
        "_tags",
        "_requested_run_id",
        "_run",
        "_token",
        "_parent",
        "_result",
        "_finished",
        "_inert",
        "_safe_inputs",
        "_on_policy_block",
        "_loop",
        "__weakref__",
    )

    agent_name: str
    workflow_name: str
    inputs: dict[str, Any] | None
    metadata: dict[str, Any] | None
    client: Any
    enforce_policy: bool
    session_id: str
    user_id: str
    user_group: str
    mid_execution_governance: bool
    agent_type: str
    """The agent's type as the context was given it; else, at entry, the parent context's user group
    (the reference SDK's rule); else ``""``."""
    interaction_mode: str | None
    """``interactive``, ``autonomous`` or ``auto`` as given; else, at entry, the parent context's (``None``:
    the configuration decides, see :attr:`Run.interaction_mode`)."""
    auto_grounding: bool
    """``record_retrieval`` with scores also records them as grounding scores (``record_grounding``)."""
    _tags: dict[str, str] | None
    _requested_run_id: str | None
    _run: Run | None
    _token: Token[WaxellContext | None] | None
    _parent: WaxellContext | None
    _result: dict[str, Any] | None
    _finished: bool
    _inert: bool
    _safe_inputs: bool
    _on_policy_block: Any
    """The ``on_policy_block`` handler given to this context (``None``: the parent's or ``init()``'s)."""
    _loop: LoopState | None
    """Feedback queue, stop request and block mark (:mod:`.human_loop`), made on first use."""

    def _safe_check(self, run: Run, phase: str, surface: str) -> PolicyCheckResult | None:
        try:
            return policy_gate.check(run, phase, surface)
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: %s policy check failed", phase)
            return None

    def _conversation(self) -> ConversationState | None:
        run = self._run
        return run.conversation if run is not None else None

    def _ensure_conversation(self, run: Run) -> ConversationState:
        conversation = run.conversation
        if conversation is None:
            conversation = run.conversation = ConversationState()
        return conversation

    def _active_run(self, what: str) -> Run | None:
        run = self._run
        if run is None or self._finished:
            if not self._inert:
                logger.warning(
                    "waxell-observe: %s called outside an active run of %r; ignored", what, self.agent_name
                )
            return None
        return run

    def _add_span(
        self,
        run: Run,
        kind: str,
        name: str,
        *,
        status: str = "ok",
        duration_ms: float | None = None,
        attributes: dict[str, Any] | None = None,
        input: Any = None,
        output: Any = None,
        error: str = "",
        parent_span_id: str = "",
        started_at: float | None = None,
        span_id: str = "",
    ) -> SpanRecord | None:
        return self._span(
            run,
            kind,
            name,
            status,
            duration_ms,
            attributes,
            input,
            output,
            error,
            parent_span_id,
            started_at,
            span_id,
        )

    def _span(
        self,
        run: Run,
        kind: str,
        name: str,
        status: str,
        duration_ms: float | None,
        attributes: dict[str, Any] | None,
        input: Any,
        output: Any,
        error: str,
        parent_span_id: str,
        started_at: float | None,
        span_id: str,
    ) -> SpanRecord | None:
        """:meth:`_add_span` with positional arguments (the common path)."""
        try:
            if _OPEN[0] and not parent_span_id:
                parent_span_id = innermost_open_span(run.run_id)  # inside an enter_span container
            run.span_count += 1
            if started_at is None:
                started_at = _time() - (duration_ms or 0.0) / 1000.0
            position = run._positions = run._positions + 1
            if not span_id:
                try:
                    span_id = _take_id()  # new_id() written out
                except IndexError:
                    span_id = new_id()
            span = SpanRecord(
                kind,
                name,
                status,
                duration_ms,
                started_at,
                attributes if attributes is not None else {},
                input,
                output,
                position,
                span_id,
                parent_span_id,
                error,
            )
            if run.span_count > run._span_room and not _span_cap.admit(run, span):
                return span  # held for the run's tail, or dropped (WAXELL_MAX_SPANS_PER_RUN)
            hooks = run._hooks
            if not hooks.valid:
                hooks = record_hooks(run)
            try:
                hooks.on_span(run, span)
            except Exception:  # noqa: BLE001 - a plugin never breaks the agent
                hooks.failed("on_span")
            return span
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: failed to record a %s span", kind)
            return None

    def record_policy_check(
        self,
        policy_name: str,
        action: str,
        category: str = "",
        reason: str = "",
        duration_ms: float = 0,
        phase: str = "pre_execution",
        priority: int = 100,
        metadata: dict[str, Any] | None = None,
    ) -> SpanRecord | None:
        """Record a policy evaluation result as a governance (``policy``) span."""
        check_name(policy_name, "policy_name")
        check_name(action, "action")
        check_choice(phase, policy_gate.PHASES, "phase")
        duration = check_duration(duration_ms) or 0.0
        run = self._active_run("record_policy_check")
        if run is None:
            return None
        attributes = policy_span_attributes(
            policy_name=policy_name,
            action=action,
            category=category,
            reason=reason,
            phase=phase,
            priority=priority,
            metadata=to_jsonable(metadata, where="policy metadata") if metadata else None,
        )
        return self._add_span(
            run,
            "policy",
            policy_name,
            status=policy_span_status(action),
            duration_ms=duration,
            attributes=attributes,
        )

    def _record_evaluations(self, result: PolicyCheckResult, phase: str) -> None:
        """Record every non-allow evaluation of ``result`` as a policy span."""
        run = self._run
        if run is None:
            return
        evaluations: list[PolicyEvaluation] = [e for e in result.evaluations if e.action != "allow"]
        if not evaluations and result.action != "allow":
            evaluations = [PolicyEvaluation("policy", "", result.action, result.reason, 0.0, {}, phase)]
        for evaluation in evaluations:
            run.policy_evaluations.append(evaluation)
            try:
                self.record_policy_check(
                    policy_name=evaluation.policy_name or "policy",
                    action=evaluation.action,
                    category=evaluation.category,
                    reason=evaluation.reason,
                    duration_ms=evaluation.duration_ms or 0.0,
                    phase=phase,
                    metadata=evaluation.metadata or None,
                )
            except ValueError:
                logger.warning("waxell-observe: could not record policy evaluation %r", evaluation)

    def _mid_execution_gate(self, run: Run) -> None:
        """Flush the run's records and check policies mid-execution; raise on ``block``/``throttle``
        (the spec's mid-execution flush, after ``record_step`` and the activity signals)."""
        try:
            flushed = policy_gate.flush_run(run)
            checked = policy_gate.check(run, "mid_execution", "step.mid")
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: mid-execution governance failed")
            return
        from waxell_observe.governance.results import strictest

        verdict = strictest([flushed, checked])
        self._record_evaluations(verdict, "mid_execution")
        if verdict.blocked:
            raise _violation(verdict, run)

    def _mid_execution_flush(self, run: Run) -> None:
        """The reference SDK's mid-execution flush after a recorded action (tool call, retrieval,
        activity signal): deliver the run's records now and apply the governance the sinks answer
        (a control plane's verdict on what it received; nothing in embedded mode), raising on
        ``block``/``throttle``. Unlike :meth:`_mid_execution_gate` (after ``record_step``), no
        policy check of its own."""
        try:
            verdict = policy_gate.flush_run(run)
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: mid-execution flush failed")
            return
        self._record_evaluations(verdict, "mid_execution")
        if verdict.blocked:
            raise _violation(verdict, run)

    def _add_step(self, run: Run, name: str, output: dict[str, Any] | None) -> StepRecord | None:
        """Record a step made by a recording method (``comm:<channel>``, ``grounding_check``, ...);
        ``output`` is JSON-safe already."""
        try:
            position = run.step_count = run.step_count + 1
            step = StepRecord(name, position, output, _time(), new_id(), run.next_position())
            _call_hook(run, "on_step", step)
            return step
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: failed to record step %r", name)
            return None

    def _add_score(self, run: Run, name: str, value: float, comment: str = "") -> ScoreRecord | None:
        """Record a numeric score made by a recording method (``grounding_score``, ...)."""
        try:
            score = ScoreRecord(name, float(value), "numeric", comment, _time(), new_id())
            _call_hook(run, "on_score", score)
            return score
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: failed to record score %r", name)
            return None

    def _record_io(
        self, run: Run, kind: str, text: str, source: str, metadata: dict[str, Any] | None = None
    ) -> SpanRecord | None:
        config = run.config
        limit = 0 if config.capture_content else config.preview_chars
        content = preview(text, limit)
        attributes: dict[str, Any] = {"preview": preview(text, 200), "source": source, "length": len(text)}
        if metadata:
            attributes["metadata"] = to_jsonable(metadata, where=f"metadata of {kind}")
        return self._add_span(
            run,
            "io",
            kind,
            attributes=attributes,
            input=content if kind == "user_message" else None,
            output=content if kind == "agent_response" else None,
        )
