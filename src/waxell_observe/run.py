"""The run: one execution of an agent, as the sinks see it.

A :class:`Run` holds the identity of the execution (agent, workflow, session, user),
its inputs, metadata, tags and result, and running totals. Records are not kept on the
run: each is announced through the hooks as it is made, and sinks deliver it; the run
only keeps the aggregates that governance needs (tokens, cost, counts, models).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from waxell_observe.records import _take as _take_id
from waxell_observe.records import new_id
from waxell_observe.sessions import _defaults as _session_defaults
from waxell_observe.vocabulary import RUN_STATUSES

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig
    from waxell_observe.context.span_cap import SpanCap
    from waxell_observe.conversation import ConversationState
    from waxell_observe.governance.results import PolicyCheckResult, PolicyEvaluation

__all__ = ["Run", "RUN_STATUSES"]


class _Stale:
    """Stands for "no hook table yet" (a table's ``valid`` is False once plugins changed)."""

    __slots__ = ()
    valid = False


_STALE = _Stale()


class Run:
    """State of one run. Created by :class:`~waxell_observe.WaxellContext`; read by plugins."""

    __slots__ = (
        "run_id",
        "agent_name",
        "workflow_name",
        "inputs",
        "metadata",
        "tags",
        "session_id",
        "user_id",
        "user_group",
        "agent_type",
        "parent_run_id",
        "root_run_id",
        "started_at",
        "ended_at",
        "status",
        "error",
        "error_type",
        "traceback",
        "result",
        "config",
        "client",
        "conversation",
        "tokens_in",
        "tokens_out",
        "total_cost",
        "llm_call_count",
        "step_count",
        "span_count",
        "tool_call_count",
        "retry_count",
        "tool_names",
        "model_usage",
        "policy_evaluations",
        "governance",
        "auto_collected",
        "plugin_state",
        "requested_mode",
        "_positions",
        "_span_room",
        "_span_cap",
        "_hooks",
        "_sink",
        "__weakref__",
    )

    def __init__(
        self,
        *,
        agent_name: str,
        config: ObserveConfig,
        workflow_name: str = "default",
        inputs: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        session_id: str = "",
        user_id: str = "",
        user_group: str = "",
        parent: Run | None = None,
        client: Any = None,
        run_id: str | None = None,
    ) -> None:
        self._setup(
            agent_name,
            config,
            workflow_name,
            inputs,
            metadata,
            tags,
            session_id,
            user_id,
            user_group,
            parent,
            client,
            run_id,
        )

    def _setup(
        self,
        agent_name: str,
        config: ObserveConfig,
        workflow_name: str,
        inputs: dict[str, Any] | None,
        metadata: dict[str, Any] | None,
        tags: dict[str, str] | None,
        session_id: str,
        user_id: str,
        user_group: str,
        parent: Run | None,
        client: Any,
        run_id: str | None,
    ) -> None:
        """``__init__`` with positional arguments (the recording API's path: a call with a dozen
        keyword arguments costs more than the body)."""
        if not run_id:
            try:
                run_id = _take_id()  # new_id() written out
            except IndexError:
                run_id = new_id()
        self.run_id: str = run_id
        self.agent_name = agent_name
        self.workflow_name = workflow_name
        self.inputs: dict[str, Any] = inputs if inputs is not None else {}
        self.metadata: dict[str, Any] = metadata if metadata is not None else {}
        self.tags: dict[str, str] = tags if tags is not None else {}
        if not session_id or not user_id:  # session() defaults, below an explicit or a parent's value
            default_session, default_user = _session_defaults.get()
            session_id = session_id or default_session
            user_id = user_id or default_user
        self.session_id = session_id
        self.user_id = user_id
        self.user_group = user_group
        self.agent_type = ""
        """The context's ``agent_type`` (sent with remote policy checks)."""
        if parent is None:
            self.parent_run_id: str = ""
            self.root_run_id: str = ""
        else:
            self.parent_run_id = parent.run_id
            self.root_run_id = parent.root_run_id or parent.run_id
        self.requested_mode = ""
        self.started_at = 0.0
        self.ended_at = 0.0
        self.status = "running"
        self.error = ""
        self.error_type = ""
        self.traceback = ""
        self.result: dict[str, Any] = {}
        self.config = config
        self.client = client
        self.conversation: ConversationState | None = None
        self.tokens_in = 0
        self.tokens_out = 0
        self.total_cost = 0.0
        self.llm_call_count = 0
        self.step_count = 0
        self.span_count = 0
        self.tool_call_count = 0
        self.retry_count = 0
        self.tool_names: list[str] = []
        self.model_usage: dict[str, list[float]] = {}
        """model -> [tokens_in, tokens_out, cost, calls]"""
        self.policy_evaluations: list[PolicyEvaluation] = []
        self.governance: PolicyCheckResult | None = None
        """The post-execution policy outcome, set when the run completes."""
        self.auto_collected = False
        self.plugin_state: dict[str, Any] = {}
        """Per-run scratch space for plugins, keyed by plugin name."""
        self._positions = 0
        self._span_room: float = 0
        """Spans the run records before consulting its span cap again (``context/span_cap.py``)."""
        self._span_cap: SpanCap | None = None
        self._hooks: Any = _STALE
        """The record hooks' :class:`~waxell_observe.plugins.HookTable` for this run's
        configuration, looked up on the first record and again whenever it went stale."""
        self._sink: Any = None
        """The pipeline's (journal, route id) for this run, kept by the pipeline plugin."""

    # -- derived values ------------------------------------------------------------------

    @property
    def total_tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    @property
    def duration_ms(self) -> float | None:
        if not self.ended_at:
            return None
        return round((self.ended_at - self.started_at) * 1000.0, 3)

    @property
    def interaction_mode(self) -> str:
        """``interactive`` or ``autonomous``: the mode the context asked for (``requested_mode``),
        else the configuration's (``init(interaction_mode=...)``), else ``interactive`` when the run
        has a session."""
        mode = self.requested_mode or self.config.interaction_mode
        if mode == "interactive" or mode == "autonomous":
            return mode
        return "interactive" if self.session_id else "autonomous"

    def count_model_usage(self, model: str, tokens_in: int, tokens_out: int, cost: float) -> None:
        """Count one LLM call in :attr:`model_usage` (``model -> [tokens_in, tokens_out, cost, calls]``)."""
        usage = self.model_usage.get(model)
        if usage is None:
            self.model_usage[model] = [tokens_in, tokens_out, cost, 1]
        else:
            usage[0] += tokens_in
            usage[1] += tokens_out
            usage[2] += cost
            usage[3] += 1

    def next_position(self) -> int:
        """The next position in the run's single ordering of records (1, 2, ...)."""
        self._positions += 1
        return self._positions

    def conversation_state(self) -> dict[str, Any]:
        """The conversation state in its stored shape (empty when nothing was observed)."""
        conversation = self.conversation
        if conversation is None or conversation.is_empty:
            return {}
        return conversation.to_dict()

    def mark_started(self) -> None:
        self.started_at = time.time()

    def __repr__(self) -> str:
        return f"Run(run_id={self.run_id!r}, agent_name={self.agent_name!r}, status={self.status!r})"
