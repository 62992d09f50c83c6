"""Recording on a run: LLM calls, steps, scores, tags, metadata, the result, the conversation's
messages, and mid-execution policy checks.

These run on the agent's thread for every record, so their common path is written for speed:
exact-type checks first (the full check, with its error message, runs only when they fail),
positional record construction, and the run's hook table called directly (see ``_call_hook``).
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any

from waxell_observe import policy_gate
from waxell_observe.context.base import ContextBase
from waxell_observe.context.checks import (
    SCORE_DATA_TYPES,
    SPAN_KINDS_SORTED,
    check_choice,
    check_llm_call,
    check_name,
    reference_llm_extras,
    validate_tag,
)
from waxell_observe.context.open_spans import OPEN as _OPEN
from waxell_observe.context.open_spans import innermost as innermost_open_span
from waxell_observe.gating import recorders as _gates
from waxell_observe.gating.evaluate import idle as gate_idle
from waxell_observe.governance.results import PolicyCheckResult
from waxell_observe.plugins import record_hooks
from waxell_observe.pricing import _facts as _model_facts
from waxell_observe.pricing import model_facts, price, priced_for
from waxell_observe.records import SPAN_KINDS, LLMCallRecord, ScoreRecord, SpanRecord, StepRecord, new_id
from waxell_observe.records import _take as _take_id
from waxell_observe.run import Run
from waxell_observe.serialize import jsonable, preview, to_jsonable

if TYPE_CHECKING:
    from waxell_observe.conversation import ConversationUpdate
    from waxell_observe.pricing import ModelInfo

logger = logging.getLogger("waxell_observe")

_INF = math.inf
_time = time.time
_new_object = object.__new__
_TRACEBACK_LIMIT = 16_000


def _llm_attributes(
    attributes: dict[str, Any] | None, cached_tokens_in: int, finish_reason: str | None
) -> dict[str, Any]:
    """An LLM call's attributes: the caller's (as JSON values), the cached tokens, the finish reason."""
    extra = to_jsonable(attributes, where="LLM call attributes") if attributes else {}
    if cached_tokens_in:
        extra["cached_tokens_in"] = cached_tokens_in
    if finish_reason:
        extra["finish_reason"] = finish_reason
    return extra


_NOT_A_CONTEXT = frozenset({"embeddings", "embedding"})
"""Operations (the ``operation`` attribute integrations set) whose input is not a conversation."""


def _reference_inputs(
    run: Run | None,
    messages: list[Any] | None,
    response_text: str | None,
    attributes: dict[str, Any] | None,
    prompt_hash: str,
    full_messages: list[Any] | None,
    full_response: Any,
    config: dict[str, Any] | None,
    prompt_variables: dict[str, Any] | None,
    is_streaming: bool,
    ttft_ms: float | None,
    chunk_count: int | None,
    auto_instrumented: bool,
    framework: str,
) -> tuple[list[Any] | None, str | None, dict[str, Any]]:
    """The reference SDK's optional ``record_llm_call`` parameters as ours: ``full_messages`` are
    the messages, a string ``full_response`` the response text, the rest call attributes
    (``full_response`` only with ``capture_content``)."""
    if messages is None:
        messages = full_messages
    if response_text is None and isinstance(full_response, str):
        response_text = full_response
    if full_response is not None and (run is None or not run.config.capture_content):
        full_response = None  # content: stored only with capture_content
    extra = reference_llm_extras(
        attributes, prompt_hash, full_response, config, prompt_variables, is_streaming, ttft_ms, chunk_count,
        auto_instrumented, framework,
    )  # fmt: skip
    return messages, response_text, extra


def _context_state(conversation: Any) -> dict[str, Any]:
    return {
        "message_count": conversation.message_count,
        "user_turns": conversation.user_turns,
        "tokens_used": conversation.tokens_in_context,
        "utilization_pct": conversation.context_utilization_pct,
    }


class RecordingMethods(ContextBase):
    """The recording methods of :class:`~waxell_observe.WaxellContext` (records and run state)."""

    __slots__ = ()

    def record_llm_call(
        self,
        *,
        model: str,
        tokens_in: int,
        tokens_out: int,
        cost: float = 0.0,
        task: str = "",
        prompt_preview: str = "",
        response_preview: str = "",
        duration_ms: float | None = None,
        provider: str = "",
        framework: str = "",
        status: str = "ok",
        error_type: str = "",
        error_message: str = "",
        cached_tokens_in: int = 0,
        started_at: float | None = None,
        parent_span_id: str = "",
        attributes: dict[str, Any] | None = None,
        messages: list[Any] | None = None,
        system: Any = None,
        response_text: str | None = None,
        finish_reason: str | None = None,
        response_tool_calls: list[Any] | None = None,
        prompt_hash: str = "",
        full_messages: list[Any] | None = None,
        full_response: Any = None,
        config: dict[str, Any] | None = None,
        prompt_variables: dict[str, Any] | None = None,
        is_streaming: bool = False,
        ttft_ms: float | None = None,
        chunk_count: int | None = None,
        _auto_instrumented: bool = False,
    ) -> LLMCallRecord | None:
        """Record an LLM API call (keyword-only).

        ``cost=0.0`` is estimated from the built-in price table; an empty ``provider`` is
        inferred from the model name. Extensions used by integrations: ``status`` and
        ``error_*``, ``cached_tokens_in``, ``started_at``, ``parent_span_id``, ``attributes``,
        and the conversation inputs ``messages``/``system``/``response_text``/
        ``finish_reason``/``response_tool_calls``, which update the run's conversation state.
        The reference SDK's ``framework`` (the agent framework that made the call), ``prompt_hash``,
        ``full_messages`` (as ``messages``),
        ``full_response`` (as ``response_text`` when a string; stored with ``capture_content``),
        ``config``, ``prompt_variables``, ``is_streaming``, ``ttft_ms`` and ``chunk_count`` are
        stored in the call's attributes (:func:`~waxell_observe.context.checks.reference_llm_extras`).
        A call recorded without messages still sets the context's tokens and utilization.
        """
        cost, duration = check_llm_call(
            model, tokens_in, tokens_out, cached_tokens_in, cost, duration_ms, status
        )
        if (
            prompt_hash
            or full_messages is not None
            or full_response is not None
            or config is not None
            or prompt_variables is not None
            or is_streaming
            or ttft_ms is not None
            or chunk_count is not None
            or _auto_instrumented
            or framework
        ):
            messages, response_text, attributes = _reference_inputs(
                self._run, messages, response_text, attributes, prompt_hash, full_messages, full_response,
                config, prompt_variables, is_streaming, ttft_ms, chunk_count, _auto_instrumented, framework,
            )  # fmt: skip
        run = self._run
        if run is None or self._finished:
            self._active_run("record_llm_call")  # logs why the record is ignored
            return None
        try:
            settings = run.config
            limit = 0 if settings.capture_content else settings.preview_chars
            facts = _model_facts.get(model)
            if facts is None:
                facts = model_facts(model)
            estimated = not cost
            if estimated:
                info = facts[0] if not provider else priced_for(facts[0], provider)
                if info is not None:
                    cost = price(info, tokens_in, tokens_out, cached_tokens_in)
            now = _time()
            extra = _llm_attributes(attributes, cached_tokens_in, finish_reason)
            if prompt_preview.__class__ is not str or len(prompt_preview) > limit > 0:
                prompt_preview = preview(prompt_preview, limit)
            if response_preview.__class__ is not str or len(response_preview) > limit > 0:
                response_preview = preview(response_preview, limit)
            position = run._positions = run._positions + 1
            try:
                call_id = _take_id()  # new_id() written out
            except IndexError:
                call_id = new_id()
            if _OPEN[0] and not parent_span_id:
                parent_span_id = innermost_open_span(run.run_id)  # inside an enter_span container
            call = LLMCallRecord(
                model, tokens_in, tokens_out, cost, provider or facts[1], task or "", prompt_preview,
                response_preview, duration, status, error_type, error_message,
                started_at if started_at is not None else now - (duration or 0.0) / 1000.0,
                position, call_id, parent_span_id, extra,
            )  # fmt: skip
            run.tokens_in += tokens_in
            run.tokens_out += tokens_out
            total = run.total_cost
            # An estimated cost is rounded to 10 places already, and round() is idempotent on floats:
            # the first call of a run then needs no second (costly) rounding, with the same result.
            run.total_cost = total + cost if estimated and total == 0.0 else round(total + cost, 10)
            run.llm_call_count += 1
            run.count_model_usage(model, tokens_in, tokens_out, cost)
            update = self._converse(
                run, call, model, facts[0], tokens_in, messages, system, response_text, finish_reason,
                response_tool_calls,
            )  # fmt: skip
            hooks = run._hooks
            if not hooks.valid:
                hooks = record_hooks(run)
            try:
                hooks.on_llm_call(run, call)
            except Exception:  # noqa: BLE001 - a plugin never breaks the agent
                hooks.failed("on_llm_call")
            if update is not None:
                self._record_turn(run, update)
            if not gate_idle(self):
                _gates.after_llm_call(
                    self,
                    run,
                    model,
                    tokens_in,
                    tokens_out,
                    cost,
                    prompt_preview,
                    response_text or response_preview,
                )
            return call
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: failed to record an LLM call")
            return None

    def _converse(
        self,
        run: Run,
        call: LLMCallRecord,
        model: str,
        info: ModelInfo | None,
        tokens_in: int,
        messages: list[Any] | None,
        system: Any,
        response_text: str | None,
        finish_reason: str | None,
        response_tool_calls: list[Any] | None,
    ) -> ConversationUpdate | None:
        """Update the run's conversation state with an LLM call (its messages, else its prompt
        tokens) and stamp the call with the context state (the seed's ``waxell.context.*``)."""
        update = None
        if messages is not None or system is not None or response_text is not None:
            update = self._ensure_conversation(run).observe_llm_call(
                model=model,
                messages=messages,
                system=system,
                response_text=response_text,
                finish_reason=finish_reason,
                response_tool_calls=response_tool_calls,
                tokens_in=tokens_in,
            )
            if messages is not None and run.config.capture_content:
                call.attributes["messages"] = to_jsonable(messages, where="messages")
        elif tokens_in and call.attributes.get("operation") not in _NOT_A_CONTEXT:
            # A call recorded by hand (no messages): its prompt tokens are the context's size.
            conversation = run.conversation
            if conversation is None:
                conversation = self._ensure_conversation(run)
            conversation.observe_tokens(info.context_window if info is not None else None, tokens_in)
            if not conversation.message_count:
                return None  # no messages seen: the call's own tokens and model say it all
        conversation = run.conversation
        if conversation is not None and not conversation.is_empty:
            call.attributes["context"] = _context_state(conversation)
        return update

    def _record_turn(self, run: Run, update: Any) -> None:
        """The user message and agent response an LLM call added to the conversation, as io spans."""
        if update.new_user_message:
            self._record_io(run, "user_message", update.new_user_message, "auto")
        if update.agent_response:
            self._record_io(run, "agent_response", update.agent_response, "auto")

    def record_step(
        self,
        step_name: str,
        output: dict[str, Any] | None = None,
        *,
        kind: str = "chain",
        attributes: dict[str, Any] | None = None,
    ) -> StepRecord | None:
        """Record a named execution step; steps are numbered 1, 2, ... in order.

        ``kind`` (a span kind, default ``chain``) and ``attributes`` (the reference SDK's step
        parameters): when either is given, the step also gets a span of that kind, named after
        it, with the attributes, the output and ``step_position``.

        With ``mid_execution_governance=True`` the run's buffered records are flushed and
        policies checked after the step; a ``block``/``throttle`` answer raises
        :class:`~waxell_observe.errors.PolicyViolationError`.
        """
        if step_name.__class__ is not str or not step_name.strip():
            check_name(step_name, "step_name")
        if kind != "chain" or attributes is not None:
            if kind not in SPAN_KINDS:
                check_choice(kind, SPAN_KINDS_SORTED, "step kind")
            if attributes is not None and not isinstance(attributes, dict):
                raise ValueError(f"attributes must be a dict or None, got {type(attributes).__name__}")
        run = self._run
        if run is None or self._finished:
            self._active_run("record_step")  # logs why the record is ignored
            return None
        step = None
        try:
            position = run.step_count = run.step_count + 1
            seq = run._positions = run._positions + 1
            if output is not None:
                output = jsonable(output, "output of step %r", step_name)
            try:
                step_id = _take_id()  # new_id() written out
            except IndexError:
                step_id = new_id()
            step = StepRecord(step_name, position, output, _time(), step_id, seq)
            hooks = run._hooks
            if not hooks.valid:
                hooks = record_hooks(run)
            try:
                hooks.on_step(run, step)
            except Exception:  # noqa: BLE001 - a plugin never breaks the agent
                hooks.failed("on_step")
            if kind != "chain" or attributes:
                self._step_span(run, step, kind, attributes)
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: failed to record step %r", step_name)
        if self.mid_execution_governance:
            self._mid_execution_gate(run)
        elif self.enforce_policy and not gate_idle(self):
            _gates.at_step(self, step_name, step.output if step is not None else output, run.step_count)
        return step

    def _step_span(self, run: Run, step: StepRecord, kind: str, attributes: dict[str, Any] | None) -> None:
        """The span of a step recorded with a ``kind`` or ``attributes`` (checked by ``record_step``)."""
        values = to_jsonable(attributes, where=f"attributes of step {step.name!r}") if attributes else {}
        values["step_position"] = step.position
        self._add_span(
            run, kind, step.name, attributes=values, output=step.output, started_at=step.started_at
        )

    def set_result(self, result: Any) -> None:
        """Set the run's result (a dict; any other value is stored as ``{"output": value}``)."""
        if self._run is None and not self._inert and not self._finished:
            logger.warning("waxell-observe: set_result called before the run of %r started", self.agent_name)
        if not isinstance(result, dict):
            result = {"output": result}
        self._result = to_jsonable(result, where="result")

    def _set_safe_result(self, result: Any) -> None:
        """:meth:`set_result` for a value that is a JSON-safe copy already (``@observe`` captured
        it with ``capture_json``): not converted again."""
        if self._run is None and not self._inert and not self._finished:
            logger.warning("waxell-observe: set_result called before the run of %r started", self.agent_name)
        self._result = result if result.__class__ is dict else {"output": result}

    def check_policy_sync(self) -> PolicyCheckResult:
        """Mid-execution policy check; returns the result and never raises."""
        run = self._run
        if run is None or self._finished:
            return PolicyCheckResult("allow")
        result = self._safe_check(run, "mid_execution", "step.mid") or PolicyCheckResult("allow")
        self._record_evaluations(result, "mid_execution")
        return result

    async def check_policy(self) -> PolicyCheckResult:
        """Async mid-execution policy check; returns the result and never raises."""
        run = self._run
        if run is None or self._finished:
            return PolicyCheckResult("allow")
        try:
            result = await policy_gate.acheck(run, "mid_execution", "step.mid")
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: mid-execution policy check failed")
            return PolicyCheckResult("allow")
        self._record_evaluations(result, "mid_execution")
        return result

    def record_score(
        self, name: str, value: float | str | bool, data_type: str = "numeric", comment: str = ""
    ) -> ScoreRecord | None:
        """Record a quality score: ``numeric`` (a number), ``categorical`` (a string) or
        ``boolean`` (a bool)."""
        if name.__class__ is not str or not name.strip():
            check_name(name, "score name")
        if data_type == "numeric":
            if value.__class__ is not float or not -_INF < value < _INF:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError(f"a numeric score needs a finite number, got {value!r} for {name!r}")
                value = float(value)
        else:
            check_choice(data_type, SCORE_DATA_TYPES, "data_type")
            if data_type == "boolean":
                if not isinstance(value, bool):
                    raise ValueError(f"a boolean score needs True or False, got {value!r} for {name!r}")
            elif not isinstance(value, str):
                raise ValueError(f"a categorical score needs a string, got {value!r} for {name!r}")
        if comment.__class__ is not str and not isinstance(comment, str):
            raise ValueError(f"comment must be a string, got {type(comment).__name__}")
        run = self._run
        if run is None or self._finished:
            self._active_run("record_score")  # logs why the record is ignored
            return None
        try:
            score_id = _take_id()  # new_id() written out
        except IndexError:
            score_id = new_id()
        score = ScoreRecord(name, value, data_type, comment, _time(), score_id)
        hooks = run._hooks
        if not hooks.valid:
            hooks = record_hooks(run)
        try:
            hooks.on_score(run, score)
        except Exception:  # noqa: BLE001 - a plugin never breaks the agent
            hooks.failed("on_score")
        return score

    def set_tag(self, key: str, value: str) -> None:
        """Set a searchable tag (key: letters, digits, ``_``, ``-``; value: a string)."""
        validate_tag(key, value)
        run = self._active_run("set_tag")
        if run is not None:
            run.tags[key] = value

    def set_metadata(self, key: str, value: Any) -> None:
        """Set a metadata value; values JSON cannot hold are stored as their ``repr``."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"metadata key must be a non-empty string, got {key!r}")
        run = self._active_run("set_metadata")
        if run is not None:
            run.metadata[key] = to_jsonable(value, where=f"metadata {key!r}")

    def record_user_message(
        self, content: str = "", *, message: str = "", metadata: dict[str, Any] | None = None
    ) -> SpanRecord | None:
        """Record what the user said (an ``io`` span; updates the conversation state).
        ``message`` is the reference SDK's alias of ``content``; ``metadata`` goes into the
        span's attributes. With ``mid_execution_governance`` the run is then flushed (a control
        plane's ``block`` answer raises :class:`~waxell_observe.errors.PolicyViolationError`)."""
        text = content or message
        if not isinstance(text, str):
            raise ValueError(f"content must be a string, got {type(text).__name__}")
        run = self._active_run("record_user_message")
        if run is None:
            return None
        self._ensure_conversation(run).record_user_message(text)
        span = self._record_io(run, "user_message", text, "manual", metadata)
        if self.mid_execution_governance:
            self._mid_execution_flush(run)
        return span

    def record_agent_response(
        self, content: str, *, metadata: dict[str, Any] | None = None
    ) -> SpanRecord | None:
        """Record what the agent answered (an ``io`` span; updates the conversation state);
        ``metadata`` goes into the span's attributes. With ``mid_execution_governance`` the run is
        then flushed (a control plane's ``block`` answer raises)."""
        if not isinstance(content, str):
            raise ValueError(f"content must be a string, got {type(content).__name__}")
        run = self._active_run("record_agent_response")
        if run is None:
            return None
        self._ensure_conversation(run).record_agent_response(content)
        span = self._record_io(run, "agent_response", content, "manual", metadata)
        if self.mid_execution_governance:
            self._mid_execution_flush(run)
        return span
