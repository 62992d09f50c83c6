"""The :class:`WaxellContext` class: one run's lifecycle (entry, policy checks, completion),
with the recording methods of :mod:`.recording`, :mod:`.spans`, :mod:`.containers` (``enter_span``),
:mod:`.signals` (activity signals in the conversation state), :mod:`.memory` (memory writes and
recalls), :mod:`.actions` (code executions, network requests, pending actions, delegations),
:mod:`.prompts` and :mod:`.flushing`."""

from __future__ import annotations

import logging
import math
import time
import traceback as _traceback
from typing import TYPE_CHECKING, Any, Literal

from waxell_observe import config as _config_module
from waxell_observe import plugins as _plugins
from waxell_observe import policy_gate
from waxell_observe.config import ObserveConfig, get_config
from waxell_observe.context import exit_approval as _exit_approval
from waxell_observe.context import span_cap as _span_cap
from waxell_observe.context.actions import ActionMethods
from waxell_observe.context.base import _call_hook, _violation
from waxell_observe.context.checks import (
    END_USER_METADATA_KEY,
    check_interaction_mode,
    check_name,
    validate_tag,
)
from waxell_observe.context.containers import SpanContainerMethods
from waxell_observe.context.entry_approval import aadmit_blocked, admit_blocked, handler_for
from waxell_observe.context.flushing import FlushMethods
from waxell_observe.context.human_loop import HumanLoopMethods
from waxell_observe.context.human_records import HumanRecordMethods
from waxell_observe.context.memory import MemoryMethods
from waxell_observe.context.prompts import PromptMethods
from waxell_observe.context.recording import RecordingMethods
from waxell_observe.context.signals import SignalMethods
from waxell_observe.context.spans import SpanMethods
from waxell_observe.current import current_context
from waxell_observe.errors import PolicyViolationError
from waxell_observe.execution_region import stamp as _stamp_region
from waxell_observe.gating import recorders as _gates
from waxell_observe.governance.results import PolicyCheckResult
from waxell_observe.lineage_env import inherit as inherit_lineage
from waxell_observe.plugins import record_hooks
from waxell_observe.records import StepRecord
from waxell_observe.run import Run
from waxell_observe.serialize import to_jsonable
from waxell_observe.vocabulary import INTERRUPTED_ERROR_TYPE

if TYPE_CHECKING:
    from contextvars import Token
    from types import TracebackType


logger = logging.getLogger("waxell_observe")

_INF = math.inf
_policy_quiet = policy_gate.quiet
_allowed = policy_gate.allowed
_time = time.time
_new_object = object.__new__
_TRACEBACK_LIMIT = 16_000


def _refusal_underneath(exc: BaseException) -> bool:
    """True when ``exc`` is a framework's error raised from one of our refusals (Haystack wraps a
    refused tool's ``PolicyViolationError`` in its ``PipelineRuntimeError``, as its ``__cause__``)."""
    cause, seen = exc.__cause__, 0
    while cause is not None and seen < 8:
        if isinstance(cause, PolicyViolationError):
            return True
        cause, seen = cause.__cause__, seen + 1
    return False


class WaxellContext(
    RecordingMethods,
    SpanMethods,
    MemoryMethods,
    ActionMethods,
    HumanRecordMethods,
    SpanContainerMethods,
    SignalMethods,
    PromptMethods,
    FlushMethods,
    HumanLoopMethods,
):
    """One run of an agent, as a sync or async context manager.

    Parameters are those of the API of record: ``agent_name`` (required),
    ``workflow_name="default"``, ``inputs``, ``metadata``, ``client`` (a configured
    :class:`~waxell_observe.WaxellObserveClient`; ``None`` uses the global configuration),
    ``enforce_policy=True`` (check policies on entry), ``session_id``, ``user_id``,
    ``user_group`` and ``mid_execution_governance=False`` (flush and check governance on every
    ``record_step``). Keyword-only: ``end_user_id`` (the end user of a multi-tenant agent, kept as
    ``metadata["tenant_sub_user_id"]``), ``agent_type``, ``auto_grounding`` (retrieval scores are
    also grounding scores), ``interaction_mode`` (``interactive``/``autonomous``/``auto``, else the
    parent context's, else the configuration's), ``on_policy_block``, and our extensions ``tags``
    (initial tags) and ``run_id`` (choose the run id instead of generating one).
    """

    __slots__ = ()

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
        end_user_id: str = "",
        agent_type: str = "",
        auto_grounding: bool = False,
        interaction_mode: str | None = None,
        tags: dict[str, str] | None = None,
        run_id: str | None = None,
        on_policy_block: Any = None,
    ) -> None:
        if agent_name.__class__ is not str or not agent_name.strip():
            check_name(agent_name, "agent_name")
        self.agent_name = agent_name
        self.workflow_name = workflow_name or "default"
        if inputs is not None and not isinstance(inputs, dict):
            raise ValueError(f"inputs must be a dict or None, got {type(inputs).__name__}")
        if metadata is not None and not isinstance(metadata, dict):
            raise ValueError(f"metadata must be a dict or None, got {type(metadata).__name__}")
        if end_user_id:
            if not isinstance(end_user_id, str):
                raise ValueError(f"end_user_id must be a string, got {type(end_user_id).__name__}")
            metadata = dict(metadata or {})
            metadata.setdefault(END_USER_METADATA_KEY, end_user_id)
        metadata = _stamp_region(metadata)  # the process's execution_region (waxell_observe.execution_region)
        if not isinstance(agent_type, str):
            raise ValueError(f"agent_type must be a string, got {type(agent_type).__name__}")
        self.inputs = inputs
        self.metadata = metadata
        self.client = client
        self.enforce_policy = bool(enforce_policy)
        self.session_id = session_id or ""
        self.user_id = user_id or ""
        self.user_group = user_group or ""
        self.mid_execution_governance = bool(mid_execution_governance)
        self.agent_type = agent_type
        self.interaction_mode = check_interaction_mode(interaction_mode)
        self.auto_grounding = bool(auto_grounding)
        if tags:
            for key, value in tags.items():
                validate_tag(key, value)
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
        if on_policy_block is not None and not callable(on_policy_block):
            raise ValueError(
                f"on_policy_block must be callable or None, got {type(on_policy_block).__name__}"
            )
        self._on_policy_block = on_policy_block
        self._loop = None

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
        auto_grounding: bool = False,
    ) -> WaxellContext:
        """A context made by ``@observe`` for one call, from settings it validated and normalised
        (``workflow_name`` not empty, strings not ``None``, flags ``bool``) when it decorated the
        function (``tags``: a fresh copy; ``inputs``: captured, already JSON-safe copies that are
        not converted again). Positional: no keyword matching per call."""
        self = _new_object(cls)
        self.agent_name = agent_name
        self.workflow_name = workflow_name
        self.inputs = inputs
        self.metadata = _stamp_region(metadata)
        self.client = client
        self.enforce_policy = enforce_policy
        self.session_id = session_id
        self.user_id = user_id
        self.user_group = user_group
        self.mid_execution_governance = mid_execution_governance
        self.agent_type = ""
        self.interaction_mode = None
        self.auto_grounding = auto_grounding
        self._tags = tags
        self._requested_run_id = None
        self._run = None
        self._token = None
        self._parent = None
        self._result = None
        self._finished = False
        self._inert = False
        self._safe_inputs = True
        self._on_policy_block = None
        self._loop = None
        return self

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
            inherit_lineage(run)  # WAXELL_PARENT_* exported by the process that started this one
        else:
            self._parent = parent
            run._setup(
                self.agent_name, config, self.workflow_name, inputs, metadata, self._tags,
                self.session_id or parent_run.session_id, self.user_id or parent_run.user_id,
                self.user_group or parent_run.user_group, parent_run, self.client, self._requested_run_id,
            )  # fmt: skip
            assert parent is not None
            if not self.agent_type:
                self.agent_type = parent.user_group
            if self.interaction_mode is None:
                self.interaction_mode = parent.interaction_mode
        if self.agent_type:
            run.agent_type = self.agent_type
        mode = self.interaction_mode
        if mode is not None and mode != "auto":
            run.requested_mode = mode
        return run

    def _admit(self, run: Run, verdict: PolicyCheckResult | None, started_at: float | None = None) -> None:
        """Apply the pre-execution verdict, then start the run (at ``started_at``, else now)."""
        if verdict is not None:
            if verdict.blocked:
                raise _violation(verdict, run)
            if verdict.action == "redact":
                redacted = verdict.metadata.get("redacted_inputs")
                if isinstance(redacted, dict):
                    run.inputs = to_jsonable(redacted, where="redacted inputs")
        run.started_at = _time() if started_at is None else started_at
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
        if self.enforce_policy and not _policy_quiet(run.config):
            verdict = policy_gate.check(run, "pre_execution", "run.start")
            if verdict is not None and verdict.blocked:
                asked = handler_for(self)
                if asked is not None:  # on_policy_block: the refused run asks (approval round recorded on it)
                    admit_blocked(self, run, verdict, *asked)
                    return self
            self._admit(run, verdict)
            return self
        # _admit(run, None) written out (the common path: one call less per run); a check nobody
        # would answer (policy_gate.quiet) allows the run without evaluations: the same as no check
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
        verdict = (
            await policy_gate.acheck(run, "pre_execution", "run.start")
            if self.enforce_policy and not _policy_quiet(run.config)
            else None
        )
        if verdict is not None and verdict.blocked:
            asked = handler_for(self)
            if asked is not None:
                await aadmit_blocked(self, run, verdict, *asked)
                return self
        self._admit(run, verdict)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        run = self._run
        if run is None or self._finished:
            return False
        enforced = self.enforce_policy
        if enforced and (exc is not None or self._loop is not None or not _policy_quiet(run.config)):
            run.result = self._result if self._result is not None else {}  # post-execution checks read it
            verdict = self._safe_check(run, "post_execution", "run.complete")
            if exc is None and verdict is not None and verdict.blocked:
                handler = _exit_approval.completion_handler(self)
                if handler is not None:  # an @observe call: asked while the run is open
                    _exit_approval.ask_at_completion(self, run, verdict, handler)
            self._complete(run, exc, verdict)
            self._raise_if_blocked(exc, verdict, run)
            return False
        if exc is not None or self._loop is not None:
            self._complete(run, exc, None)
            return False
        # _complete(run, None, None) written out: the body returned, no policy was asked or none
        # would answer (the common path, without the branches it does not need and one call less per
        # run); a quiet post-execution check is its ``allow``, nothing to record
        try:
            run.status = "success"
            result = self._result
            run.result = result if result is not None else {}
            if enforced:
                run.governance = _allowed()
            if run._span_cap is None and run._hooks.valid:  # _announce_end(run) written out
                run.ended_at = _time()
                hooks = run._hooks
                try:
                    hooks.on_run_end(run)
                except Exception:  # noqa: BLE001 - a plugin never breaks the agent
                    hooks.failed("on_run_end")
            else:
                self._announce_end(run)
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: failed to complete run %s", run.run_id)
        finally:
            self._finished = True
            if self._parent is None and self._token is not None:  # _reset_current() written out
                token, self._token = self._token, None
                try:
                    current_context.reset(token)
                except ValueError:  # exited in another context (e.g. a generator resumed elsewhere)
                    if current_context.get() is self:
                        current_context.set(None)
            else:
                self._reset_current()
        return False

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        run = self._run
        if run is None or self._finished:
            return False
        verdict = None
        if self.enforce_policy and exc is None and self._loop is None and _policy_quiet(run.config):
            verdict = _allowed()  # nobody would answer: the check's outcome without asking
        elif self.enforce_policy:
            run.result = self._result if self._result is not None else {}  # post-execution checks read it
            try:
                verdict = await policy_gate.acheck(run, "post_execution", "run.complete")
            except Exception:  # noqa: BLE001 - telemetry never breaks the agent
                logger.exception("waxell-observe: post-execution policy check failed")
            if exc is None and verdict is not None and verdict.blocked:
                handler = _exit_approval.completion_handler(self)
                if handler is not None:  # an @observe call: asked while the run is open
                    await _exit_approval.aask_at_completion(self, run, verdict, handler)
        self._complete(run, exc, verdict)
        self._raise_if_blocked(exc, verdict, run)
        return False

    @staticmethod
    def _raise_if_blocked(exc: BaseException | None, verdict: PolicyCheckResult | None, run: Run) -> None:
        """A post-execution ``block``/``throttle`` raises once the run is completed (status ``blocked``),
        unless the body already raised (that exception propagates)."""
        if exc is None and verdict is not None and verdict.blocked:
            raise _violation(verdict, run)

    def _complete(
        self,
        run: Run,
        exc: BaseException | None,
        verdict: PolicyCheckResult | None,
        *,
        evaluations_recorded: bool = False,
    ) -> None:
        try:
            if exc is None:
                run.status = "success"
                if verdict is not None and verdict.blocked:  # raised by _raise_if_blocked after completion
                    run.status = "blocked"
                    run.error = verdict.reason or f"policy answered {verdict.action}"
                    run.error_type = "PolicyViolationError"
                elif self._loop is not None and self._loop.blocked:  # a gate marked it (post-hoc)
                    run.status = "blocked"
                    run.error = self._loop.block_reason or "blocked by policy"
                    run.error_type = "PolicyViolationError"
            else:
                if isinstance(exc, PolicyViolationError) or _refusal_underneath(exc):
                    run.status = "blocked"
                elif isinstance(exc, Exception):
                    run.status = "error"
                    if self.enforce_policy:
                        _gates.at_run_error(self, exc)
                else:  # KeyboardInterrupt, CancelledError, GeneratorExit, SystemExit
                    run.status = "interrupted"
                run.error = str(exc) or type(exc).__name__
                run.error_type = type(exc).__name__
                if isinstance(exc, KeyboardInterrupt):  # Ctrl-C: as SIGTERM's finalizer names it
                    run.error_type = INTERRUPTED_ERROR_TYPE
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
                if not evaluations_recorded:
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
        if run._span_cap is not None:  # the run's tail of spans, held by WAXELL_MAX_SPANS_PER_RUN
            for span in _span_cap.finish(run):
                try:
                    hooks.on_span(run, span)
                except Exception:  # noqa: BLE001 - a plugin never breaks the agent
                    hooks.failed("on_span")
        try:
            hooks.on_run_end(run)
        except Exception:  # noqa: BLE001 - a plugin never breaks the agent
            hooks.failed("on_run_end")

    def _reset_current(self) -> None:
        parent = self._parent
        if parent is not None:
            parent._delegate_finished()
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
        self._delegated(child)

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

    def __repr__(self) -> str:
        return f"WaxellContext(agent_name={self.agent_name!r}, run_id={self.run_id!r})"
