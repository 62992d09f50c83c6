"""The top-level gates of the reference SDK for hand-written dispatch: :func:`gate_tool` and
:func:`gate_memory_delete`. Both work without an open context (the process identity of
``init(agent_name=...)`` / ``WAXELL_AGENT_NAME`` is used)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from waxell_observe.redaction import redact

from .evaluate import evaluate_surface
from .gates import _already_blocked, _context, emit_warns, refuse
from .outcome import GateOutcome

__all__ = ["gate_memory_delete", "gate_tool", "tool_args_signal"]


def tool_args_signal(tool_args: Any) -> dict[str, Any]:
    """The ``tool_args`` of a gate signal: the dict itself, ``{}`` for None, else ``{"input": value}``."""
    if isinstance(tool_args, dict):
        return tool_args
    if tool_args is None:
        return {}
    return {"input": tool_args}


def gate_tool(tool_name: str, tool_args: Any = None) -> Any:
    """Pre-flight for a tool call: the ``tool.before`` gate with ``{"tool_name", "tool_args"}``.

    ``block``/``throttle`` marks the run blocked and raises
    :class:`~waxell_observe.errors.PolicyViolationError` (``Tool '<name>' blocked by governance policy``
    when the policy gave no reason); ``redact`` returns ``redact(tool_args)``; anything else (warns are
    queued as feedback; gates off or failing) returns ``tool_args`` unchanged.
    """
    if tool_name.__class__ is not str or not tool_name.strip():
        from waxell_observe.context.checks import check_name

        check_name(tool_name, "tool_name")
    ctx = _context(None)
    _already_blocked(ctx)
    outcome = evaluate_surface(
        "tool.before", {"tool_name": tool_name, "tool_args": tool_args_signal(tool_args)}, ctx=ctx
    )
    if outcome.is_block:
        raise refuse(ctx, outcome.reason or f"Tool '{tool_name}' blocked by governance policy", outcome)
    emit_warns(ctx, outcome)
    if outcome.action == "redact":
        return redact(tool_args)
    return tool_args


def gate_memory_delete(*, ids: Iterable[Any] | None = None, query: str = "", store: str = "") -> GateOutcome:
    """Pre-flight for a destructive memory operation: the ``memory.delete`` gate with
    ``{"ids", "query", "store"}``. ``block`` (only) raises
    :class:`~waxell_observe.errors.PolicyViolationError` (``Blocked by memory.delete policy
    (store=<store>)`` without a reason); warns are queued; returns the :class:`GateOutcome` (``allow``
    when the gate is off or fails)."""
    if not isinstance(query, str) or not isinstance(store, str):
        raise ValueError("gate_memory_delete: query and store must be strings")
    ctx = _context(None)
    outcome = evaluate_surface(
        "memory.delete", {"ids": list(ids or []), "query": query, "store": store}, ctx=ctx
    )
    if outcome.action == "block":
        raise refuse(ctx, outcome.reason or f"Blocked by memory.delete policy (store={store})", outcome)
    emit_warns(ctx, outcome)
    return outcome
