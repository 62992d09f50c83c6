"""The ``agent`` spans of the agent-framework integrations (Strands, Agno, CrewAI, AutoGen, smolagents).

An agent invocation (a run of an agent, a team, a crew) is recorded the same way by every framework:
an :class:`AgentSpan` opens a container span in the current :class:`~waxell_observe.context.WaxellContext`
or, when there is no run and the framework's autocontext allows it, a run of its own (agent = the
span's name, workflow = the framework's, metadata ``integration``) with the span inside it; closing
it records the output, or the exception, on the span and ends the run it opened.

:func:`open_agent_span` / :func:`close_agent_span` do that without ever raising: a telemetry failure
is logged (``logger.exception``, naming what could not be recorded) and the framework's call goes on.
:class:`AgentSpans` holds what one framework's spans share (its name, workflow, autocontext switch,
how a result reads as output) so that an integration only describes each invocation
(:class:`AgentStart`). :func:`autocontext_enabled` reads a framework's ``WAXELL_<FRAMEWORK>_AUTOCONTEXT``
switch; :func:`jsonable` previews the framework's values as a span's input or output.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, NamedTuple

from waxell_observe.context import WaxellContext
from waxell_observe.current import current_context
from waxell_observe.serialize import preview

__all__ = [
    "AgentSpan",
    "AgentSpans",
    "AgentStart",
    "autocontext_enabled",
    "close_agent_span",
    "end_own_run",
    "jsonable",
    "open_agent_span",
]

logger = logging.getLogger("waxell_observe")

_OFF = ("false", "0", "no", "off")
_PREVIEW = 4000
_ITEMS = 100


def jsonable(value: Any, unwrap: Callable[[Any], Any] | None = None) -> Any:
    """``value`` as JSON for a span's input or output: strings previewed to 4000 characters, lists
    and dicts to their first 100 items (converted alike), anything else by what ``unwrap(value)``
    returns when that is not ``None`` (a message's ``content``, an output's text), else as its
    previewed ``str()``."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return preview(value, _PREVIEW)
    if isinstance(value, (list, tuple)):
        return [jsonable(item, unwrap) for item in value[:_ITEMS]]
    if isinstance(value, dict):
        return {str(key): jsonable(item, unwrap) for key, item in list(value.items())[:_ITEMS]}
    inner = unwrap(value) if unwrap is not None else None
    if inner is not None:
        return jsonable(inner, unwrap)
    return preview(str(value), _PREVIEW)


def autocontext_enabled(variable: str) -> bool:
    """False when the environment variable ``variable`` is ``false``/``0``/``no``/``off`` (any case):
    the framework's invocations outside any run then open no run of their own."""
    return os.environ.get(variable, "").strip().lower() not in _OFF


class AgentSpan:
    """One invocation being recorded: the context its span is in, the span's handle, and the run it
    opened (``own``, when there was no run to record it in).

    ``ctx`` is ``None`` (and ``handle`` empty) when there was no run and ``may_open_run`` said no:
    then nothing is recorded and :meth:`close` does nothing.
    """

    __slots__ = ("ctx", "handle", "own")

    def __init__(
        self,
        name: str,
        *,
        framework: str,
        workflow: str,
        attributes: dict[str, Any],
        input_data: dict[str, Any] | None,
        run_inputs: dict[str, Any] | None = None,
        may_open_run: Callable[[], bool],
        kind: str = "agent",
    ) -> None:
        """Open the span ``name`` of ``kind`` (``input_data`` its input); outside any run, first a
        run of its own when ``may_open_run()`` (its inputs: ``run_inputs``, else ``input_data``)."""
        self.own: WaxellContext | None = None
        self.ctx: WaxellContext | None = None
        self.handle: dict[str, Any] = {}
        ctx = current_context.get()
        if ctx is None or ctx.run is None:
            if not may_open_run():
                return
            self.own = WaxellContext(
                agent_name=name,
                workflow_name=workflow,
                inputs=run_inputs if run_inputs is not None else input_data,
                metadata={"integration": framework},
            )
            ctx = self.own.__enter__()
        self.ctx = ctx
        self.handle = ctx.enter_span(name, kind=kind, attributes=attributes, input_data=input_data)

    @property
    def recording(self) -> bool:
        """Whether a span was opened (and :meth:`close` records it)."""
        return self.ctx is not None and bool(self.handle)

    def close(
        self,
        output: dict[str, Any] | None = None,
        exc: BaseException | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        """Record the span with ``output`` (or failed with ``exc``), ``attributes`` added to its own,
        and end the run it opened: with ``output`` as its result, or failed with ``exc``."""
        if self.ctx is not None and self.handle:
            span = self.handle.get("span")
            if attributes and isinstance(span, dict):
                span["attributes"].update(attributes)
            self.ctx.exit_span(self.handle, output_data=None if exc else output, exc=exc)
        if self.own is not None:
            end_own_run(self.own, output, exc)


def end_own_run(own: WaxellContext, output: dict[str, Any] | None, exc: BaseException | None) -> None:
    """End the run a framework span opened for itself (none was active): with ``output`` as its
    result, or failed with ``exc``."""
    if exc is None:
        own.set_result(output or {})
        own.__exit__(None, None, None)
    else:
        own.__exit__(type(exc), exc, exc.__traceback__)


def open_agent_span(start: Callable[[], AgentSpan], *, what: str) -> AgentSpan | None:
    """``start()`` (which builds the :class:`AgentSpan`, reading the framework's objects for its name,
    attributes and inputs), or ``None`` when that failed: then ``waxell-observe: could not record the
    start of <what>`` is logged with the exception."""
    try:
        return start()
    except Exception:
        logger.exception("waxell-observe: could not record the start of %s", what)
        return None


def close_agent_span(
    span: AgentSpan | None,
    result: Any = None,
    exc: BaseException | None = None,
    *,
    output: Callable[[Any], dict[str, Any] | None],
    attributes: Callable[[Any], dict[str, Any]] | None = None,
    what: str,
) -> None:
    """Close ``span`` (nothing when ``None``): failed with ``exc``, else with ``output(result)`` as
    the span's output and its own run's result, and ``attributes(result)`` added to the span's. A
    failure (of ``output`` and ``attributes`` too) is logged as ``waxell-observe: could not record
    the end of <what>``, never raised."""
    if span is None:
        return
    try:
        if exc is not None:
            span.close(None, exc)
        else:
            span.close(output(result), None, attributes(result) if attributes is not None else None)
    except Exception:
        logger.exception("waxell-observe: could not record the end of %s", what)


class AgentStart(NamedTuple):
    """What an integration reads from the framework for one invocation's :class:`AgentSpan`."""

    name: str
    attributes: dict[str, Any]
    input_data: dict[str, Any] | None
    run_inputs: dict[str, Any] | None = None
    """The inputs of a run of its own (``None``: ``input_data``)."""
    kind: str = "agent"


def _never() -> bool:
    return False


class AgentSpans:
    """How one framework's invocations are recorded: its name (the ``framework`` of the runs it
    opens), its workflow, its autocontext variable, how a result reads as the span's output (and,
    optionally, attributes it adds when the span closes), and what a logged failure names."""

    __slots__ = ("attributes", "autocontext_variable", "framework", "output", "what", "workflow")

    def __init__(
        self,
        framework: str,
        *,
        workflow: str,
        autocontext_variable: str,
        output: Callable[[Any], dict[str, Any] | None],
        what: str,
        attributes: Callable[[Any], dict[str, Any]] | None = None,
    ) -> None:
        self.framework = framework
        self.workflow = workflow
        self.autocontext_variable = autocontext_variable
        self.output = output
        self.what = what
        self.attributes = attributes

    def autocontext(self) -> bool:
        """False when the framework's autocontext variable turns off runs of an invocation's own."""
        return autocontext_enabled(self.autocontext_variable)

    def open(
        self, describe: Callable[[], AgentStart], *, may_open_run: bool = True, what: str | None = None
    ) -> AgentSpan | None:
        """The :class:`AgentSpan` that ``describe()`` describes (a run of its own only when
        ``may_open_run`` and autocontext allow), or ``None`` when that failed (logged, naming
        ``what``, else the framework's ``what``)."""

        def start() -> AgentSpan:
            described = describe()
            return AgentSpan(
                described.name,
                framework=self.framework,
                workflow=self.workflow,
                attributes=described.attributes,
                input_data=described.input_data,
                run_inputs=described.run_inputs,
                may_open_run=self.autocontext if may_open_run else _never,
                kind=described.kind,
            )

        return open_agent_span(start, what=what or self.what)

    def close(self, span: AgentSpan | None, result: Any = None, exc: BaseException | None = None) -> None:
        """:func:`close_agent_span` with the framework's ``output`` and ``attributes``."""
        close_agent_span(span, result, exc, output=self.output, attributes=self.attributes, what=self.what)
