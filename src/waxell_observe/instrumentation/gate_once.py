"""One gate answer per call when several integrations see the same call.

A framework integration and a provider integration often see one call: LangChain's ``ChatOpenAI`` calls
the ``openai`` SDK, an OpenAI Agents SDK run gets the model's tool calls from the ``openai`` SDK and then
runs them, a LangChain tool may be an MCP tool whose client is instrumented too. Each would ask its gate,
so a policy would be evaluated twice and a ``warn`` queued and recorded twice. Two marks keep it to one:

* **Holds** (nesting): the outer integration asks the gate, then *holds* the answer for the one request its
  call makes underneath (:func:`hold`; :func:`release` when the call ends, or :func:`holding`): the next
  gate asked in this context for the same model (``llm.before``) or the same tool with the same arguments
  (``tool.before``) *takes* the hold instead of asking (:func:`take`) — the ``openai`` request under
  ``ChatOpenAI``, the MCP client call under the framework tool wrapping it. A hold is taken once: a
  second request of the call, a later call, a call of another model or tool, and the outer integration's
  own next call (a sibling prompt of a batch, another call while a stream is open) are all asked. A hold
  lives in a context variable, so it reaches what the call does in its own task or thread and the tasks
  it starts, not unrelated work running at the same time; :func:`release` ends it wherever it is called
  from (an async generator closed by the event loop's finaliser ends its call's hold too).
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
    "args_key",
    "held",
    "hold",
    "holding",
    "in_this_context",
    "release",
    "remember_tool_answers",
    "take",
]


def _norm(name: str) -> str:
    return name.strip().lower() if isinstance(name, str) else ""


def args_key(tool_args: Any) -> str:
    """A digest of a tool call's arguments (the JSON of the gate signal's ``tool_args``, keys sorted)."""
    try:
        text = json.dumps(tool_args, sort_keys=True, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(tool_args)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class Hold:
    """An outer integration's answer at ``surface`` about ``name`` (a model, or a tool and the ``key`` of its
    arguments), held for the request its call makes underneath. ``active`` until taken or released."""

    __slots__ = ("active", "key", "name", "previous", "surface")

    def __init__(self, surface: str, name: str, key: str, previous: Hold | None) -> None:
        self.surface = surface
        self.name = _norm(name)
        self.key = key
        self.previous = previous
        self.active = True

    def __repr__(self) -> str:
        return f"Hold({self.surface!r}, {self.name!r}, active={self.active})"


_holds: ContextVar[Hold | None] = ContextVar("waxell_observe_gate_holds", default=None)


def _live(hold: Hold | None) -> Hold | None:
    """``hold`` or its nearest active predecessor (taken and released holds are skipped)."""
    while hold is not None and not hold.active:
        hold = hold.previous
    return hold


def _find(surface: str, name: str, key: str) -> Hold | None:
    hold = _holds.get()
    if hold is None:
        return None
    name = _norm(name)
    while hold is not None:
        if hold.active and hold.surface == surface and hold.name == name and hold.key == key:
            return hold
        hold = hold.previous
    return None


def held(surface: str, name: str, key: str = "") -> bool:
    """True when an answer at ``surface`` for ``name`` (compared trimmed and in any case) and ``key`` is
    held in this context (not taken yet)."""
    return _find(surface, name, key) is not None


def take(surface: str, name: str, key: str = "") -> bool:
    """Take the answer held for this request, if any (True: the gate need not be asked; the hold is
    spent)."""
    found = _find(surface, name, key)
    if found is None:
        return False
    found.active = False
    return True


def hold(surface: str, name: str, key: str = "") -> Hold:
    """Hold the answer at ``surface`` about ``name`` (and ``key``) for the request the caller's call makes
    underneath, until taken or ended (:func:`release`)."""
    made = Hold(surface, name, key, _live(_holds.get()))
    _holds.set(made)
    return made


def in_this_context(made: Hold) -> bool:
    """True when ``made`` was held in this context (or the one it was copied from) and not ended since
    later holds were made on top of it."""
    hold = _holds.get()
    while hold is not None:
        if hold is made:
            return True
        hold = hold.previous
    return False


def release(made: Hold | None) -> None:
    """End ``made`` (None: nothing to do; taken already: nothing more). Idempotent; from any context."""
    if made is None:
        return
    made.active = False
    if _holds.get() is made:
        _holds.set(_live(made.previous))


@contextmanager
def holding(surface: str, name: str, key: str = "") -> Iterator[Hold]:
    """Hold the answer about ``name`` during the ``with`` block."""
    made = hold(surface, name, key)
    try:
        yield made
    finally:
        release(made)


# --------------------------------------------------------------------------- answered tool requests

ANSWERS_KEY = "tool_request_answers"
"""Key in ``run.plugin_state``: (tool name, digest of its arguments) -> the answers not yet taken."""
_MAX_ANSWERS = 256
_answers_lock = threading.Lock()


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
            kept.setdefault((tool_name, args_key(tool_args)), []).append(action)


def answered_tool(tool_name: str, tool_args: Any, ctx: Any = None) -> str | None:
    """The answer remembered for this tool call (taken: the next identical call is asked again), or None."""
    run = _run_of(ctx)
    if run is None:
        return None
    kept: dict[tuple[str, str], list[str]] | None = run.plugin_state.get(ANSWERS_KEY)
    if not kept:
        return None
    key = (tool_name, args_key(tool_args))
    with _answers_lock:
        answers = kept.get(key)
        if not answers:
            return None
        action = answers.pop(0)
        if not answers:
            del kept[key]
    return action
