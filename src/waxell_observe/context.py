"""WaxellContext: explicit control over one run's lifecycle (the API of record).

``with WaxellContext(agent_name=...) as ctx:`` (or ``async with``) checks policies when
``enforce_policy`` is on, starts a run, lets the body record LLM calls, steps, scores,
tags, metadata and behaviour spans, and completes the run as ``success`` or ``error`` on
exit. Records are announced through the plugin hooks as they are made; sinks deliver
them on a background worker, so the agent's thread does no I/O.

Every recording method validates its input and raises ``ValueError`` for misuse (a bad
tag key, a wrong score type, negative tokens); anything else that goes wrong while
recording is logged and swallowed: telemetry never breaks the agent.
"""

from __future__ import annotations

import logging
import math
import re
import time
import traceback as _traceback
from typing import TYPE_CHECKING, Any, Literal

from waxell_observe import config as _config_module
from waxell_observe import plugins as _plugins
from waxell_observe import policy_gate
from waxell_observe.config import ObserveConfig, get_config
from waxell_observe.current import current_context
from waxell_observe.errors import PolicyViolationError
from waxell_observe.governance.results import PolicyCheckResult, PolicyEvaluation
from waxell_observe.plugins import record_hooks
from waxell_observe.pricing import _facts as _model_facts
from waxell_observe.pricing import model_facts, price
from waxell_observe.records import SPAN_KINDS, LLMCallRecord, ScoreRecord, SpanRecord, StepRecord, new_id
from waxell_observe.records import _take as _take_id
from waxell_observe.run import Run
from waxell_observe.serialize import jsonable, preview, to_jsonable
from waxell_observe.vocabulary.rows import policy_span_attributes, policy_span_status

if TYPE_CHECKING:
    from contextvars import Token
    from types import TracebackType

    from waxell_observe.conversation import ConversationState

__all__ = ["WaxellContext", "SCORE_DATA_TYPES", "TAG_KEY_PATTERN"]

logger = logging.getLogger("waxell_observe")

SCORE_DATA_TYPES = ("numeric", "categorical", "boolean")
TAG_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
_SPAN_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
_TOOL_STATUSES = ("ok", "error")
_RETRY_STRATEGIES = ("retry", "fallback", "circuit_break")
_DECISION_SOURCES = ("manual", "decorator", "auto")
_TRACEBACK_LIMIT = 16_000
_SPAN_KINDS_SORTED = tuple(sorted(SPAN_KINDS))
_INF = math.inf
_time = time.time
_new_object = object.__new__


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


def _check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _check_llm_call(
    model: Any,
    tokens_in: Any,
    tokens_out: Any,
    cached_tokens_in: Any,
    cost: Any,
    duration_ms: Any,
    status: Any,
) -> tuple[float, float | None]:
    """Check :meth:`WaxellContext.record_llm_call`'s arguments; return the cost and duration."""
    if model.__class__ is not str or not model.strip():
        _check_name(model, "model")
    if tokens_in.__class__ is not int or tokens_in < 0:
        _check_tokens(tokens_in, "tokens_in")
    if tokens_out.__class__ is not int or tokens_out < 0:
        _check_tokens(tokens_out, "tokens_out")
    if cached_tokens_in.__class__ is not int or cached_tokens_in < 0:
        _check_tokens(cached_tokens_in, "cached_tokens_in")
    if cost.__class__ is not float or not 0.0 <= cost < _INF:
        cost = _check_cost(cost)
    duration = None if duration_ms is None else _check_duration(duration_ms)
    if status != "ok" and status != "error":
        _check_choice(status, _TOOL_STATUSES, "status")
    return cost, duration


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


def _check_cost(cost: Any) -> float:
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost) or cost < 0:
        raise ValueError(f"cost must be a non-negative number of USD, got {cost!r}")
    return float(cost)


def _add_model_usage(run: Run, model: str, tokens_in: int, tokens_out: int, cost: float) -> None:
    """Count one call in the run's per-model usage ``[tokens_in, tokens_out, cost, calls]``."""
    usage = run.model_usage.get(model)
    if usage is None:
        run.model_usage[model] = [tokens_in, tokens_out, cost, 1]
    else:
        usage[0] += tokens_in
        usage[1] += tokens_out
        usage[2] += cost
        usage[3] += 1


def _context_state(conversation: Any) -> dict[str, Any]:
    return {
        "message_count": conversation.message_count,
        "user_turns": conversation.user_turns,
        "tokens_used": conversation.tokens_in_context,
        "utilization_pct": conversation.context_utilization_pct,
    }


def _check_tokens(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    return value


def _check_duration(value: Any, what: str = "duration_ms") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a number of milliseconds or None, got {value!r}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    return float(value)


def _check_choice(value: Any, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return str(value)


def _violation(verdict: PolicyCheckResult) -> PolicyViolationError:
    """The error for a ``block``/``throttle`` verdict. ``policy_result.metadata["evaluations"]``
    lists each policy's answer as a dict (also available as ``policy_result.evaluations``)."""
    if "evaluations" not in verdict.metadata:
        verdict.metadata["evaluations"] = [evaluation.to_dict() for evaluation in verdict.evaluations]
    reason = verdict.reason or f"policy answered {verdict.action}"
    return PolicyViolationError(f"Policy {verdict.action}: {reason}", verdict)


class WaxellContext:
    """One run of an agent, as a sync or async context manager.

    Parameters are those of the API of record: ``agent_name`` (required),
    ``workflow_name="default"``, ``inputs``, ``metadata``, ``client`` (a configured
    :class:`~waxell_observe.WaxellObserveClient`; ``None`` uses the global configuration),
    ``enforce_policy=True`` (check policies on entry), ``session_id``, ``user_id``,
    ``user_group`` and ``mid_execution_governance=False`` (flush and check governance on every
    ``record_step``). Keyword-only extensions: ``tags`` (initial tags) and ``run_id`` (choose
    the run id instead of generating one).
    """

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
        "_tags",
        "_requested_run_id",
        "_run",
        "_token",
        "_parent",
        "_result",
        "_finished",
        "_inert",
        "_safe_inputs",
        "__weakref__",
    )

    def __init__(
        self,
        agent_name: str,
        workflow_name: str = "default",
        inputs: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        client: Any = None,
        enforce_policy: bool = True,
        session_id: str = "",
        user_id: str = "",
        user_group: str = "",
        mid_execution_governance: bool = False,
        *,
        tags: dict[str, str] | None = None,
        run_id: str | None = None,
    ) -> None:
        if agent_name.__class__ is not str or not agent_name.strip():
            _check_name(agent_name, "agent_name")
        self.agent_name = agent_name
        self.workflow_name = workflow_name or "default"
        if inputs is not None and not isinstance(inputs, dict):
            raise ValueError(f"inputs must be a dict or None, got {type(inputs).__name__}")
        if metadata is not None and not isinstance(metadata, dict):
            raise ValueError(f"metadata must be a dict or None, got {type(metadata).__name__}")
        self.inputs = inputs
        self.metadata = metadata
        self.client = client
        self.enforce_policy = bool(enforce_policy)
        self.session_id = session_id or ""
        self.user_id = user_id or ""
        self.user_group = user_group or ""
        self.mid_execution_governance = bool(mid_execution_governance)
        if tags:
            for key, value in tags.items():
                self._validate_tag(key, value)
            self._tags: dict[str, str] | None = dict(tags)
        else:
            self._tags = None
        self._requested_run_id = run_id
        self._run: Run | None = None
        self._token: Token[WaxellContext | None] | None = None
        self._parent: WaxellContext | None = None
        self._result: dict[str, Any] | None = None
        self._finished = False
        self._inert = False
        self._safe_inputs = False

    @classmethod
    def _for_call(
        cls,
        agent_name: str,
        workflow_name: str,
        inputs: dict[str, Any] | None,
        metadata: dict[str, Any] | None,
        client: Any,
        enforce_policy: bool,
        session_id: str,
        user_id: str,
        user_group: str,
        mid_execution_governance: bool,
        tags: dict[str, str] | None,
    ) -> WaxellContext:
        """A context made by ``@observe`` for one call, from settings it validated and normalised
        (``workflow_name`` not empty, strings not ``None``, flags ``bool``) when it decorated the
        function (``tags``: a fresh copy; ``inputs``: captured, already JSON-safe copies that are
        not converted again). Positional: no keyword matching per call."""
        self = _new_object(cls)
        self.agent_name = agent_name
        self.workflow_name = workflow_name
        self.inputs = inputs
        self.metadata = metadata
        self.client = client
        self.enforce_policy = enforce_policy
        self.session_id = session_id
        self.user_id = user_id
        self.user_group = user_group
        self.mid_execution_governance = mid_execution_governance
        self._tags = tags
        self._requested_run_id = None
        self._run = None
        self._token = None
        self._parent = None
        self._result = None
        self._finished = False
        self._inert = False
        self._safe_inputs = True
        return self

    # -- lifecycle -----------------------------------------------------------------------

    def _config(self) -> ObserveConfig:
        client = self.client
        if client is None:
            return _config_module._current or get_config()
        client_config = getattr(client, "config", None)
        return client_config if isinstance(client_config, ObserveConfig) else get_config()

    def _prepare(self) -> Run | None:
        if self._run is not None or self._finished:
            raise RuntimeError("a WaxellContext can be entered only once; create a new one per run")
        config = (_config_module._current or get_config()) if self.client is None else self._config()
        if not config.enabled:
            self._inert = True
            return None
        parent = current_context.get()
        parent_run = parent._run if parent is not None and not parent._finished else None
        inputs = self.inputs
        if not inputs:
            inputs = {}
        elif not self._safe_inputs:
            inputs = to_jsonable(inputs, where="inputs")
        metadata = self.metadata
        metadata = to_jsonable(metadata, where="metadata") if metadata else {}
        run = _new_object(Run)
        if parent_run is None:
            self._parent = None
            run._setup(
                self.agent_name, config, self.workflow_name, inputs, metadata, self._tags, self.session_id,
                self.user_id, self.user_group, None, self.client, self._requested_run_id,
            )  # fmt: skip
        else:
            self._parent = parent
            run._setup(
                self.agent_name, config, self.workflow_name, inputs, metadata, self._tags,
                self.session_id or parent_run.session_id, self.user_id or parent_run.user_id,
                self.user_group or parent_run.user_group, parent_run, self.client, self._requested_run_id,
            )  # fmt: skip
        return run

    def _admit(self, run: Run, verdict: PolicyCheckResult | None) -> None:
        """Apply the pre-execution verdict, then start the run."""
        if verdict is not None:
            if verdict.blocked:
                raise _violation(verdict)
            if verdict.action == "redact":
                redacted = verdict.metadata.get("redacted_inputs")
                if isinstance(redacted, dict):
                    run.inputs = to_jsonable(redacted, where="redacted inputs")
        run.started_at = _time()
        self._run = run
        self._token = current_context.set(self)
        hooks = _plugins._last_table
        if hooks is not None and hooks.config is run.config and hooks.valid:
            run._hooks = hooks
        else:
            hooks = record_hooks(run)
        try:
            hooks.on_run_start(run)
        except Exception:  # noqa: BLE001 - a plugin never breaks the agent
            hooks.failed("on_run_start")
        parent = self._parent
        if parent is not None and parent._run is not None:
            parent._delegate_to(run)
        if verdict is not None:
            self._record_evaluations(verdict, "pre_execution")

    def __enter__(self) -> WaxellContext:
        run = self._prepare()
        if run is None:
            return self
        if self.enforce_policy:
            self._admit(run, policy_gate.check(run, "pre_execution", "run.start"))
            return self
        # _admit(run, None) written out (the common path: one call less per run)
        run.started_at = _time()
        self._run = run
        self._token = current_context.set(self)
        hooks = _plugins._last_table
        if hooks is not None and hooks.config is run.config and hooks.valid:
            run._hooks = hooks
        else:
            hooks = record_hooks(run)
        try:
            hooks.on_run_start(run)
        except Exception:  # noqa: BLE001 - a plugin never breaks the agent
            hooks.failed("on_run_start")
        parent = self._parent
        if parent is not None and parent._run is not None:
            parent._delegate_to(run)
        return self

    async def __aenter__(self) -> WaxellContext:
        run = self._prepare()
        if run is None:
            return self
        verdict = await policy_gate.acheck(run, "pre_execution", "run.start") if self.enforce_policy else None
        self._admit(run, verdict)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        run = self._run
        if run is None or self._finished:
            return False
        if self.enforce_policy:
            run.result = self._result if self._result is not None else {}  # post-execution checks read it
            verdict = self._safe_check(run, "post_execution", "run.complete")
            self._complete(run, exc, verdict)
            self._raise_if_blocked(exc, verdict)
            return False
        if exc is not None:
            self._complete(run, exc, None)
            return False
        # _complete(run, None, None) written out: the body returned, no policy was asked (the
        # common path, without the branches it does not need and one call less per run)
        try:
            run.status = "success"
            result = self._result
            run.result = result if result is not None else {}
            self._announce_end(run)
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: failed to complete run %s", run.run_id)
        finally:
            self._finished = True
            self._reset_current()
        return False

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        run = self._run
        if run is None or self._finished:
            return False
        verdict = None
        if self.enforce_policy:
            run.result = self._result if self._result is not None else {}  # post-execution checks read it
            try:
                verdict = await policy_gate.acheck(run, "post_execution", "run.complete")
            except Exception:  # noqa: BLE001 - telemetry never breaks the agent
                logger.exception("waxell-observe: post-execution policy check failed")
        self._complete(run, exc, verdict)
        self._raise_if_blocked(exc, verdict)
        return False

    @staticmethod
    def _raise_if_blocked(exc: BaseException | None, verdict: PolicyCheckResult | None) -> None:
        """A post-execution ``block``/``throttle`` raises once the run is completed (status ``blocked``),
        unless the body already raised (that exception propagates)."""
        if exc is None and verdict is not None and verdict.blocked:
            raise _violation(verdict)

    def _safe_check(self, run: Run, phase: str, surface: str) -> PolicyCheckResult | None:
        try:
            return policy_gate.check(run, phase, surface)
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: %s policy check failed", phase)
            return None

    def _complete(self, run: Run, exc: BaseException | None, verdict: PolicyCheckResult | None) -> None:
        try:
            if exc is None:
                run.status = "success"
                if verdict is not None and verdict.blocked:  # raised by _raise_if_blocked after completion
                    run.status = "blocked"
                    run.error = verdict.reason or f"policy answered {verdict.action}"
                    run.error_type = "PolicyViolationError"
            else:
                if isinstance(exc, PolicyViolationError):
                    run.status = "blocked"
                elif isinstance(exc, Exception):
                    run.status = "error"
                else:  # KeyboardInterrupt, CancelledError, GeneratorExit, SystemExit
                    run.status = "interrupted"
                run.error = str(exc) or type(exc).__name__
                run.error_type = type(exc).__name__
                run.traceback = "".join(_traceback.format_exception(type(exc), exc, exc.__traceback__))[
                    -_TRACEBACK_LIMIT:
                ]
            result = self._result
            run.result = result if result is not None else {}
            if verdict is not None:
                redacted = verdict.metadata.get("redacted_result")
                if isinstance(redacted, dict):  # a content policy masked the result: store only the copy
                    run.result = redacted
                run.governance = verdict
                self._record_evaluations(verdict, "post_execution")
            self._announce_end(run)
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: failed to complete run %s", run.run_id)
        finally:
            self._finished = True
            self._reset_current()

    @staticmethod
    def _announce_end(run: Run) -> None:
        """Stamp the end and call ``on_run_end`` (a failing plugin is isolated)."""
        run.ended_at = _time()
        hooks = run._hooks
        if not hooks.valid:
            hooks = record_hooks(run)
        try:
            hooks.on_run_end(run)
        except Exception:  # noqa: BLE001 - a plugin never breaks the agent
            hooks.failed("on_run_end")

    def _reset_current(self) -> None:
        token = self._token
        self._token = None
        if token is None:
            return
        try:
            current_context.reset(token)
        except ValueError:  # exited in another context (e.g. a generator resumed elsewhere)
            if current_context.get() is self:
                current_context.set(self._parent)

    def _delegate_to(self, child: Run) -> None:
        """Record on this (parent) run that it delegated to ``child``."""
        run = self._run
        if run is None:
            return
        position = run.step_count + 1
        run.step_count = position
        step = StepRecord(
            name=f"delegate:{child.agent_name}",
            position=position,
            seq=run.next_position(),
            output={"_kind": "delegation", "child_run_id": child.run_id, "child_agent": child.agent_name},
            started_at=child.started_at,
        )
        _call_hook(run, "on_step", step)

    # -- properties ----------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        """The run's id, or ``""`` if the run has not started."""
        run = self._run
        return run.run_id if run is not None else ""

    @property
    def run(self) -> Run | None:
        """The underlying :class:`~waxell_observe.run.Run` (``None`` before entry or when disabled)."""
        return self._run

    @property
    def parent(self) -> WaxellContext | None:
        """The enclosing context when this run is nested, else ``None``."""
        return self._parent

    @property
    def governance(self) -> PolicyCheckResult | None:
        """The post-execution policy outcome (action, reason, ``retry_feedback``), set on exit."""
        run = self._run
        return run.governance if run is not None else None

    def _conversation(self) -> ConversationState | None:
        run = self._run
        return run.conversation if run is not None else None

    @property
    def conversation_turns(self) -> int:
        """Number of user turns in the conversation."""
        conversation = self._conversation()
        return conversation.user_turns if conversation is not None else 0

    @property
    def context_utilization(self) -> float:
        """Context window usage of the latest LLM call, as a percentage (0-100)."""
        conversation = self._conversation()
        return conversation.context_utilization_pct if conversation is not None else 0.0

    @property
    def message_count(self) -> int:
        """Total messages in the LLM context."""
        conversation = self._conversation()
        return conversation.message_count if conversation is not None else 0

    def _ensure_conversation(self, run: Run) -> ConversationState:
        conversation = run.conversation
        if conversation is None:
            from waxell_observe.conversation import ConversationState

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

    # -- recording -----------------------------------------------------------------------
    #
    # The recording methods run on the agent's thread for every record, so their common path is
    # written for speed: exact-type checks first (the full validation, with its error message, runs
    # only when they fail), positional record construction, and the run's hook table called
    # directly (see ``_call_hook`` for what that saves).

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
    ) -> LLMCallRecord | None:
        """Record an LLM API call (keyword-only).

        ``cost=0.0`` is estimated from the built-in price table; an empty ``provider`` is
        inferred from the model name. Extensions used by integrations: ``status`` and
        ``error_*``, ``cached_tokens_in``, ``started_at``, ``parent_span_id``, ``attributes``,
        and the conversation inputs ``messages``/``system``/``response_text``/
        ``finish_reason``/``response_tool_calls``, which update the run's conversation state.
        """
        cost, duration = _check_llm_call(
            model, tokens_in, tokens_out, cached_tokens_in, cost, duration_ms, status
        )
        run = self._run
        if run is None or self._finished:
            self._active_run("record_llm_call")  # logs why the record is ignored
            return None
        try:
            config = run.config
            limit = 0 if config.capture_content else config.preview_chars
            facts = _model_facts.get(model)
            if facts is None:
                facts = model_facts(model)
            estimated = not cost
            if estimated:
                info = facts[0]
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
            _add_model_usage(run, model, tokens_in, tokens_out, cost)
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
                if config.capture_content and messages is not None:
                    call.attributes["messages"] = to_jsonable(messages, where="messages")
            conversation = run.conversation
            if conversation is not None and not conversation.is_empty:
                # The seed's per-call context state (``waxell.context.*`` on the call's span).
                call.attributes["context"] = _context_state(conversation)
            hooks = run._hooks
            if not hooks.valid:
                hooks = record_hooks(run)
            try:
                hooks.on_llm_call(run, call)
            except Exception:  # noqa: BLE001 - a plugin never breaks the agent
                hooks.failed("on_llm_call")
            if update is not None:
                self._record_turn(run, update)
            return call
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: failed to record an LLM call")
            return None

    def _record_turn(self, run: Run, update: Any) -> None:
        """The user message and agent response an LLM call added to the conversation, as io spans."""
        if update.new_user_message:
            self._record_io(run, "user_message", update.new_user_message, "auto")
        if update.agent_response:
            self._record_io(run, "agent_response", update.agent_response, "auto")

    def record_step(self, step_name: str, output: dict[str, Any] | None = None) -> StepRecord | None:
        """Record a named execution step; steps are numbered 1, 2, ... in order.

        With ``mid_execution_governance=True`` the run's buffered records are flushed and
        policies checked after the step; a ``block``/``throttle`` answer raises
        :class:`~waxell_observe.errors.PolicyViolationError`.
        """
        if step_name.__class__ is not str or not step_name.strip():
            _check_name(step_name, "step_name")
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
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: failed to record step %r", step_name)
        if self.mid_execution_governance:
            self._mid_execution_gate(run)
        return step

    def _mid_execution_gate(self, run: Run) -> None:
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
            raise _violation(verdict)

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
            _check_name(name, "score name")
        if data_type == "numeric":
            if value.__class__ is not float or not -_INF < value < _INF:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError(f"a numeric score needs a finite number, got {value!r} for {name!r}")
                value = float(value)
        else:
            _check_choice(data_type, SCORE_DATA_TYPES, "data_type")
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

    @staticmethod
    def _validate_tag(key: Any, value: Any) -> None:
        if not isinstance(key, str) or not TAG_KEY_PATTERN.match(key):
            raise ValueError(f"tag key {key!r} is invalid: use letters, digits, underscores and hyphens only")
        if not isinstance(value, str):
            raise ValueError(f"tag {key!r} needs a string value, got {type(value).__name__}: {value!r}")

    def set_tag(self, key: str, value: str) -> None:
        """Set a searchable tag (key: letters, digits, ``_``, ``-``; value: a string)."""
        self._validate_tag(key, value)
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

    # -- behaviour spans -------------------------------------------------------------------

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

    def record_span(
        self,
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
        """Record a span of any kind (used by integrations for chains, agents, custom spans).

        ``span_id`` (32 hex characters) lets an integration choose the span's id up front, so
        children recorded before the span itself can name it as their ``parent_span_id``.
        """
        if kind.__class__ is not str or kind not in SPAN_KINDS:
            _check_choice(kind, _SPAN_KINDS_SORTED, "span kind")
        if name.__class__ is not str or not name.strip():
            _check_name(name, "span name")
        if status != "ok" and status != "error":
            _check_choice(status, _TOOL_STATUSES, "status")
        if span_id and not (isinstance(span_id, str) and _SPAN_ID_PATTERN.match(span_id)):
            raise ValueError(f"span_id must be 32 lowercase hex characters, got {span_id!r}")
        run = self._run
        if run is None or self._finished:
            self._active_run("record_span")  # logs why the record is ignored
            return None
        return self._span(
            run,
            kind,
            name,
            status,
            None if duration_ms is None else _check_duration(duration_ms),
            to_jsonable(attributes, where="span attributes") if attributes else {},
            to_jsonable(input, where="span input"),
            to_jsonable(output, where="span output"),
            error,
            parent_span_id,
            started_at,
            span_id,
        )

    def record_tool_call(
        self,
        name: str,
        input: dict[str, Any] | str = "",
        output: dict[str, Any] | str = "",
        duration_ms: float | None = None,
        status: str = "ok",
        tool_type: str = "function",
        error: str = "",
    ) -> SpanRecord | None:
        """Record a tool or function call."""
        if name.__class__ is not str or not name.strip():
            _check_name(name, "tool name")
        if status != "ok" and status != "error":
            _check_choice(status, _TOOL_STATUSES, "status")
        duration = None if duration_ms is None else _check_duration(duration_ms)
        run = self._run
        if run is None or self._finished:
            self._active_run("record_tool_call")  # logs why the record is ignored
            return None
        run.tool_call_count += 1
        run.tool_names.append(name)
        attributes: dict[str, Any] = {"tool_type": tool_type}
        if error:
            attributes["error"] = error
        input = jsonable(input, "input of tool %r", name)
        output = jsonable(output, "output of tool %r", name)
        # _span(run, "tool", name, status, duration, attributes, input, output, error, "", None, "") written
        # out
        try:
            run.span_count += 1
            position = run._positions = run._positions + 1
            try:
                span_id = _take_id()  # new_id() written out
            except IndexError:
                span_id = new_id()
            span = SpanRecord(
                "tool",
                name,
                status,
                duration,
                _time() - (duration or 0.0) / 1000.0,
                attributes,
                input,
                output,
                position,
                span_id,
                "",
                error,
            )
            hooks = run._hooks
            if not hooks.valid:
                hooks = record_hooks(run)
            try:
                hooks.on_span(run, span)
            except Exception:  # noqa: BLE001 - a plugin never breaks the agent
                hooks.failed("on_span")
            return span
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: failed to record a %s span", "tool")
            return None

    def record_retrieval(
        self,
        query: str,
        documents: list[dict[str, Any]],
        source: str = "",
        duration_ms: float | None = None,
        top_k: int | None = None,
        scores: list[float] | None = None,
    ) -> SpanRecord | None:
        """Record a RAG document retrieval."""
        if not isinstance(query, str):
            raise ValueError(f"query must be a string, got {type(query).__name__}")
        if not isinstance(documents, (list, tuple)):
            raise ValueError(f"documents must be a list of dicts, got {type(documents).__name__}")
        duration = _check_duration(duration_ms)
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0):
            raise ValueError(f"top_k must be a non-negative integer or None, got {top_k!r}")
        run = self._active_run("record_retrieval")
        if run is None:
            return None
        docs = to_jsonable(list(documents), where="retrieved documents")
        attributes: dict[str, Any] = {"source": source, "document_count": len(docs)}
        if top_k is not None:
            attributes["top_k"] = top_k
        if scores is not None:
            attributes["scores"] = to_jsonable(list(scores), where="retrieval scores")
        return self._add_span(
            run,
            "retrieval",
            source or "retrieval",
            duration_ms=duration,
            attributes=attributes,
            input={"query": query},
            output={"documents": docs},
        )

    def record_decision(
        self,
        name: str,
        options: list[str],
        chosen: str,
        reasoning: str = "",
        confidence: float | None = None,
        metadata: dict[str, Any] | None = None,
        instrumentation_type: str = "manual",
    ) -> SpanRecord | None:
        """Record a decision or routing point."""
        _check_name(name, "decision name")
        if not isinstance(options, (list, tuple)):
            raise ValueError(f"options must be a list of strings, got {type(options).__name__}")
        if confidence is not None:
            if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
                raise ValueError(f"confidence must be a number between 0 and 1, got {confidence!r}")
            if not 0.0 <= confidence <= 1.0:
                raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
        _check_choice(instrumentation_type, _DECISION_SOURCES, "instrumentation_type")
        run = self._active_run("record_decision")
        if run is None:
            return None
        attributes: dict[str, Any] = {
            "reasoning": reasoning,
            "confidence": confidence,
            "instrumentation_type": instrumentation_type,
        }
        if metadata:
            attributes["metadata"] = to_jsonable(metadata, where=f"metadata of decision {name!r}")
        return self._add_span(
            run,
            "decision",
            name,
            attributes=attributes,
            input={"options": to_jsonable(list(options), where="decision options")},
            output={"chosen": to_jsonable(chosen, where="decision choice")},
        )

    def record_reasoning(
        self, step: str, thought: str, evidence: list[str] | None = None, conclusion: str = ""
    ) -> SpanRecord | None:
        """Record a reasoning or chain-of-thought step."""
        _check_name(step, "reasoning step")
        if not isinstance(thought, str):
            raise ValueError(f"thought must be a string, got {type(thought).__name__}")
        run = self._active_run("record_reasoning")
        if run is None:
            return None
        return self._add_span(
            run,
            "reasoning",
            step,
            attributes={
                "thought": thought,
                "evidence": to_jsonable(list(evidence), where="evidence") if evidence else [],
                "conclusion": conclusion,
            },
        )

    def record_retry(
        self,
        attempt: int,
        reason: str,
        strategy: str = "retry",
        original_error: str = "",
        fallback_to: str = "",
        max_attempts: int | None = None,
    ) -> SpanRecord | None:
        """Record a retry or fallback event."""
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValueError(f"attempt must be an integer >= 1 (1-based), got {attempt!r}")
        _check_choice(strategy, _RETRY_STRATEGIES, "strategy")
        if max_attempts is not None and (isinstance(max_attempts, bool) or not isinstance(max_attempts, int)):
            raise ValueError(f"max_attempts must be an integer or None, got {max_attempts!r}")
        run = self._active_run("record_retry")
        if run is None:
            return None
        run.retry_count += 1
        return self._add_span(
            run,
            "retry",
            strategy,
            attributes={
                "attempt": attempt,
                "reason": reason,
                "strategy": strategy,
                "original_error": original_error,
                "fallback_to": fallback_to,
                "max_attempts": max_attempts,
            },
        )

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
        _check_name(policy_name, "policy_name")
        _check_name(action, "action")
        _check_choice(phase, policy_gate.PHASES, "phase")
        duration = _check_duration(duration_ms) or 0.0
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

    # -- conversation ------------------------------------------------------------------------

    def _record_io(self, run: Run, kind: str, text: str, source: str) -> SpanRecord | None:
        config = run.config
        limit = 0 if config.capture_content else config.preview_chars
        content = preview(text, limit)
        return self._add_span(
            run,
            "io",
            kind,
            attributes={"preview": preview(text, 200), "source": source, "length": len(text)},
            input=content if kind == "user_message" else None,
            output=content if kind == "agent_response" else None,
        )

    def record_user_message(self, text: str) -> SpanRecord | None:
        """Record what the user said (an ``io`` span; updates the conversation state)."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a string, got {type(text).__name__}")
        run = self._active_run("record_user_message")
        if run is None:
            return None
        self._ensure_conversation(run).record_user_message(text)
        return self._record_io(run, "user_message", text, "manual")

    def record_agent_response(self, text: str) -> SpanRecord | None:
        """Record what the agent answered (an ``io`` span; updates the conversation state)."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a string, got {type(text).__name__}")
        run = self._active_run("record_agent_response")
        if run is None:
            return None
        self._ensure_conversation(run).record_agent_response(text)
        return self._record_io(run, "agent_response", text, "manual")

    def __repr__(self) -> str:
        return f"WaxellContext(agent_name={self.agent_name!r}, run_id={self.run_id!r})"
