"""One gate answer per call when several integrations see the same call.

A framework integration and a provider integration often see one call: LangChain's ``ChatOpenAI`` calls
the ``openai`` SDK, an OpenAI Agents SDK run gets the model's tool calls from the ``openai`` SDK and then
runs them, a LangChain tool may be an MCP tool whose client is instrumented too. Each would ask its gate,
so a policy would be evaluated twice and a ``warn`` queued and recorded twice. Two marks keep it to one:

* **Holds** (nesting): the outer integration asks the gate, then *holds* the surface for the model or
  tool it asked about, for as long as the call runs (:func:`hold` / :func:`release`, or :func:`holding`); a
  gate asked in this context meanwhile at that surface *for the same model or tool* (the provider's
  ``llm.before`` under a framework's model call, an MCP client's ``tool.before`` under the framework tool
  wrapping it) passes the call through: :func:`held`. Any other model or tool is asked as usual (a
  framework "model" that routes to another model, a tool that calls another tool: the policies may answer
  differently for it). A hold lives in a context variable, so it covers what the call does in its own task
  or thread and the tasks it starts, not unrelated work running at the same time. :func:`release` ends a
  hold wherever it is called from (an async generator closed by the event loop's finaliser releases it
  too), and a hold is only ever made by an integration that asked the gate itself.
* **Answered tool requests** (sequence): when a provider integration gates the tool calls a model's
  response asks for (``tool.before`` before the agent sees them), it remembers each answer on the run
  (:func:`remember_tool_answers`); when a framework then runs that very tool call (same tool name, same
  arguments) and asks ``tool.before``, the answer is taken from there once (:func:`answered_tool`)
  instead of being asked again. A tool run with other arguments, or not requested by a model, is asked.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = [
    "Hold",
    "answered_tool",
    "held",
    "hold",
    "holding",
    "release",
    "remember_tool_answers",
]


def _norm(name: str) -> str:
    return name.strip().lower() if isinstance(name, str) else ""


class Hold:
    """An outer integration asked the gate at ``surface`` about ``name`` (a model or a tool) for the call
    running in this context."""

    __slots__ = ("active", "name", "previous", "surface")

    def __init__(self, surface: str, name: str, previous: Hold | None) -> None:
        self.surface = surface
        self.name = _norm(name)
        self.previous = previous
        self.active = True

    def __repr__(self) -> str:
        return f"Hold({self.surface!r}, {self.name!r}, active={self.active})"


_holds: ContextVar[Hold | None] = ContextVar("waxell_observe_gate_holds", default=None)


def _live(hold: Hold | None) -> Hold | None:
    """``hold`` or its nearest active predecessor (released holds are skipped)."""
    while hold is not None and not hold.active:
        hold = hold.previous
    return hold


def held(surface: str, name: str) -> bool:
    """True when an outer integration holds ``surface`` for ``name`` (the model or tool, compared trimmed
    and in any case) in this context."""
    hold = _holds.get()
    if hold is None:
        return False
    name = _norm(name)
    while hold is not None:
        if hold.active and hold.surface == surface and hold.name == name:
            return True
        hold = hold.previous
    return False


def hold(surface: str, name: str) -> Hold:
    """Hold ``surface`` for ``name`` in this context until :func:`release` (the caller asked its gate about
    this call)."""
    made = Hold(surface, name, _live(_holds.get()))
    _holds.set(made)
    return made


def release(made: Hold | None) -> None:
    """End ``made`` (None: nothing to do). Idempotent; from any context."""
    if made is None or not made.active:
        return
    made.active = False
    if _holds.get() is made:
        _holds.set(_live(made.previous))


@contextmanager
def holding(surface: str, name: str) -> Iterator[Hold]:
    """Hold ``surface`` for ``name`` during the ``with`` block."""
    made = hold(surface, name)
    try:
        yield made
    finally:
        release(made)


# --------------------------------------------------------------------------- answered tool requests

ANSWERS_KEY = "tool_request_answers"
"""Key in ``run.plugin_state``: (tool name, digest of its arguments) -> the answers not yet taken."""
_MAX_ANSWERS = 256
_answers_lock = threading.Lock()


def _key(tool_name: str, tool_args: Any) -> tuple[str, str]:
    try:
        text = json.dumps(tool_args, sort_keys=True, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(tool_args)
    return tool_name, hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _run_of(ctx: Any) -> Any:
    if ctx is None:
        from waxell_observe.current import current_context

        ctx = current_context.get()
    return getattr(ctx, "_run", None) if ctx is not None else None


def remember_tool_answers(answers: Iterable[tuple[str, Any, str]], ctx: Any = None) -> None:
    """Keep the answers (``(tool_name, tool_args signal, action)``) the ``tool.before`` gate gave to the
    tool calls of a model's response, on the run of ``ctx`` (default: the current one; none: nothing kept)."""
    run = _run_of(ctx)
    if run is None:
        return
    with _answers_lock:
        kept: dict[tuple[str, str], list[str]] | None = run.plugin_state.get(ANSWERS_KEY)
        if kept is None:
            kept = run.plugin_state[ANSWERS_KEY] = {}
        for tool_name, tool_args, action in answers:
            if len(kept) >= _MAX_ANSWERS:
                kept.clear()
            kept.setdefault(_key(tool_name, tool_args), []).append(action)


def answered_tool(tool_name: str, tool_args: Any, ctx: Any = None) -> str | None:
    """The answer remembered for this tool call (taken: the next identical call is asked again), or None."""
    run = _run_of(ctx)
    if run is None:
        return None
    kept: dict[tuple[str, str], list[str]] | None = run.plugin_state.get(ANSWERS_KEY)
    if not kept:
        return None
    key = _key(tool_name, tool_args)
    with _answers_lock:
        answers = kept.get(key)
        if not answers:
            return None
        action = answers.pop(0)
        if not answers:
            del kept[key]
    return action
