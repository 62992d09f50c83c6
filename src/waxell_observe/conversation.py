"""Conversation state derived from the LLM calls of a run.

Every chat-style LLM call sends the whole context, so :class:`ConversationState` reads
each call's ``messages`` and keeps the latest picture of the conversation: how many
messages and user/assistant turns it holds, tool activity, how full the model's context
window is, and a short hash of the system prompt (to spot prompt changes). It also
tells the caller what is *new* in a call (:class:`ConversationUpdate`): the latest user
message (deduplicated across calls) and the agent's final response.

Accepted message shapes, mixed freely:

* OpenAI chat dicts: ``{"role": "system"|"developer"|"user"|"assistant"|"tool",
  "content": str | [{"type": "text", "text": ...}, ...], "tool_calls": [...]}``;
* Anthropic dicts: roles ``user``/``assistant``, content a str or a list of ``text``,
  ``tool_use`` and ``tool_result`` blocks, system prompt passed separately;
* SDK objects with ``.role``/``.content`` attributes (pydantic models);
* LangChain-like messages with ``.type`` in ``human``/``ai``/``system``/``tool``.

Pure stdlib; nothing here raises on odd input shapes, unknown parts are ignored.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from waxell_observe.pricing import context_window

__all__ = ["ConversationState", "ConversationUpdate", "message_text"]

_ROLES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "model": "assistant",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "tool",
}
_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})
_TOOL_USE_TYPES = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
_TOOL_RESULT_TYPE = "tool_result"
_FINAL_REASONS = frozenset({"stop", "end_turn", "stop_sequence", "complete"})


@dataclass(slots=True)
class ConversationUpdate:
    """What one LLM call added to the conversation."""

    new_user_message: str | None = None
    agent_response: str | None = None
    system_prompt_changed: bool = False


# ----------------------------------------------------------------------------- helpers


def _get(obj: Any, key: str) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` otherwise; ``None`` when absent."""
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _role(message: Any) -> str:
    """Normalised role of ``message``: user/assistant/system/tool, or ``""``."""
    role = _get(message, "role")
    if not isinstance(role, str):
        role = _get(message, "type")  # LangChain messages
    if not isinstance(role, str):
        return ""
    return _ROLES.get(role.lower(), "")


def _content(message: Any) -> Any:
    content = _get(message, "content")
    if content is None and isinstance(message, dict):
        content = message.get("parts")  # Gemini-style dicts
    return content


def _as_list(value: Any) -> list[Any]:
    if value is None or isinstance(value, (str, bytes, dict)):
        return []
    try:
        return list(value)
    except TypeError:
        return []


def _part_text(part: Any, *, with_tool_results: bool) -> str:
    """Text carried by one content part (``""`` for images, tool calls, ...)."""
    if isinstance(part, str):
        return part
    kind = _get(part, "type")
    if kind == _TOOL_RESULT_TYPE:
        return _content_text(_get(part, "content"), with_tool_results=True) if with_tool_results else ""
    if kind is None or kind in _TEXT_PART_TYPES:
        text = _get(part, "text")
        return text if isinstance(text, str) else ""
    return ""


def _content_text(content: Any, *, with_tool_results: bool) -> str:
    """Plain text of a message's content (a str or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return _part_text(content, with_tool_results=with_tool_results)
    texts = (_part_text(p, with_tool_results=with_tool_results) for p in _as_list(content))
    return "\n".join(t for t in texts if t)


def message_text(message: Any) -> str:
    """Plain text of any supported message shape (or of bare content / a str).

    Text parts are joined with newlines; the text inside Anthropic ``tool_result``
    blocks is included, images and tool calls are not.
    """
    if message is None:
        return ""
    if isinstance(message, str):
        return message
    if isinstance(message, (list, tuple)):
        return _content_text(message, with_tool_results=True)
    if isinstance(message, dict) and "role" not in message and "content" not in message:
        return _part_text(message, with_tool_results=True)
    return _content_text(_content(message), with_tool_results=True)


def _tool_call_name(call: Any) -> str:
    """Name of an OpenAI / LangChain tool call (dict or object), or ``""``."""
    if isinstance(call, str):
        return call
    function = _get(call, "function")
    name = _get(function, "name") if function is not None else None
    if not isinstance(name, str):
        name = _get(call, "name")
    return name if isinstance(name, str) else ""


def _system_text(system: Any) -> str:
    return _content_text(system, with_tool_results=False)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12] if text else ""


@dataclass(slots=True)
class _Context:
    """What one call's context holds (the parse result, before it touches state)."""

    message_count: int = 0
    user_turns: int = 0
    assistant_turns: int = 0
    tool_results: int = 0
    last_user_text: str = ""  # of the last user turn; "" if it has no text (e.g. image only)
    system_hash: str = ""


def _parse(messages: Any, system: Any, tools: list[str]) -> _Context:
    """Read a context; tool names found in it are appended to ``tools``."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    items = _as_list(messages)
    ctx = _Context(message_count=len(items))
    system_texts: list[str] = []
    if system:
        ctx.message_count += 1
        system_texts.append(_system_text(system))
    for message in items:
        role = _role(message)
        content = _content(message)
        if role == "system":
            system_texts.append(_system_text(content))
        elif role == "user":
            parts = [content] if isinstance(content, (str, dict)) else _as_list(content)
            results = sum(1 for p in parts if _get(p, "type") == _TOOL_RESULT_TYPE)
            ctx.tool_results += results
            if results < len(parts) or content is None:
                ctx.user_turns += 1
                ctx.last_user_text = _content_text(content, with_tool_results=False)
        elif role == "assistant":
            ctx.assistant_turns += 1
            for call in _as_list(_get(message, "tool_calls")):
                tools.append(_tool_call_name(call))
            legacy = _get(message, "function_call")
            if legacy is not None:
                tools.append(_tool_call_name(legacy))
            for part in _as_list(content):
                if _get(part, "type") in _TOOL_USE_TYPES:
                    tools.append(_tool_call_name(part))
        elif role == "tool":
            ctx.tool_results += 1
    ctx.system_hash = _hash("\n".join(t for t in system_texts if t))
    return ctx


def _copy_signal(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy_signal(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy_signal(v) for k, v in value.items()}
    return value


def _is_final(response_text: str | None, finish_reason: str | None, tool_calls: list[Any]) -> bool:
    if not isinstance(response_text, str) or not response_text.strip() or tool_calls:
        return False
    return finish_reason is None or str(finish_reason).lower() in _FINAL_REASONS


# ----------------------------------------------------------------------------- state


class ConversationState:
    """The conversation of one run, as seen through its LLM calls and manual records.

    Count fields describe the latest call's context (each call resends the whole
    context), except ``user_turns``/``assistant_turns``, which never go down, and
    ``tools_used``, which accumulates. Safe to share between threads.
    """

    __slots__ = (
        "_lock",
        "_observations",
        "assistant_turns",
        "context_utilization_pct",
        "last_user_message",
        "message_count",
        "system_prompt_hash",
        "tokens_in_context",
        "signals",
        "tool_results",
        "tools_used",
        "user_turns",
    )

    def __init__(self) -> None:
        self.user_turns = 0
        self.message_count = 0
        self.assistant_turns = 0
        self.tool_results = 0
        self.tokens_in_context = 0
        self.context_utilization_pct = 0.0
        self.system_prompt_hash = ""
        self.tools_used: list[str] = []
        self.last_user_message = ""
        # The run's activity signals: conversation_state keys beyond the counters
        # (communications, grounding_data, privacy_context, prompt_name, ...).
        self.signals: dict[str, Any] = {}
        self._observations = 0
        self._lock = threading.Lock()

    # -- automatic (from LLM calls) ------------------------------------------------------

    def observe_llm_call(
        self,
        *,
        model: str,
        messages: list[Any] | None = None,
        system: str | list[Any] | None = None,
        response_text: str | None = None,
        finish_reason: str | None = None,
        response_tool_calls: list[str] | None = None,
        tokens_in: int = 0,
    ) -> ConversationUpdate:
        """Update the state from one LLM call and report what it added.

        ``messages`` is the context sent (see the module docstring for shapes),
        ``system`` a separately passed system prompt (Anthropic style), and the
        ``response_*``/``finish_reason`` arguments describe the model's answer.
        ``response_tool_calls`` are tool names (tool-call dicts/objects are tolerated).
        """
        found_tools: list[str] = []
        ctx = _parse(messages, system, found_tools)
        response_calls = _as_list(response_tool_calls)
        found_tools.extend(_tool_call_name(c) for c in response_calls)
        tokens = max(int(tokens_in or 0), 0)
        window = context_window(model) if isinstance(model, str) else None
        utilization = round(tokens / window * 100, 1) if window else 0.0
        final = _is_final(response_text, finish_reason, response_calls)

        with self._lock:
            # A call whose context is shorter than the conversation's (a side call: a summariser, a
            # classifier, a truncated retry) does not describe the conversation: its counts, system
            # prompt and tokens would mix with the turns already seen (user_turns above
            # message_count, the system prompt hash emptied). Only its tools and user message count.
            main = ctx.message_count >= self.message_count
            update = ConversationUpdate(
                agent_response=response_text if final else None,
                system_prompt_changed=main
                and self._observations > 0
                and ctx.system_hash != self.system_prompt_hash,
            )
            if ctx.last_user_text and ctx.last_user_text != self.last_user_message:
                update.new_user_message = ctx.last_user_text
                self.last_user_message = ctx.last_user_text
            if main:
                self.message_count = ctx.message_count
                self.user_turns = max(self.user_turns, ctx.user_turns)
                self.assistant_turns = max(self.assistant_turns, ctx.assistant_turns)
                self.tool_results = ctx.tool_results
                self.tokens_in_context = tokens
                self.context_utilization_pct = utilization
                self.system_prompt_hash = ctx.system_hash
            for name in found_tools:
                if name and name not in self.tools_used:
                    self.tools_used.append(name)
            self._observations += 1
        return update

    def observe_tokens(self, window: int | None, tokens_in: int) -> None:
        """An LLM call recorded without its messages (``record_llm_call(model=..., tokens_in=...)``):
        its prompt tokens are what the context holds, so they set ``tokens_in_context`` and the
        utilization of the model's context ``window`` (tokens; ``None`` when unknown); the message
        counts stay as they are."""
        utilization = round(tokens_in / window * 100, 1) if window else 0.0
        with self._lock:
            self.tokens_in_context = tokens_in
            self.context_utilization_pct = utilization
            self._observations += 1

    # -- manual ----------------------------------------------------------------------------

    def overwrite(
        self,
        *,
        user_turns: int,
        message_count: int,
        assistant_turns: int = 0,
        tool_results: int = 0,
        tokens_in_context: int = 0,
        context_utilization_pct: float = 0.0,
        system_prompt_hash: str = "",
    ) -> None:
        """Set the counters as the caller counted them (``update_conversation_state``); the system
        prompt hash only when given."""
        with self._lock:
            self.user_turns = user_turns
            self.message_count = message_count
            self.assistant_turns = assistant_turns
            self.tool_results = tool_results
            self.tokens_in_context = tokens_in_context
            self.context_utilization_pct = context_utilization_pct
            if system_prompt_hash:
                self.system_prompt_hash = system_prompt_hash
            self._observations += 1

    def record_user_message(self, text: str) -> bool:
        """Record a user message by hand; ``False`` (no change) if it repeats the last one."""
        with self._lock:
            if text == self.last_user_message:
                return False
            self.user_turns += 1
            self.message_count += 1
            self.last_user_message = text
            self._observations += 1
            return True

    def record_agent_response(self, text: str) -> None:
        """Record an agent response by hand."""
        with self._lock:
            self.assistant_turns += 1
            self.message_count += 1
            self._observations += 1

    def use_tool(self, name: str) -> None:
        """Add ``name`` to ``tools_used`` (a tool container span, a tool about to run)."""
        with self._lock:
            if name and name not in self.tools_used:
                self.tools_used.append(name)
            self._observations += 1

    # -- activity signals ------------------------------------------------------------------

    def append_signal(self, key: str, item: Any, *, counts: bool = True) -> list[Any]:
        """Append ``item`` to the list signal ``key``; return a copy of the list. ``counts=False``
        for signals that alone do not make the state worth storing (``emitted_signals``, ...)."""
        with self._lock:
            items = self.signals.setdefault(key, [])
            items.append(item)
            if counts:
                self._observations += 1
            return list(items)

    def set_signal(self, key: str, value: Any, *, counts: bool = True) -> None:
        """Set the signal ``key`` (a value, or a dict merged into by the caller beforehand)."""
        with self._lock:
            self.signals[key] = value
            if counts:
                self._observations += 1

    def update_signal(self, key: str, update: Callable[[Any], Any], *, counts: bool = True) -> Any:
        """Set the signal ``key`` to ``update(current)`` under the state's lock (``current`` is the
        stored value itself, ``None`` when never set, so ``update`` may change it in place and
        return it); returns what ``update`` returned. For signals too large to copy on every
        change (the memory state)."""
        with self._lock:
            value = self.signals[key] = update(self.signals.get(key))
            if counts:
                self._observations += 1
            return value

    def signal(self, key: str) -> Any:
        """The signal ``key`` (``None`` when never set); lists and dicts are copies."""
        with self._lock:
            value = self.signals.get(key)
            return _copy_signal(value)

    # -- views -----------------------------------------------------------------------------

    @property
    def is_empty(self) -> bool:
        """True until the first LLM call or manual record is observed."""
        return self._observations == 0

    def to_dict(self) -> dict[str, Any]:
        """The run's ``context.conversation`` payload."""
        with self._lock:
            return {
                "user_turns": self.user_turns,
                "message_count": self.message_count,
                "assistant_turns": self.assistant_turns,
                "tool_results": self.tool_results,
                "tokens_in_context": self.tokens_in_context,
                "context_utilization_pct": self.context_utilization_pct,
                "system_prompt_hash": self.system_prompt_hash,
                "tools_used": list(self.tools_used),
                **{key: _copy_signal(value) for key, value in self.signals.items()},
            }

    def copy(self) -> ConversationState:
        """An independent snapshot of this state."""
        other = ConversationState()
        with self._lock:
            for name in self.__slots__:
                if name != "_lock":
                    setattr(other, name, getattr(self, name))
            other.tools_used = list(self.tools_used)
            other.signals = {key: _copy_signal(value) for key, value in self.signals.items()}
        return other

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"ConversationState({fields})"
