"""Actions with consequences outside the agent (reference spec §2.5): code it ran, URLs it fetched,
actions it is about to take, agents it handed work to. Each is kept in the run's conversation state
(``code_executions``, ``network_requests``, ``pending_actions``, ``delegation_data``) where policies
and the dashboard see it; code executions and delegations are also a step (and code executions a
``tool`` span). Text is scrubbed (:mod:`.scrub`) before it is kept; with
``mid_execution_governance`` the run is flushed after each (a ``block`` answer raises).
"""

from __future__ import annotations

import math
from typing import Any

from waxell_observe.context.base import ContextBase
from waxell_observe.context.checks import check_count, check_name
from waxell_observe.context.scrub import scrub
from waxell_observe.conversation import ConversationState
from waxell_observe.gating import recorders as _gates
from waxell_observe.records import SpanRecord
from waxell_observe.run import Run
from waxell_observe.serialize import to_jsonable

__all__ = ["ActionMethods", "CODE_EXECUTION_TOOL_TYPE"]

CODE_EXECUTION_TOOL_TYPE = "code_execution"
"""The ``tool_type`` of a code execution's ``tool`` span."""

_PREVIEW = 500
_SPAN_BODY = 2000


def _strings(values: Any, what: str) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{what} must be a list of strings or None, got {values!r}")
    return list(values)


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    return value


class ActionMethods(ContextBase):
    """The action-recording methods of :class:`~waxell_observe.WaxellContext`."""

    __slots__ = ()

    def _flush_if_governed(self, run: Run) -> None:
        if self.mid_execution_governance:
            self._mid_execution_flush(run)

    # -- code --------------------------------------------------------------------------------

    def record_code_execution(
        self,
        *,
        language: str,
        code: str,
        execution_time: float = 0.0,
        output_size_kb: int = 0,
        output: str = "",
        error: str = "",
        paths: list[str] | None = None,
        packages: list[str] | None = None,
        _skip_otel: bool = False,
    ) -> SpanRecord | None:
        """Code the agent ran (``execution_time`` in seconds): ``code_executions += {language,
        code, execution_time, output_size_kb, paths, packages}``, a step ``code_exec:<language>``
        (output ``{"_kind": "code_execution", language, code_preview, output_preview, error,
        packages}``) and a ``tool`` span ``code_exec:<language>`` (``tool_type``
        ``code_execution``; status ``error`` when ``error`` is given). ``_skip_otel`` is accepted
        for compatibility: the span is exported like every other record."""
        check_name(language, "language")
        _string(code, "code")
        if (
            isinstance(execution_time, bool)
            or not isinstance(execution_time, (int, float))
            or not math.isfinite(execution_time)
            or execution_time < 0
        ):
            raise ValueError(
                f"execution_time must be a non-negative number of seconds, got {execution_time!r}"
            )
        check_count(output_size_kb, "output_size_kb")
        _string(output, "output")
        _string(error, "error")
        given_paths = _strings(paths, "paths")
        given_packages = _strings(packages, "packages")
        run = self._active_run("record_code_execution")
        if run is None:
            return None
        seconds = float(execution_time)
        _gates.before_code(self, language, code, given_paths, given_packages, seconds, output_size_kb)
        kept_code = scrub(code)
        kept_output = scrub(output)
        kept_error = scrub(error)
        self._ensure_conversation(run).append_signal(
            "code_executions",
            {
                "language": language,
                "code": kept_code,
                "execution_time": seconds,
                "output_size_kb": output_size_kb,
                "paths": given_paths,
                "packages": given_packages,
            },
        )
        name = f"code_exec:{language}"
        self._add_step(
            run,
            name,
            {
                "_kind": "code_execution",
                "language": language,
                "code_preview": kept_code[:_PREVIEW],
                "output_preview": kept_output[:_PREVIEW],
                "error": kept_error[:_PREVIEW],
                "packages": given_packages,
            },
        )
        span_output = (
            {
                "output": kept_output[:_SPAN_BODY],
                "error": kept_error[:_PREVIEW],
                "execution_time": seconds,
                "output_size_kb": output_size_kb,
            }
            if output or error or seconds or output_size_kb
            else None
        )
        span = self._add_span(
            run,
            "tool",
            name,
            status="error" if error else "ok",
            duration_ms=seconds * 1000.0 if seconds else None,
            attributes={
                "tool_type": CODE_EXECUTION_TOOL_TYPE,
                "language": language,
                "code_length": len(code),
            },
            input={
                "language": language,
                "code": kept_code[:_SPAN_BODY],
                "packages": given_packages,
                "paths": given_paths,
            },
            output=span_output,
            error=kept_error[:_PREVIEW],
        )
        self._flush_if_governed(run)
        return span

    # -- network -----------------------------------------------------------------------------

    def record_network_request(self, *, url: str) -> None:
        """A URL the agent is about to call: ``network_requests += url`` (scrubbed)."""
        check_name(url, "url")
        run = self._active_run("record_network_request")
        if run is None:
            return
        self._ensure_conversation(run).append_signal("network_requests", scrub(url))
        self._flush_if_governed(run)
        _gates.before_network(self, url)

    # -- pending actions ---------------------------------------------------------------------

    def record_pending_action(self, *, kind: str, tool: str, args: dict[str, Any] | None = None) -> None:
        """An action the agent is about to take (``kind`` ``tool_call``, ...): ``pending_actions
        += {kind, tool, args}`` (args scrubbed; kept alongside other state, not alone)."""
        check_name(kind, "kind")
        _string(tool, "tool")
        if args is not None and not isinstance(args, dict):
            raise ValueError(f"args must be a dict or None, got {type(args).__name__}")
        run = self._active_run("record_pending_action")
        if run is None:
            return
        kept_args = scrub(to_jsonable(dict(args), where="pending action args")) if args else {}
        self._ensure_conversation(run).append_signal(
            "pending_actions", {"kind": kind, "tool": tool, "args": kept_args}, counts=False
        )
        self._flush_if_governed(run)
        _gates.before_pending_tool(self, kind, tool, args)

    # -- delegation --------------------------------------------------------------------------

    def record_delegation(
        self, *, delegate: str, depth: int = 1, approved: bool = True, policies_inherited: bool = True
    ) -> None:
        """Work handed to another agent: ``delegation_data.delegations += {delegate, depth,
        approved, policies_inherited}`` (``delegation_depth`` the deepest, ``concurrent_delegates``
        the delegates in flight) and a step ``delegate:<delegate>`` (output ``{"_kind":
        "delegation", delegate, depth}``)."""
        check_name(delegate, "delegate")
        check_count(depth, "depth")
        run = self._active_run("record_delegation")
        if run is None:
            return
        delegation = self._note_delegation(run, delegate, depth, bool(approved), bool(policies_inherited))
        self._add_step(
            run, f"delegate:{delegate}", {"_kind": "delegation", "delegate": delegate, "depth": depth}
        )
        self._flush_if_governed(run)
        _gates.before_spawn(self, delegate, depth, delegation, bool(approved), bool(policies_inherited))

    def _delegated(self, child: Run) -> None:
        """A context entered inside this one started the run ``child``: record the delegation here
        (``policies_inherited=False``, counted in flight until the child exits) and mark ``child`` as
        a delegate (its ``delegation_data``: ``is_delegate``, ``parent_agent``, its depth)."""
        run = self._run
        if run is None:
            return
        depth = self._delegation_depth() + 1
        self._note_delegation(run, child.agent_name, depth, True, False)
        conversation = child.conversation
        if conversation is None:
            conversation = child.conversation = ConversationState()
        marked = {
            "delegations": [],
            "delegation_depth": depth,
            "concurrent_delegates": 0,
            "is_delegate": True,
            "parent_agent": self.agent_name,
        }
        conversation.update_signal("delegation_data", lambda data: data if data is not None else marked)

    def _delegation_depth(self) -> int:
        """How deep this run is among nested contexts (0 for a run that is nobody's delegate)."""
        depth = 0
        parent = self._parent
        while parent is not None:
            depth += 1
            parent = parent._parent
        return depth

    def _note_delegation(
        self, run: Run, delegate: str, depth: int, approved: bool, policies_inherited: bool
    ) -> dict[str, Any]:
        """Add one delegation to ``delegation_data`` (one more delegate in flight); return it."""
        parent = self._parent
        own_depth = self._delegation_depth()

        def add(data: dict[str, Any] | None) -> dict[str, Any]:
            if data is None:
                data = {
                    "delegations": [],
                    "delegation_depth": own_depth,
                    "concurrent_delegates": 0,
                    "is_delegate": parent is not None,
                    "parent_agent": parent.agent_name if parent is not None else "",
                }
            data["delegations"].append(
                {
                    "delegate": delegate,
                    "depth": depth,
                    "approved": approved,
                    "policies_inherited": policies_inherited,
                }
            )
            data["delegation_depth"] = max(data["delegation_depth"], depth)
            data["concurrent_delegates"] += 1
            return data

        result: dict[str, Any] = self._ensure_conversation(run).update_signal("delegation_data", add)
        return result

    def _delegate_finished(self) -> None:
        """A delegate of this run (a nested context) ended: one delegate fewer in flight."""
        run = self._run
        if run is None or run.conversation is None:
            return

        def done(data: dict[str, Any] | None) -> dict[str, Any] | None:
            if data is not None and data.get("concurrent_delegates", 0) > 0:
                data["concurrent_delegates"] -= 1
            return data

        if "delegation_data" in run.conversation.signals:
            run.conversation.update_signal("delegation_data", done, counts=False)
