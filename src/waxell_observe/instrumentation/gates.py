"""The surface gates every integration calls, before a request leaves and after results come back.

* :func:`gate_llm_request` — ``llm.before`` (model, projected tokens, the prompt's text) before a provider
  request is sent: the shared provider wrappers (:func:`~.wrappers.begin_call`) call it for every
  OpenAI / Anthropic / third-party endpoint, so a ``block`` raises
  :class:`~waxell_observe.errors.PolicyViolationError` and no HTTP request is made.
* :func:`gate_tool_call` — ``tool.before`` (tool name and arguments) before a framework runs a tool
  (LangChain's tool start, LlamaIndex's tool call); :func:`gate_tool_requests` — ``tool.before`` for each tool
  call a model's response asks the agent to make (the provider wrappers, unless a framework runs the tools
  and gates them itself): the response never reaches an agent that would run a refused tool.
* :func:`gate_retrieval` — ``retrieval.after`` (query, documents, scores) for integrations that record
  retrievals without :meth:`~waxell_observe.WaxellContext.record_retrieval` (which gates by itself).
* :func:`gate_mcp_call` — ``mcp.before`` (server and tool) before an MCP tool call.

Building a signal (the prompt's text, say) costs something, so each helper first asks
:func:`~waxell_observe.gating.evaluate.watching` whether any policy acts at the surface for the current
identity; with no policy in sight a helper costs a few dictionary lookups.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from waxell_observe.gating.evaluate import watching
from waxell_observe.gating.gates import detective_gate, preventive_gate
from waxell_observe.gating.outcome import GateOutcome
from waxell_observe.instrumentation.reading import get

__all__ = [
    "gate_llm_request",
    "gate_mcp_call",
    "gate_retrieval",
    "gate_tool_call",
    "gate_tool_requests",
    "projected_tokens",
    "prompt_text",
]

_MAX_PROMPT_CHARS = 20_000
_CHARS_PER_TOKEN = 4


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
                continue
            text = get(part, "text")
            if isinstance(text, str):
                parts.append(text)
            elif isinstance(get(part, "content"), str):
                parts.append(get(part, "content"))
        return "\n".join(parts)
    return ""


def prompt_text(messages: Any, system: Any = None) -> str:
    """The text of a request's system prompt and messages (strings, ``{"role", "content"}`` dicts or SDK
    objects, content as a string or a list of parts), newline-joined; the last 20,000 characters."""
    texts = [_content_text(system)] if system is not None else []
    if isinstance(messages, str):
        texts.append(messages)
    elif isinstance(messages, Iterable) and not isinstance(messages, (bytes, Mapping)):
        for message in messages:
            if isinstance(message, str):
                texts.append(message)
            else:
                texts.append(_content_text(get(message, "content")))
    text = "\n".join(t for t in texts if t)
    return text[-_MAX_PROMPT_CHARS:]


def projected_tokens(text: str, max_tokens: Any = None) -> int:
    """A request's projected size in tokens: its text at ~4 characters a token, plus the answer's
    ``max_tokens`` when one is set."""
    limit = max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else 0
    return (len(text) + _CHARS_PER_TOKEN - 1) // _CHARS_PER_TOKEN + max(limit, 0)


def gate_llm_request(
    *,
    provider: str,
    model: str,
    messages: Any = None,
    system: Any = None,
    max_tokens: Any = None,
    tools: list[str] | None = None,
) -> GateOutcome | None:
    """``llm.before`` for a request about to be sent (raises ``PolicyViolationError`` on ``block``);
    None when no policy acts there."""
    if not watching("llm.before"):
        return None
    text = prompt_text(messages, system)
    signal: dict[str, Any] = {
        "model": model,
        "provider": provider,
        "projected_tokens": projected_tokens(text, max_tokens),
        "text": text,
        "prompt": text,
    }
    if tools:
        signal["tools"] = list(tools)
    return preventive_gate(
        None, "llm.before", signal, default_reason=f"LLM call to {model!r} blocked by governance policy"
    )


def _arguments(arguments: Any) -> Any:
    if isinstance(arguments, str) and arguments:
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def gate_tool_call(tool_name: str, tool_args: Any = None, *, ctx: Any = None) -> Any:
    """``tool.before`` for a tool a framework is about to run (raises ``PolicyViolationError`` on ``block``);
    returns the arguments to run it with (scrubbed on ``redact``). ``ctx``: the run the tool belongs to
    (default: the current context)."""
    if not watching("tool.before", ctx):
        return tool_args
    from waxell_observe.gating.api import tool_args_signal
    from waxell_observe.redaction import redact

    outcome = preventive_gate(
        ctx,
        "tool.before",
        {"tool_name": tool_name, "tool_args": tool_args_signal(_arguments(tool_args))},
        default_reason=f"Tool '{tool_name}' blocked by governance policy",
    )
    return redact(tool_args) if outcome.action == "redact" else tool_args


def gate_tool_requests(tool_calls: Iterable[Any]) -> None:
    """``tool.before`` for each tool call a model asked for (objects or dicts with ``name`` and
    ``arguments``); raises ``PolicyViolationError`` at the first refused one."""
    calls = list(tool_calls)
    if not calls or not watching("tool.before"):
        return
    for call in calls:
        name = get(call, "name")
        if isinstance(name, str) and name:
            gate_tool_call(name, _arguments(get(call, "arguments")))


def gate_retrieval(
    query: str,
    documents: list[Any],
    *,
    source: str = "",
    scores: list[float] | None = None,
    top_k: int | None = None,
    ctx: Any = None,
) -> GateOutcome | None:
    """``retrieval.after`` (detective) for retrieved ``documents`` (raises ``PolicyViolationError`` on
    ``block``); None when no policy acts there. ``ctx``: the run (default: the current context)."""
    if not watching("retrieval.after", ctx):
        return None
    from waxell_observe.gating.recorders import retrieval_signal

    return detective_gate(ctx, "retrieval.after", retrieval_signal(query, documents, source, scores, top_k))


def gate_mcp_call(server_name: str, tool_name: str = "", tool_args: Any = None) -> GateOutcome | None:
    """``mcp.before`` for an MCP tool call (raises ``PolicyViolationError`` on ``block``)."""
    if not watching("mcp.before"):
        return None
    from waxell_observe.gating.api import tool_args_signal

    return preventive_gate(
        None,
        "mcp.before",
        {
            "server_name": server_name,
            "server": server_name,
            "tool_name": tool_name,
            "tool_args": tool_args_signal(_arguments(tool_args)),
        },
        default_reason=f"MCP server '{server_name}' blocked by governance policy",
    )
