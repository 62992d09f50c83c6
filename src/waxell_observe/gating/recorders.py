"""The gates inside :class:`~waxell_observe.WaxellContext`'s recorders (spec §2.5 "gov" column), one
function per recorder so each recorder stays a one-line call:

* ``record_llm_call`` → :func:`after_llm_call` (``llm.after``: every call until the run is blocked; a
  block only marks the run blocked, the next preventive gate or flush refuses);
* ``record_step`` → :func:`at_step` (``step.mid``, when the context enforces policies and no
  mid-execution check follows anyway; a block marks the run blocked, a kill-switch block also asks it
  to stop);
* ``record_tool_call`` / ``record_retrieval`` → :func:`~.gates.detect` + :func:`~.gates.enforce`
  (``tool.after`` / ``retrieval.after``, detective) with the signals built here;
* ``check_tool_before_execution`` → :func:`before_tool` (``tool.before``, preventive).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .evaluate import evaluate_surface
from .gates import detect, emit_warns, enforce, preventive_gate, refuse

if TYPE_CHECKING:
    from waxell_observe.run import Run

    from .outcome import GateOutcome

__all__ = [
    "after_llm_call",
    "at_step",
    "before_tool",
    "detect_after",
    "enforce_after",
    "retrieval_signal",
    "tool_after_signal",
]


def after_llm_call(
    ctx: Any,
    run: Run,
    model: str,
    tokens_in: int,
    tokens_out: int,
    cost: float,
    prompt: str,
    response: str,
) -> None:
    """The ``llm.after`` gate of a recorded call (never raises)."""
    if ctx._blocked:
        return
    outcome = evaluate_surface(
        "llm.after",
        {
            "model": model,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "tokens": tokens_in + tokens_out,
            "cost": cost,
            "prompt": prompt,
            "text": response,
            "output": response,
        },
        ctx=ctx,
    )
    if outcome.is_block:
        refuse(ctx, outcome.reason or "Blocked by llm.after policy", outcome, raised=False)  # marks the run
    else:
        emit_warns(ctx, outcome)


def at_step(ctx: Any, step_name: str, output: Any, position: int) -> None:
    """The ``step.mid`` gate after a step (never raises)."""
    if ctx._blocked:
        return
    outcome = evaluate_surface(
        "step.mid", {"step_name": step_name, "output": output, "position": position}, ctx=ctx
    )
    if outcome.is_block:
        refuse(ctx, outcome.reason or "Blocked by step.mid policy", outcome, raised=False)
        if any(
            d["category"] == "kill-switch" and d["action"] in ("block", "throttle") for d in outcome.decisions
        ):
            ctx.request_stop(outcome.reason)
    else:
        emit_warns(ctx, outcome)


def before_tool(ctx: Any, tool_name: str, tool_args: Any = None) -> GateOutcome:
    """The ``tool.before`` gate (raises ``PolicyViolationError`` on ``block``/``throttle``)."""
    from .api import tool_args_signal

    return preventive_gate(
        ctx,
        "tool.before",
        {"tool_name": tool_name, "tool_args": tool_args_signal(tool_args)},
        default_reason=f"Tool '{tool_name}' blocked by governance policy",
    )


def detect_after(ctx: Any, surface: str, signal: dict[str, Any]) -> GateOutcome:
    """A detective gate's evaluation for a recorder (``ctx``: the recording context)."""
    return detect(ctx, surface, signal)


def enforce_after(ctx: Any, outcome: GateOutcome) -> None:
    """Apply a detective outcome once the record is made (raises on ``block``)."""
    enforce(ctx, outcome)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    import json

    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def tool_after_signal(name: str, input: Any, output: Any, status: str, error: str) -> dict[str, Any]:
    """The ``tool.after`` signal of a recorded tool call."""
    return {
        "tool_name": name,
        "tool_args": input if isinstance(input, dict) else {"input": input} if input else {},
        "output": output,
        "text": _text(output),
        "status": status,
        "error": error,
    }


def retrieval_signal(
    query: str, documents: list[Any], source: str, scores: list[float] | None, top_k: int | None
) -> dict[str, Any]:
    """The ``retrieval.after`` signal of a recorded retrieval."""
    return {
        "query": query,
        "source": source,
        "scores": list(scores or []),
        "documents": documents,
        "top_k": top_k,
    }


# --------------------------------------------------------------------------- actions and memory


def before_code(
    ctx: Any,
    language: str,
    code: str,
    paths: list[str],
    packages: list[str],
    execution_time: float,
    output_size_kb: int,
) -> None:
    """The ``code.exec`` gate (preventive, on the raw code), then the code review when a policy asks for
    one and an ``on_policy_block`` handler exists (:mod:`.review`)."""
    outcome = preventive_gate(
        ctx,
        "code.exec",
        {
            "language": language,
            "code": code,
            "text": code,
            "paths": paths,
            "packages": packages,
            "execution_time": execution_time,
            "output_size_kb": output_size_kb,
        },
        default_reason=f"Code execution blocked by governance policy ({language})",
    )
    from .review import review_code

    review_code(ctx, outcome, language, code)


def before_network(ctx: Any, url: str) -> None:
    """The ``network.before`` gate of a URL (preventive)."""
    preventive_gate(
        ctx, "network.before", {"url": url}, default_reason=f"Network request to {url} blocked by policy"
    )


def before_pending_tool(ctx: Any, kind: str, tool: str, args: dict[str, Any] | None) -> None:
    """``tool.before`` for a pending action of kind ``tool_call`` (preventive)."""
    if kind == "tool_call" and tool:
        before_tool(ctx, tool, dict(args) if args else {})


def before_spawn(
    ctx: Any, delegate: str, depth: int, delegation: dict[str, Any], approved: bool, policies_inherited: bool
) -> None:
    """The ``spawn.before`` gate of a delegation (preventive)."""
    preventive_gate(
        ctx,
        "spawn.before",
        {
            "delegate": delegate,
            "tool_name": delegate,
            "depth": depth,
            "delegation_depth": delegation.get("delegation_depth", depth),
            "concurrent_spawns": delegation.get("concurrent_delegates", 0),
            "approved": approved,
            "policies_inherited": policies_inherited,
        },
        default_reason=f"Delegation to '{delegate}' blocked by governance policy",
    )


def after_memory_write(ctx: Any, memory_type: str, content: str) -> None:
    """The ``memory.write`` gate (detective) on the raw content."""
    outcome = detect(ctx, "memory.write", {"memory_type": memory_type, "content": content, "text": content})
    enforce(ctx, outcome)


def after_memory_read(ctx: Any, query: str, store: str, tier: str) -> None:
    """The ``memory.read`` gate (detective)."""
    outcome = detect(ctx, "memory.read", {"query": query, "store": store, "tier": tier})
    enforce(ctx, outcome)


def at_run_error(ctx: Any, error: BaseException) -> None:
    """The ``run.error`` gate when a run's body raised: its answers are recorded on the run (the error
    propagates as it is; nothing is refused)."""
    at_run_failure(ctx, type(error).__name__, str(error) or type(error).__name__)


def at_run_failure(ctx: Any, error_type: str, message: str) -> None:
    """The ``run.error`` gate for a run ending in ``error_type`` without an exception of its own (the
    exit finalizer's ``Interrupted``); as :func:`at_run_error`. The signal: ``error_type``, the message as
    ``error`` and ``text``, and the result the run had set, if any, as ``output``."""
    signal: dict[str, Any] = {"error_type": error_type, "error": message, "text": message}
    result = getattr(ctx, "_result", None)
    if result is not None:
        signal["output"] = result
    outcome = evaluate_surface("run.error", signal, ctx=ctx)
    emit_warns(ctx, outcome)
