"""Function tools of the Agents SDK pass the ``tool.before`` gate before they run.

The SDK runs every function tool (``@function_tool``, ``FunctionTool``, an agent used as a tool)
through ``_invoke_function_tool_with_metadata`` — bound by the runner's tool execution module and by
``agents.tool`` (``invoke_function_tool``, which realtime sessions use); both are wrapped. Inside a run
the tool's name and JSON arguments are asked at ``tool.before``: a ``block`` raises
``PolicyViolationError`` before the tool's function is called (the run stops with it, marked
blocked, and the tool's span fails), a ``redact`` runs the tool with the scrubbed arguments, and each
``warn`` is queued as the run's feedback. The SDK's own ``on_invoke_tool`` (which turns a tool's
exception into a message for the model) is never reached on a refusal, so the refusal is not
swallowed; and the SDK, which wraps any other exception of a tool in ``UserError``, passes its own
exceptions through unchanged, so the refusal is raised as :class:`ToolRefusedError` — a
``PolicyViolationError`` that is also an ``agents.exceptions.AgentsException`` — and reaches the
program's ``except PolicyViolationError`` as the other integrations' refusals do.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from agents.exceptions import AgentsException

from waxell_observe.current import current_context
from waxell_observe.errors import PolicyViolationError
from waxell_observe.instrumentation import gate_framework_tool, recording_enabled, release

__all__ = ["FRAMEWORK", "ToolRefusedError", "invoke_wrapper"]

FRAMEWORK = "openai-agents"


class ToolRefusedError(PolicyViolationError, AgentsException):
    """A ``tool.before`` refusal of an Agents SDK function tool (the SDK re-raises it unchanged)."""

    @classmethod
    def of(cls, error: PolicyViolationError) -> ToolRefusedError:
        """The same refusal (message, policy answer, run) as this class."""
        refused = cls(str(error), error.policy_result)
        refused.run_id, refused.agent_name, refused.workflow_name = (
            error.run_id,
            error.agent_name,
            error.workflow_name,
        )
        refused.approval_decision = error.approval_decision
        return refused


def _gate(name: str, arguments: Any, ctx: Any) -> tuple[Any, Any]:
    """``tool.before`` (:class:`ToolRefusedError` on ``block``): the arguments to run the tool with, and the
    hold of ``tool.before`` to release once it ran (an instrumented MCP client it calls asks no more)."""
    try:
        return gate_framework_tool(name, arguments, ctx=ctx)
    except ToolRefusedError:
        raise
    except PolicyViolationError as error:
        raise ToolRefusedError.of(error) from None


def invoke_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``_invoke_function_tool_with_metadata(*, function_tool, context, arguments)``: ``tool.before``,
    then the tool."""

    def wrapper(
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Coroutine[Any, Any, Any]:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)  # type: ignore[no-any-return]

        async def gated() -> Any:
            ctx = current_context.get()
            if ctx is not None and ctx.run is not None and "arguments" in kwargs:
                tool = kwargs.get("function_tool")
                name = str(getattr(tool, "name", "") or type(tool).__name__)
                arguments = kwargs["arguments"]
                allowed, made = _gate(name, arguments, ctx)  # ToolRefusedError: the tool never runs
                try:
                    if allowed is not arguments:
                        return await wrapped(*args, **(kwargs | {"arguments": allowed}))
                    return await wrapped(*args, **kwargs)
                finally:
                    release(made)
            return await wrapped(*args, **kwargs)

        return gated()

    return wrapper
