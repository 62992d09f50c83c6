"""The hook specifications of waxell-observe: the whole contract between core and plugins.

Sources (contexts, decorators, integrations) create records on the current run; the run
announces them through these hooks; plugins deliver them (sinks), decide on them
(policy engines) or add sources (integrations). The built-in plugins (pipeline, deciders, the
collector of calls outside runs) are registered by import
(:data:`waxell_observe.plugins.DEFAULT_PLUGINS`); integrations, exporters and third-party plugins
through the ``waxell_observe`` entry-point group. All of them use only these hooks.

Every hook is called with keyword arguments; an implementation may accept any subset of
them. A hook implementation that raises is logged and isolated: the agent never sees the
exception and the other plugins still run. Implementations are called on the agent's
thread: they must not block (queue work to a background worker instead), except
``on_policy_check``, ``on_run_flush``, ``on_flush`` and ``on_shutdown``.

Every hook below has a docstring; ``test_every_hook_is_documented`` (``tests/unit/test_plugins.py``)
fails when one does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig
    from waxell_observe.delivery.report import DeliveryReport
    from waxell_observe.governance.results import PolicyCheckResult
    from waxell_observe.pipeline.destination import Destination
    from waxell_observe.records import LLMCallRecord, ScoreRecord, SpanRecord, StepRecord
    from waxell_observe.run import Run

PROJECT_NAME = "waxell_observe"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def on_configure(config: ObserveConfig) -> None:
    """The configuration was set (by ``init()``, ``WaxellObserveClient.configure`` or on
    first use). Plugins read their settings from ``config`` (unknown ``init()`` options are in
    ``config.extra``). Called again whenever the configuration changes."""


@hookspec
def on_instrument(config: ObserveConfig, libraries: frozenset[str] | None) -> list[str] | None:
    """``init()`` asks integrations to instrument their library.

    ``libraries`` is ``None`` for "every installed library" or the set of names given in
    ``init(instrument=[...])``. An integration instruments its library only when the name
    it answers to is requested (or ``libraries`` is ``None``) and the library is installed;
    it must be idempotent and must work whether the library was imported before or after.
    Return the names of what was instrumented (or ``None``)."""


@hookspec
def on_uninstrument(libraries: frozenset[str] | None) -> list[str] | None:
    """Undo ``on_instrument`` for ``libraries`` (``None``: all). Return what was undone."""


@hookspec
def on_run_start(run: Run) -> None:
    """A run started (after a passing pre-execution policy check). ``run.run_id`` is final."""


@hookspec
def on_llm_call(run: Run, call: LLMCallRecord) -> None:
    """An LLM call was recorded on ``run``; the run's totals already include it."""


@hookspec
def on_step(run: Run, step: StepRecord) -> None:
    """A step was recorded on ``run`` (``step.position`` counts 1, 2, ... per run)."""


@hookspec
def on_span(run: Run, span: SpanRecord) -> None:
    """A span was recorded on ``run``: a tool call, retrieval, decision, reasoning step,
    retry, policy evaluation, user message / agent response (``io``), or a framework span
    from an integration (``llm``, ``chain``, ``agent``, ``custom``)."""


@hookspec
def on_score(run: Run, score: ScoreRecord) -> None:
    """A score was recorded on ``run``; ``score.value`` keeps the type it was recorded
    with (a float, a string for categoricals, a bool for booleans)."""


@hookspec
def on_run_flush(run: Run) -> PolicyCheckResult | None:
    """Mid-execution governance asks sinks to deliver ``run``'s buffered records now.

    May block (the user asked for it with ``mid_execution_governance=True``). A sink whose
    destination answers with a governance decision (the control plane's ingest replies)
    returns it as a :class:`PolicyCheckResult`; the strictest answer wins."""


@hookspec
def on_run_end(run: Run) -> None:
    """The run completed: ``status``, ``result``, ``error``, ``ended_at``, the final tags,
    metadata and conversation state are set, and ``run.governance`` holds the
    post-execution policy outcome (or ``None``)."""


@hookspec
def on_policy_check(run: Run, phase: str, surface: str) -> PolicyCheckResult | None:
    """Decide on ``run`` at ``phase`` (``pre_execution``, ``mid_execution``,
    ``post_execution``) and ``surface`` (``run.start``, ``step.mid``, ``run.complete``, ...).

    Every plugin may answer (a local engine, a control plane, a third party); ``None``
    means "no opinion". The strictest answer wins (allow < warn < redact < retry <
    throttle < block), so no plugin can shadow another's block. At ``pre_execution`` the run
    has not started: it has an id but no sink has seen it."""


@hookspec
def on_route(config: ObserveConfig) -> dict[str, dict[str, Any]] | None:
    """Name destinations of the pipeline for runs of ``config``, beyond the store or control plane.

    Return ``{kind: settings}`` (plain JSON-safe values: they are written in the journal's route
    frames, so a process that adopts the journal after this one died delivers them too), or
    ``None``. Called once per configuration object, on the thread that records first. Each kind
    is turned into a destination by :func:`on_destination`."""


@hookspec(firstresult=True)
def on_destination(kind: str, settings: dict[str, Any]) -> Destination | None:
    """Make the destination for a route entry ``kind`` (named by :func:`on_route`) with its
    ``settings``, or ``None`` when the kind is not yours. Called on the pipeline's drainer thread
    (any process that drains the journal, the one that wrote it or one that adopted it).

    A destination has ``key`` (identifies it across processes: it names the acknowledged position
    kept next to the journal), ``name`` (what reports call it), ``deliver(frames)`` (store the
    batch of decoded frames, in journal order, all routed to it; raise
    :class:`~waxell_observe.pipeline.destination.RetryLater` to have the same frames again after a
    backoff; return a :class:`~waxell_observe.pipeline.destination.Delivered` naming frames refused
    for good) and ``close()``. See :mod:`waxell_observe.pipeline.frames` for the frame layouts."""


@hookspec
def on_flush(timeout: float | None) -> DeliveryReport | None:
    """Deliver everything recorded so far, waiting at most ``timeout`` seconds (``None``:
    until done). Return what was delivered and what was dropped."""


@hookspec
def on_shutdown(timeout: float | None) -> DeliveryReport | None:
    """Flush (as ``on_flush``), then stop background workers. Called by
    ``waxell_observe.shutdown()`` and at interpreter exit."""


HOOK_NAMES: tuple[str, ...] = tuple(
    name for name, value in dict(globals()).items() if name.startswith("on_") and callable(value)
)

__all__ = ["hookspec", "PROJECT_NAME", "HOOK_NAMES", *HOOK_NAMES]
