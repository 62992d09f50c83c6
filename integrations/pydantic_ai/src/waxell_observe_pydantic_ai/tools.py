"""Pydantic AI tool calls pass the ``tool.before`` gate before they run.

Every function tool an agent runs (``@agent.tool``, ``@agent.tool_plain``, ``Tool(...)``, toolsets,
MCP servers' tools) is executed by ``ToolManager._raw_execute`` once its arguments are validated and
the capabilities' ``before_tool_execute`` hooks have run — inside Pydantic AI's ``running tool``
span, which the bridge records as the tool span. It is wrapped: inside a run the tool's name and
validated arguments are asked at ``tool.before``, and a ``block`` raises ``PolicyViolationError``
before the tool's function is called (the run stops with it, marked blocked, and the tool's span
fails); a ``redact`` runs the tool with the scrubbed arguments; each ``warn`` is queued as the run's
feedback. Output tools (``final_result``: the agent's structured answer, not a tool of the program)
are not gated.

The bridge only observes (OpenTelemetry spans are reported after the fact), so this wrapper is what
stops a tool; with the OpenAI (or another provider) integration on, the model's response asking for a
refused tool is already refused there, before this point.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Coroutine
from typing import Any

from waxell_observe.current import current_context
from waxell_observe.instrumentation import gate_framework_tool, recording_enabled, release

__all__ = ["FRAMEWORK", "raw_execute_wrapper"]

FRAMEWORK = "pydantic-ai"
_UNGATED_KINDS = ("output",)


def _validated(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, bool]:
    """The ``ValidatedToolCall`` argument, and whether it came positionally."""
    if args:
        return args[0], True
    return kwargs.get("validated"), False


def raw_execute_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``ToolManager._raw_execute(validated, *, usage, ...)``: ``tool.before``, then the tool."""

    def wrapper(
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Coroutine[Any, Any, Any]:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)  # type: ignore[no-any-return]

        async def gated() -> Any:
            ctx = current_context.get()
            validated, positional = _validated(args, kwargs)
            tool = getattr(validated, "tool", None)
            kind = getattr(getattr(tool, "tool_def", None), "kind", None)
            if ctx is None or ctx.run is None or tool is None or kind in _UNGATED_KINDS:
                return await wrapped(*args, **kwargs)
            name = str(getattr(getattr(validated, "call", None), "tool_name", "") or tool.tool_def.name)
            arguments = validated.validated_args
            allowed, made = gate_framework_tool(name, arguments, ctx=ctx)  # PolicyViolationError: never runs
            try:  # made: the tool.before hold (an instrumented MCP client the tool calls asks no more)
                if allowed is arguments or not isinstance(allowed, dict):
                    return await wrapped(*args, **kwargs)
                scrubbed = dataclasses.replace(validated, validated_args=allowed)
                if positional:
                    return await wrapped(scrubbed, *args[1:], **kwargs)
                return await wrapped(*args, **(kwargs | {"validated": scrubbed}))
            finally:
                release(made)

        return gated()

    return wrapper
