"""What one ``query()`` or ``ClaudeSDKClient`` session of the Claude Agent SDK turns into.

A :class:`Session` follows the messages the program receives from the Claude Code CLI and cuts them
into turns: a turn starts when a prompt is sent (``query()``'s prompt, ``ClaudeSDKClient.query()``;
a prompt stream's later prompts start theirs at their first message) and ends at its ``result``
message (or when the stream fails, the program stops reading a ``query()``, or the client
disconnects). A turn's records are written when it ends, on the run that was current when it
started (outside any run, a run of its own: agent ``claude-agent``, workflow ``claude-agent-sdk``,
unless ``WAXELL_CLAUDE_AGENT_SDK_AUTOCONTEXT`` is ``false``/``0``/``no``/``off``):

* an ``agent`` span ``claude-agent``: the prompt, the result text, the CLI's session id, model, tools,
  turn count, durations, the turn's usage and cost, the tools the CLI refused; an error result
  (``is_error``) or a failure of the stream (the CLI's exit code) marks it failed;
* one LLM call per API call the CLI made (an assistant ``message.id``; the CLI sends one message per
  content block), with its model, tokens (see :mod:`~waxell_observe_claude_agent_sdk.usage`), its
  share of the turn's cost, the text and tool calls it answered, time to first token when the
  program asked for partial messages (``include_partial_messages``), and the API error the CLI
  reported on it (``AssistantMessage.error``);
* one ``tool`` span per ``tool_use`` block, closed by its ``tool_result``: input, output, error
  (``is_error``), and the ``tool.before`` refusal when governance denied it
  (:meth:`Session.pre_tool_use`, the ``PreToolUse`` hook this package adds to the options).

Calls and tools of a subagent (messages with a ``parent_tool_use_id``) nest under the span of the
``Task`` tool that started it. Nothing here raises into the SDK: failures are logged.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from claude_agent_sdk import (
    AssistantMessage,
    HookContext,
    HookInput,
    HookJSONOutput,
    ResultMessage,
    StreamEvent,
    SystemMessage,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)

from waxell_observe import pricing
from waxell_observe.context import WaxellContext
from waxell_observe.context.open_spans import innermost
from waxell_observe.current import current_context
from waxell_observe.errors import PolicyViolationError
from waxell_observe.instrumentation import autocontext_enabled, gate_tool_call
from waxell_observe.records import new_id
from waxell_observe_claude_agent_sdk.usage import (
    USAGE_FIELDS,
    Usage,
    apportion,
    merge,
    read_usage,
    shortfall,
    token_counts,
)

__all__ = [
    "AGENT_NAME",
    "AUTOCONTEXT_VARIABLE",
    "FRAMEWORK",
    "PROVIDER",
    "RECORDED_FROM",
    "WORKFLOW",
    "ErrorResult",
    "Session",
    "autocontext",
]

logger = logging.getLogger("waxell_observe")

FRAMEWORK = "claude-agent-sdk"
WORKFLOW = "claude-agent-sdk"
AGENT_NAME = "claude-agent"
PROVIDER = "anthropic"
RECORDED_FROM = "claude_cli"
"""``recorded_from`` of every model call: the CLI makes them, no provider integration sees them."""
AUTOCONTEXT_VARIABLE = "WAXELL_CLAUDE_AGENT_SDK_AUTOCONTEXT"
_INIT_ATTRIBUTES = {
    "session_id": "claude.session_id",
    "model": "claude.model",
    "tools": "claude.tools",
    "permissionMode": "claude.permission_mode",
    "claude_code_version": "claude.cli_version",
}
"""Fields of the CLI's ``system``/``init`` message kept as agent span attributes."""


def autocontext() -> bool:
    """False when ``WAXELL_CLAUDE_AGENT_SDK_AUTOCONTEXT`` turns off runs of a turn's own."""
    return autocontext_enabled(AUTOCONTEXT_VARIABLE)


class ErrorResult(Exception):
    """A turn the CLI ended with an error result: what a turn's own run fails with."""


@dataclass(slots=True)
class _Call:
    """One API call of the CLI (one assistant ``message.id``)."""

    message_id: str
    model: str
    parent_tool_use_id: str | None
    started_at: float
    t0: float
    ended: float = 0.0
    texts: list[str] = field(default_factory=list)
    tool_names: list[str] = field(default_factory=list)
    usage: Usage | None = None
    from_result: Usage | None = None
    ttft_ms: float | None = None
    streamed: bool = False
    stop_reason: str | None = None
    error: str = ""


@dataclass(slots=True)
class _Tool:
    """One ``tool_use`` block, until its ``tool_result``."""

    tool_use_id: str
    name: str
    input: Any
    parent_tool_use_id: str | None
    started_at: float
    t0: float
    span_id: str = field(default_factory=new_id)
    ended: float | None = None
    output: Any = None
    is_error: bool = False


class _Turn:
    """One prompt and everything until its result."""

    def __init__(self, prompt: Any, ctx: WaxellContext | None, own: WaxellContext | None) -> None:
        self.prompt = prompt
        self.ctx = ctx
        self.own = own
        self.span_id = new_id()
        run = ctx.run if ctx is not None else None
        self.parent_span_id = innermost(run.run_id) if run is not None else ""
        self.started_at = time.time()
        self.t0 = time.perf_counter()
        self.calls: dict[str, _Call] = {}
        self.tools: dict[str, _Tool] = {}
        self.streaming: dict[str | None, str] = {}
        """The message each thread (``parent_tool_use_id``) is streaming."""
        self.moved: dict[str | None, tuple[float, float]] = {None: (self.t0, self.started_at)}
        """When each thread last moved (``perf_counter``, epoch): where its next API call starts."""
        self.init: dict[str, Any] = {}
        self.result: Any = None
        self.cost: float | None = None

    # -- reading messages ------------------------------------------------------------------

    def call(self, message_id: str, model: str, thread: str | None, now: float) -> _Call:
        call = self.calls.get(message_id)
        if call is None:
            t0, started_at = self._start_of(thread, now)
            call = self.calls[message_id] = _Call(message_id, model, thread, started_at, t0)
        elif model and not call.model:
            call.model = model
        return call

    def _start_of(self, thread: str | None, now: float) -> tuple[float, float]:
        moved = self.moved.get(thread)
        if moved is None and thread is not None and thread in self.tools:
            tool = self.tools[thread]
            moved = (tool.t0, tool.started_at)
        if moved is None:
            return now, time.time()
        return moved

    def assistant(self, message: AssistantMessage, now: float) -> None:
        thread = message.parent_tool_use_id
        message_id = message.message_id or f"message-{len(self.calls) + 1}"
        call = self.call(message_id, message.model, thread, now)
        call.usage = merge(call.usage, read_usage(message.usage))
        for block in message.content:
            if isinstance(block, TextBlock):
                call.texts.append(block.text)
            elif isinstance(block, ToolUseBlock):
                call.tool_names.append(block.name)
                self.tools.setdefault(
                    block.id, _Tool(block.id, block.name, block.input, thread, time.time(), now)
                )
        if message.error:
            call.error = str(message.error)
        if message.stop_reason:
            call.stop_reason = message.stop_reason
        call.ended = now
        self.moved[thread] = (now, time.time())

    def user(self, message: UserMessage, now: float) -> None:
        if isinstance(message.content, list):
            for block in message.content:
                if not isinstance(block, ToolResultBlock):
                    continue
                tool = self.tools.get(block.tool_use_id)
                if tool is not None and tool.ended is None:
                    tool.ended = now
                    tool.output = block.content
                    tool.is_error = bool(block.is_error)
        self.moved[message.parent_tool_use_id] = (now, time.time())

    def stream_event(self, event: dict[str, Any], thread: str | None, now: float) -> None:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            call = self.call(str(message.get("id") or ""), str(message.get("model") or ""), thread, now)
            call.streamed = True
            call.usage = merge(call.usage, read_usage(message.get("usage")))
            self.streaming[thread] = call.message_id
            return
        streaming = self.calls.get(self.streaming.get(thread, ""))
        if streaming is None:
            return
        if kind == "content_block_delta" and streaming.ttft_ms is None:
            streaming.ttft_ms = round((now - streaming.t0) * 1000.0, 3)
        elif kind == "message_delta":
            streaming.usage = merge(streaming.usage, read_usage(event.get("usage")))
            stop_reason = (event.get("delta") or {}).get("stop_reason")
            if isinstance(stop_reason, str):
                streaming.stop_reason = stop_reason


class Session:
    """The turns of one ``query()`` (``entry="query"``) or one connected ``ClaudeSDKClient``
    (``entry="client"``)."""

    def __init__(self, entry: str) -> None:
        self.entry = entry
        self.turn: _Turn | None = None
        self.prompts: deque[Any] = deque()
        self.cost_so_far: float | None = None
        """The CLI's running ``total_cost_usd`` at the last result (it counts from the process start)."""
        self.refused: dict[str, str] = {}
        """``tool_use_id`` → the reason ``tool.before`` refused it."""
        self.ctx = current_context.get()

    def restart(self) -> None:
        """A new CLI process (a client connecting again): its cost counts from 0."""
        self.cost_so_far = None
        self.ctx = current_context.get()

    # -- turns ----------------------------------------------------------------------------

    def begin(self, prompt: Any) -> None:
        """A prompt was sent: start its turn (or queue it behind the turn still going)."""
        try:
            turn = self.turn
            if turn is not None:
                if turn.prompt is None and not turn.calls:
                    turn.prompt = prompt
                else:
                    self.prompts.append(prompt)
                return
            self.turn = self._open(prompt)
        except Exception:
            logger.exception("waxell-observe: could not record the start of a Claude agent turn")

    def _open(self, prompt: Any) -> _Turn:
        ctx = current_context.get()
        own = None
        if (ctx is None or ctx.run is None) and autocontext():
            own = WaxellContext(
                agent_name=AGENT_NAME,
                workflow_name=WORKFLOW,
                inputs={"prompt": prompt if isinstance(prompt, str) else None},
                metadata={"integration": FRAMEWORK},
            )
            ctx = own.__enter__()
        return _Turn(prompt, ctx if ctx is not None and ctx.run is not None else None, own)

    def observe(self, message: Any) -> None:
        """A message the program received."""
        try:
            self._observe(message)
        except Exception:
            logger.exception("waxell-observe: could not record a Claude agent message")

    def _observe(self, message: Any) -> None:
        if self.turn is None:
            self.turn = self._open(self.prompts.popleft() if self.prompts else None)
        turn = self.turn
        now = time.perf_counter()
        if isinstance(message, StreamEvent):
            turn.stream_event(message.event, message.parent_tool_use_id, now)
        elif isinstance(message, AssistantMessage):
            turn.assistant(message, now)
        elif isinstance(message, UserMessage):
            turn.user(message, now)
        elif isinstance(message, SystemMessage):
            if message.subtype == "init" and isinstance(message.data, dict):
                turn.init = message.data
        elif isinstance(message, ResultMessage):
            turn.result = message
            self.turn = None
            self._finish(turn, None)

    def end(self, exc: BaseException | None = None) -> None:
        """The stream failed (``exc``) or stopped before the turn's result: record what was seen."""
        self.prompts.clear()
        if isinstance(exc, GeneratorExit):  # the program stopped reading: not a failure
            exc = None
        turn, self.turn = self.turn, None
        if turn is not None:
            self._finish(turn, exc)

    # -- governance ---------------------------------------------------------------------------

    async def pre_tool_use(
        self, input_data: HookInput, tool_use_id: str | None, context: HookContext
    ) -> HookJSONOutput:
        """The ``PreToolUse`` hook: ``tool.before`` for the tool the CLI is about to run. A refusal
        denies it in the CLI's terms (``permissionDecision: deny``, the policy's reason), so the model
        is told the tool was refused; a ``redact`` hands the CLI the scrubbed input."""
        try:
            name = str(input_data.get("tool_name") or "")
            arguments = input_data.get("tool_input")
            turn = self.turn
            ctx = turn.ctx if turn is not None else self.ctx
            allowed = gate_tool_call(name, arguments, ctx=ctx)
        except PolicyViolationError as error:
            reason = str(error)
            self.refused[str(tool_use_id or input_data.get("tool_use_id") or "")] = reason
            return {
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "deny",
                    "permissionDecisionReason": reason,
                }
            }
        except Exception:
            logger.exception("waxell-observe: the tool.before gate of a Claude agent tool failed")
            return {}
        if allowed is not arguments:
            return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "updatedInput": allowed}}
        return {}

    # -- recording ------------------------------------------------------------------------------

    def _finish(self, turn: _Turn, exc: BaseException | None) -> None:
        try:
            if turn.ctx is not None:
                self._record(turn, turn.ctx, exc)
        except Exception:
            logger.exception("waxell-observe: could not record a Claude agent turn")
        finally:
            self._close_own(turn, exc)

    def _close_own(self, turn: _Turn, exc: BaseException | None) -> None:
        own = turn.own
        if own is None:
            return
        try:
            result = turn.result
            if exc is None and result is not None and result.is_error:
                exc = ErrorResult(_error_text(result))
            if exc is None:
                if result is not None:
                    own.set_result({"result": result.result})
                own.__exit__(None, None, None)
            else:
                own.__exit__(type(exc), exc, exc.__traceback__)
        except Exception:
            logger.exception("waxell-observe: could not complete the run of a Claude agent turn")

    def _record(self, turn: _Turn, ctx: WaxellContext, exc: BaseException | None) -> None:
        calls = list(turn.calls.values())
        result = turn.result
        if result is not None:
            self._settle_usage(turn, calls, read_usage(result.usage))
            if isinstance(result.total_cost_usd, (int, float)):
                turn.cost = self._turn_cost(float(result.total_cost_usd))
        costs = _costs(turn.cost, calls)
        first_main = next((c for c in calls if c.parent_tool_use_id is None), None)
        entries: list[tuple[float, int, Any]] = [(c.t0, i, c) for i, c in enumerate(calls)]
        entries += [(t.t0, len(calls) + i, t) for i, t in enumerate(turn.tools.values())]
        for _, _, entry in sorted(entries, key=lambda item: (item[0], item[1])):
            if isinstance(entry, _Call):
                self._record_call(turn, ctx, entry, costs.get(id(entry), 0.0), entry is first_main)
            else:
                self._record_tool(turn, ctx, entry, exc)
        self._record_agent(turn, ctx, exc)

    def _settle_usage(self, turn: _Turn, calls: list[_Call], total: Usage | None) -> None:
        """Add what the result counts beyond the calls' own usage to the turn's last call."""
        extra = shortfall(total, [c.usage for c in calls])
        if not any(extra.values()):
            return
        target = next((c for c in reversed(calls) if c.parent_tool_use_id is None), None)
        if target is None and calls:
            target = calls[-1]
        if target is None:
            model = str(turn.init.get("model") or next(iter(turn.result.model_usage or {}), "") or "")
            target = _Call("", model, None, turn.started_at, turn.t0, ended=time.perf_counter())
            turn.calls[""] = target
            calls.append(target)
        target.usage = {name: (target.usage or {}).get(name, 0) + extra[name] for name in USAGE_FIELDS}
        target.from_result = extra

    def _turn_cost(self, total: float) -> float:
        """This turn's cost from the CLI's running total (the difference from the last result)."""
        previous, self.cost_so_far = self.cost_so_far, total
        if previous is not None and total >= previous:
            return round(total - previous, 10)
        return total

    def _record_call(self, turn: _Turn, ctx: WaxellContext, call: _Call, cost: float, first: bool) -> None:
        tokens_in, tokens_out, cached, cache_creation = token_counts(call.usage)
        attributes: dict[str, Any] = {
            "framework": FRAMEWORK,
            "recorded_from": RECORDED_FROM,
            "operation": "agent_turn",
            "stream": call.streamed,
        }
        if call.message_id:
            attributes["response_id"] = call.message_id
        if cache_creation:
            attributes["cache_creation_input_tokens"] = cache_creation
        if call.usage is None:
            attributes["usage_reported"] = False
        if call.from_result is not None:
            attributes["usage_from_result"] = {k: v for k, v in call.from_result.items() if v}
        if call.ttft_ms is not None:
            attributes["ttft_ms"] = call.ttft_ms
        if call.parent_tool_use_id:
            attributes["claude.parent_tool_use_id"] = call.parent_tool_use_id
        text = "".join(call.texts)
        tool = turn.tools.get(call.parent_tool_use_id or "")
        fields: dict[str, Any] = {
            "model": call.model or "unknown",
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cached_tokens_in": cached,
            "cost": cost,
            "provider": PROVIDER,
            "duration_ms": round(max((call.ended or time.perf_counter()) - call.t0, 0.0) * 1000.0, 3),
            "started_at": call.started_at,
            "parent_span_id": tool.span_id if tool is not None else turn.span_id,
            "response_preview": text
            or ("[tool calls: " + ", ".join(call.tool_names) + "]" if call.tool_names else ""),
            "attributes": attributes,
        }
        if call.error:
            fields.update(status="error", error_type=call.error, error_message=text or call.error)
        else:
            fields.update(
                response_text=text, finish_reason=call.stop_reason, response_tool_calls=call.tool_names
            )
            if first and isinstance(turn.prompt, str):
                fields.update(prompt_preview=turn.prompt, messages=[{"role": "user", "content": turn.prompt}])
        ctx.record_llm_call(**fields)

    def _record_tool(self, turn: _Turn, ctx: WaxellContext, tool: _Tool, exc: BaseException | None) -> None:
        refusal = self.refused.pop(tool.tool_use_id, "")
        attributes: dict[str, Any] = {
            "framework": FRAMEWORK,
            "tool_type": "mcp" if tool.name.startswith("mcp__") else "function",
            "claude.tool_use_id": tool.tool_use_id,
        }
        error = ""
        if refusal:
            attributes.update({"governance.refused": True, "error.type": PolicyViolationError.__name__})
            error = refusal
        elif tool.ended is None:
            error = _exception_text(exc) if exc is not None else "the turn ended before the tool's result"
        elif tool.is_error:
            error = _text(tool.output)
        parent = turn.tools.get(tool.parent_tool_use_id or "")
        ctx.record_span(
            "tool",
            tool.name,
            status="error" if error else "ok",
            duration_ms=round(max((tool.ended or time.perf_counter()) - tool.t0, 0.0) * 1000.0, 3),
            attributes=attributes,
            input=tool.input,
            output={"output": tool.output} if tool.ended is not None else None,
            error=error,
            parent_span_id=parent.span_id if parent is not None else turn.span_id,
            started_at=tool.started_at,
            span_id=tool.span_id,
        )

    def _record_agent(self, turn: _Turn, ctx: WaxellContext, exc: BaseException | None) -> None:
        attributes: dict[str, Any] = {"framework": FRAMEWORK, "claude.entry": self.entry}
        for key, name in _INIT_ATTRIBUTES.items():
            if turn.init.get(key) is not None:
                attributes[name] = turn.init[key]
        result = turn.result
        error = ""
        if result is not None:
            attributes.update(
                {
                    "claude.session_id": result.session_id,
                    "claude.subtype": result.subtype,
                    "claude.num_turns": result.num_turns,
                    "claude.duration_ms": result.duration_ms,
                    "claude.duration_api_ms": result.duration_api_ms,
                    "claude.stop_reason": result.stop_reason,
                    "claude.usage": read_usage(result.usage),
                    "claude.total_cost_usd": result.total_cost_usd,
                    "claude.turn_cost_usd": turn.cost,
                    "claude.permission_denials": [
                        str(d.get("tool_name", ""))
                        for d in result.permission_denials or []
                        if isinstance(d, dict)
                    ],
                }
            )
            if result.is_error:
                error = _error_text(result)
        if exc is not None:
            error = error or _exception_text(exc)
            attributes["error.type"] = type(exc).__name__
            exit_code = getattr(exc, "exit_code", None)
            if isinstance(exit_code, int):
                attributes["claude.exit_code"] = exit_code
        elif result is None:
            attributes["claude.incomplete"] = True
        ctx.record_span(
            "agent",
            AGENT_NAME,
            status="error" if error else "ok",
            duration_ms=round((time.perf_counter() - turn.t0) * 1000.0, 3),
            attributes={k: v for k, v in attributes.items() if v is not None},
            input={"prompt": turn.prompt if isinstance(turn.prompt, str) else None},
            output={"result": result.result} if result is not None else None,
            error=error,
            parent_span_id=turn.parent_span_id,
            started_at=turn.started_at,
            span_id=turn.span_id,
        )


def _costs(total: float | None, calls: list[_Call]) -> dict[int, float]:
    """Each call's share of the turn's cost (by its price-table estimate, else by its tokens)."""
    if total is None or not calls:
        return {}
    weights = []
    sizes = []
    for call in calls:
        tokens_in, tokens_out, cached, _ = token_counts(call.usage)
        weights.append(pricing.estimate_cost(call.model, tokens_in, tokens_out, cached_tokens_in=cached))
        sizes.append(float(tokens_in + tokens_out))
    shares = apportion(total, weights if sum(weights) > 0 else sizes)
    return {id(call): share for call, share in zip(calls, shares, strict=True)}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def _error_text(result: Any) -> str:
    """What an error result says: its ``errors``, else its text, else its subtype."""
    errors = [str(error) for error in result.errors or []]
    if errors:
        return "; ".join(errors)
    if isinstance(result.result, str) and result.result.strip():
        return result.result.strip()
    return str(result.subtype or "error")


def _exception_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
