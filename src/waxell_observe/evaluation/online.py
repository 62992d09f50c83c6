"""Online evaluation: evaluators attached to production runs by agent name, run in the background.

``add_online_evaluator("support-bot", evaluator, sample_rate=0.1)`` makes one run in ten of agent
``support-bot`` (a glob: ``"support-*"``, ``"*"``) evaluated after it ends. On the agent's thread
the plugin below only decides whether a starting run is sampled (a hash of the run id and the
evaluator's name: the same run is always sampled the same way), keeps the sampled run's records
and, when it ends, queues it; the evaluators run on the worker thread (``online_worker.py``) and
their scores are stored on the run with source ``online``, in the run's store or control plane.

Not evaluated: runs of an LLM judge (agent ``waxell-judge``) and of online evaluators, runs started
on the worker thread, and the runs of experiments (their own evaluators score them). A run that
did not succeed is evaluated only by evaluators added with ``include_errors=True``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from waxell_observe.evaluation.online_worker import Job, on_worker_thread, worker
from waxell_observe.evaluation.scores import check_evaluator, evaluator_name
from waxell_observe.evaluation.trace import RunTrace
from waxell_observe.plugins import hookimpl, plugin_manager
from waxell_observe.records import LLMCallRecord, ScoreRecord, SpanRecord, StepRecord
from waxell_observe.run import Run
from waxell_observe.vocabulary.evaluation import (
    EXPERIMENT_TAG,
    JUDGE_AGENT_NAME,
    ONLINE_EVALUATOR_AGENT_NAME,
    SCORE_SOURCE_ONLINE,
)

__all__ = [
    "OnlineEvaluator",
    "add_online_evaluator",
    "remove_online_evaluator",
    "online_evaluators",
    "flush_online_evaluations",
]

logger = logging.getLogger("waxell_observe")

_STATE_KEY = "waxell-online-evaluation"
_PLUGIN_NAME = "waxell-online-evaluation"
_NEVER_EVALUATED = frozenset({JUDGE_AGENT_NAME, ONLINE_EVALUATOR_AGENT_NAME})
_COUNTERS = ("sampled", "evaluated", "failed", "dropped")


class OnlineEvaluator:
    """One evaluator attached to the runs of ``agent_name`` (returned by :func:`add_online_evaluator`).

    ``sampled``, ``evaluated``, ``failed`` and ``dropped`` count the runs it was chosen for, those it
    scored, those where it (or the write of its scores) failed, and those dropped on a full queue."""

    def __init__(
        self, agent_name: str, evaluator: Any, sample_rate: float, name: str, include_errors: bool
    ) -> None:
        self.agent_name = agent_name
        self.evaluator = evaluator
        self.sample_rate = sample_rate
        self.name = name
        self.include_errors = include_errors
        self._glob = any(char in agent_name for char in "*?[")
        self._lock = threading.Lock()
        self.sampled = self.evaluated = self.failed = self.dropped = 0

    def __repr__(self) -> str:
        return f"<online evaluator {self.name} on {self.agent_name!r} at {self.sample_rate:g}>"

    def matches(self, agent_name: str) -> bool:
        """Whether runs of ``agent_name`` are this evaluator's."""
        if self._glob:
            return fnmatch.fnmatchcase(agent_name, self.agent_name)
        return agent_name == self.agent_name

    def samples(self, run_id: str) -> bool:
        """Whether run ``run_id`` is in the sample (decided from the run id, the same every time)."""
        if self.sample_rate >= 1.0:
            return True
        if self.sample_rate <= 0.0:
            return False
        digest = hashlib.blake2b(f"{self.name}\0{run_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64 < self.sample_rate

    def count(self, counter: str) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)

    def stats(self) -> dict[str, int]:
        """``{sampled, evaluated, failed, dropped}``."""
        with self._lock:
            return {counter: getattr(self, counter) for counter in _COUNTERS}

    def remove(self) -> None:
        """Stop evaluating new runs (runs already queued are still evaluated)."""
        remove_online_evaluator(self)


_registry: tuple[OnlineEvaluator, ...] = ()
_registry_lock = threading.Lock()


def add_online_evaluator(
    agent_name: str,
    evaluator: Callable[..., Any],
    *,
    sample_rate: float = 1.0,
    name: str | None = None,
    include_errors: bool = False,
) -> OnlineEvaluator:
    """Evaluate a ``sample_rate`` share (0 to 1) of the runs of ``agent_name`` (exact, or a glob such
    as ``"support-*"``) with ``evaluator`` in the background; scores go on the runs (source ``online``).

    ``evaluator`` is any evaluator of :func:`~waxell_observe.evaluate` (sync or async, one score or
    several); it may name ``input`` (the run's inputs), ``output`` (its result: the value given to
    ``set_result`` or returned by an ``@observe`` function), ``metadata`` (the run's), ``trace`` (a
    :class:`RunTrace` of the run's LLM calls, tool calls, steps, cost, tokens and latency); ``expected``
    and ``item`` are ``None``. ``name`` (default: the evaluator's) names it in logs and in the
    sampling, and names a bare value it answers. Returns a handle: ``.remove()``, ``.stats()``."""
    if not isinstance(agent_name, str) or not agent_name.strip():
        raise ValueError(
            f"agent_name must be a non-empty string (an agent name or a glob), got {agent_name!r}"
        )
    check_evaluator(evaluator)
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, (int, float))
        or not 0.0 <= float(sample_rate) <= 1.0
    ):
        raise ValueError(f"sample_rate must be a number from 0 to 1, got {sample_rate!r}")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    online = OnlineEvaluator(
        agent_name, evaluator, float(sample_rate), name or evaluator_name(evaluator), bool(include_errors)
    )
    global _registry
    with _registry_lock:
        _registry = (*_registry, online)
        manager = plugin_manager()
        if not manager.is_registered(_PLUGIN):
            manager.register(_PLUGIN, name=_PLUGIN_NAME)
    return online


def remove_online_evaluator(online: OnlineEvaluator) -> None:
    """Detach ``online``; the last one removed takes the plugin off the agent's thread too."""
    global _registry
    with _registry_lock:
        _registry = tuple(e for e in _registry if e is not online)
        if not _registry:
            manager = plugin_manager()
            if manager.is_registered(_PLUGIN):
                manager.unregister(_PLUGIN)


def online_evaluators() -> list[OnlineEvaluator]:
    """The evaluators attached now."""
    return list(_registry)


def flush_online_evaluations(timeout: float = 30.0) -> bool:
    """Wait until every queued run was evaluated and its scores written; ``False`` on timeout."""
    return worker().wait(timeout)


def _output(result: dict[str, Any]) -> Any:
    if len(result) == 1 and "output" in result:
        return result["output"]
    return dict(result)


def _scores_writer(run: Run) -> Callable[[str, list[dict[str, Any]]], None]:
    """Where the run's scores go: its control plane, else its embedded store (opened on the worker)."""
    config = run.config
    client = run.client

    def write(run_id: str, rows: list[dict[str, Any]]) -> None:
        from waxell_observe.evaluation.backends import LocalBackend, RemoteBackend

        if config.api_url:
            from waxell_observe.client import WaxellObserveClient

            remote = client if client is not None else WaxellObserveClient.from_config(config)
            RemoteBackend(remote).add_scores(run_id, rows, SCORE_SOURCE_ONLINE)
        else:
            LocalBackend(config.db_url).add_scores(run_id, rows, SCORE_SOURCE_ONLINE)

    return write


class _Watch:
    __slots__ = ("evaluators", "trace")

    def __init__(self, evaluators: list[OnlineEvaluator], run_id: str) -> None:
        self.evaluators = evaluators
        self.trace = RunTrace(run_id=run_id, run_ids=[run_id])


class _OnlinePlugin:
    """Chooses sampled runs, keeps their records, queues them when they end (the agent's thread)."""

    def __init__(self) -> None:
        self._experiment_roots: set[str] = set()

    def _skipped(self, run: Run) -> bool:
        if run.agent_name in _NEVER_EVALUATED or on_worker_thread():
            return True
        if EXPERIMENT_TAG in run.tags and not run.parent_run_id:
            self._experiment_roots.add(run.run_id)
            return True
        return bool(run.root_run_id) and run.root_run_id in self._experiment_roots

    @hookimpl
    def on_run_start(self, run: Run) -> None:
        if self._skipped(run):
            return
        chosen = [e for e in _registry if e.matches(run.agent_name) and e.samples(run.run_id)]
        if chosen:
            run.plugin_state[_STATE_KEY] = _Watch(chosen, run.run_id)

    @hookimpl
    def on_llm_call(self, run: Run, call: LLMCallRecord) -> None:
        watch = run.plugin_state.get(_STATE_KEY)
        if watch is not None:
            watch.trace.llm_calls.append(call)

    @hookimpl
    def on_step(self, run: Run, step: StepRecord) -> None:
        watch = run.plugin_state.get(_STATE_KEY)
        if watch is not None:
            watch.trace.steps.append(step)

    @hookimpl
    def on_span(self, run: Run, span: SpanRecord) -> None:
        watch = run.plugin_state.get(_STATE_KEY)
        if watch is not None:
            watch.trace.spans.append(span)

    @hookimpl
    def on_score(self, run: Run, score: ScoreRecord) -> None:
        watch = run.plugin_state.get(_STATE_KEY)
        if watch is not None:
            watch.trace.scores.append(score)

    @hookimpl
    def on_run_end(self, run: Run) -> None:
        self._experiment_roots.discard(run.run_id)
        watch = run.plugin_state.pop(_STATE_KEY, None)
        if watch is None:
            return
        succeeded = run.status == "success"
        chosen = [e for e in watch.evaluators if succeeded or e.include_errors]
        if not chosen:
            return
        trace = watch.trace
        trace.status, trace.error, trace.error_type = run.status, run.error or "", run.error_type or ""
        trace.cost, trace.tokens_in, trace.tokens_out = run.total_cost, run.tokens_in, run.tokens_out
        if run.started_at and run.ended_at:
            trace.latency_ms = (run.ended_at - run.started_at) * 1000.0
        available = {
            "input": dict(run.inputs),
            "output": _output(run.result),
            "expected": None,
            "metadata": dict(run.metadata),
            "item": None,
            "trace": trace,
        }
        for online in chosen:
            online.count("sampled")
        if not worker().submit(Job(run.run_id, available, chosen, _scores_writer(run))):
            for online in chosen:
                online.count("dropped")
            if chosen[0].dropped % 1000 == 1:  # the first drop, then one line per thousand
                logger.warning(
                    "waxell-observe: the online evaluation queue is full; run %s of %r is not evaluated "
                    "(%d runs dropped so far)",
                    run.run_id,
                    run.agent_name,
                    chosen[0].dropped,
                )


_PLUGIN = _OnlinePlugin()
