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
* :func:`gate_framework_llm` — ``llm.before`` for a model call a framework (LangChain, LlamaIndex, LiteLLM)
  is about to make, whether or not a provider SDK underneath is instrumented; it *holds* its answer for
  the request the call makes underneath, so the provider wrapper there does not ask again.
  :func:`gate_framework_tool` — the same for ``tool.before`` and a tool a framework runs (the MCP client
  call of that tool inside it does not ask again).

Each call is gated once when several integrations see it (:mod:`.gate_once`): the provider gate
(:func:`gate_llm_request`) and an inner tool gate (:func:`gate_tool_call`, an MCP client's
:func:`gate_framework_tool` with ``inner=True``) take the answer an outer integration holds for the same
model, or tool and arguments, instead of asking (once); a framework's own gate always asks. A tool call a
model's response asked for, gated then (:func:`gate_tool_requests`), is not gated again when a framework
runs it with the same arguments (its answer is taken).

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
from waxell_observe.instrumentation.gate_once import (
    Hold,
    answered_tool,
    args_key,
    held,
    hold,
    holding,
    release,
    remember_tool_answers,
    take,
)
from waxell_observe.instrumentation.reading import get

__all__ = [
    "MAX_TOKENS_KEYS",
    "Hold",
    "gate_framework_llm",
    "gate_framework_tool",
    "gate_llm_request",
    "gate_mcp_call",
    "gate_retrieval",
    "gate_tool_call",
    "gate_tool_requests",
    "held",
    "hold",
    "holding",
    "max_tokens_of",
    "projected_tokens",
    "prompt_text",
    "release",
]

MAX_TOKENS_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "max_new_tokens")
"""Where request parameters give the answer's size in tokens (the first one set counts)."""

_LLM = "llm.before"
_TOOL = "tool.before"

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


def max_tokens_of(params: Any) -> Any:
    """The answer's size a request's parameters ask for (:data:`MAX_TOKENS_KEYS`), or None."""
    if not isinstance(params, Mapping):
        return None
    return next((params[key] for key in MAX_TOKENS_KEYS if params.get(key) is not None), None)


def gate_llm_request(
    *,
    provider: str,
    model: str,
    messages: Any = None,
    system: Any = None,
    max_tokens: Any = None,
    tools: list[str] | None = None,
    ctx: Any = None,
) -> GateOutcome | None:
    """``llm.before`` for a request about to be sent (raises ``PolicyViolationError`` on ``block``);
    None when no policy acts there, or when the framework call this request is made for holds its answer
    about this model (taken: the framework asked already). ``ctx``: the run the call belongs to (default:
    the current context)."""
    if take(_LLM, model) or not watching(_LLM, ctx):
        return None
    return _ask_llm_gate(provider, model, messages, system, max_tokens, tools, ctx)


def _ask_llm_gate(
    provider: str,
    model: str,
    messages: Any,
    system: Any,
    max_tokens: Any,
    tools: list[str] | None,
    ctx: Any,
) -> GateOutcome:
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
        ctx, _LLM, signal, default_reason=f"LLM call to {model!r} blocked by governance policy"
    )


def gate_framework_llm(
    *,
    provider: str,
    model: str,
    messages: Any = None,
    system: Any = None,
    max_tokens: Any = None,
    tools: list[str] | None = None,
    ctx: Any = None,
    inner: bool = False,
) -> Hold | None:
    """``llm.before`` for a model call a framework is about to make (raises ``PolicyViolationError`` on
    ``block``, before the model is called); a framework's gate is always asked (a hold of a sibling call
    is never taken here). When the gate was asked, returns its answer held for the request the call makes
    underneath (the provider wrapper there takes it instead of asking again about ``model``), to
    :func:`release` when the call ends. None (nothing to release) when no policy acts at ``llm.before``.
    ``inner=True`` (a router such as LiteLLM, which frameworks call in turn) takes the answer an outer
    integration holds for ``model`` instead of asking, and holds it on for the provider underneath."""
    if not watching(_LLM, ctx):
        return None
    if not (inner and take(_LLM, model)):
        _ask_llm_gate(provider, model, messages, system, max_tokens, tools, ctx)
    return hold(_LLM, model)


def _arguments(arguments: Any) -> Any:
    if isinstance(arguments, str) and arguments:
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def _ask_tool_gate(tool_name: str, signal_args: dict[str, Any], ctx: Any) -> GateOutcome:
    return preventive_gate(
        ctx,
        _TOOL,
        {"tool_name": tool_name, "tool_args": signal_args},
        default_reason=f"Tool '{tool_name}' blocked by governance policy",
    )


def gate_tool_call(tool_name: str, tool_args: Any = None, *, ctx: Any = None) -> Any:
    """``tool.before`` for a tool a framework is about to run (raises ``PolicyViolationError`` on ``block``);
    returns the arguments to run it with (scrubbed on ``redact``). ``ctx``: the run the tool belongs to
    (default: the current context).

    Not asked again (see the module): when the framework tool this call is made from holds its answer
    for this tool and these arguments (taken), nor for the tool call of a model's response a provider
    integration gated already with these arguments (its answer is taken once; a run blocked meanwhile is
    still refused)."""
    if not watching(_TOOL, ctx):
        return tool_args
    from waxell_observe.gating.api import tool_args_signal

    signal_args = tool_args_signal(_arguments(tool_args))
    if take(_TOOL, tool_name, args_key(signal_args)):
        return tool_args
    return _tool_answer(tool_name, tool_args, signal_args, ctx)


def _tool_answer(tool_name: str, tool_args: Any, signal_args: dict[str, Any], ctx: Any) -> Any:
    """The arguments to run the tool with, after its gate (or the answer its model request got)."""
    from waxell_observe.redaction import redact

    action = answered_tool(tool_name, signal_args, ctx)
    if action is None:
        action = _ask_tool_gate(tool_name, signal_args, ctx).action
    else:
        from waxell_observe.gating.gates import _already_blocked, _context

        _already_blocked(_context(ctx))
    return redact(tool_args) if action == "redact" else tool_args


def gate_framework_tool(
    tool_name: str, tool_args: Any = None, *, ctx: Any = None, inner: bool = False
) -> tuple[Any, Hold | None]:
    """``tool.before`` for a tool a framework is about to run (raises ``PolicyViolationError`` on
    ``block``): ``(arguments to run it with — scrubbed on redact —, the answer held for the call of this
    tool the run makes underneath — an instrumented MCP client's —, to :func:`release` when it ends; None
    when no policy acts there)``. A framework's gate is always asked (a model's response may have been
    answered already: see :func:`gate_tool_call`); ``inner=True`` (an MCP client, itself under a
    framework's tool perhaps) takes the answer an outer integration holds for this call instead of asking,
    and holds it on for the server underneath."""
    if not watching(_TOOL, ctx):
        return tool_args, None
    from waxell_observe.gating.api import tool_args_signal

    signal_args = tool_args_signal(_arguments(tool_args))
    if inner and take(_TOOL, tool_name, args_key(signal_args)):
        return tool_args, hold(_TOOL, tool_name, args_key(signal_args))
    allowed = _tool_answer(tool_name, tool_args, signal_args, ctx)
    ran_with = signal_args if allowed is tool_args else tool_args_signal(_arguments(allowed))
    return allowed, hold(_TOOL, tool_name, args_key(ran_with))


def gate_tool_requests(tool_calls: Iterable[Any]) -> None:
    """``tool.before`` for each tool call a model asked for (objects or dicts with ``name`` and
    ``arguments``); raises ``PolicyViolationError`` at the first refused one. The answers are remembered
    on the run: a framework running one of these calls with the same arguments is not asked again."""
    calls = list(tool_calls)
    if not calls or not watching(_TOOL):
        return
    from waxell_observe.gating.api import tool_args_signal

    answers: list[tuple[str, Any, str]] = []
    for call in calls:
        name = get(call, "name")
        if isinstance(name, str) and name:
            signal_args = tool_args_signal(_arguments(get(call, "arguments")))
            answers.append((name, signal_args, _ask_tool_gate(name, signal_args, None).action))
    remember_tool_answers(answers)


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
