"""The ``@pytest.mark.waxell(dataset=..., evaluators=[...], threshold=...)`` marker.

A marked test runs once per dataset item (and repetition): it takes the ``waxell_case`` fixture
(:class:`WaxellCase`: the item's ``input``, ``expected``, ``metadata``) and sets
``waxell_case.output``. Each call runs inside the item's run, the evaluators score the output,
and the row is stored at once; every marked test function is one experiment of the session,
named ``{session name}/{test name}`` (``--waxell-name``, default ``pytest-{UTC time}``; the test
name is the marker's ``name=`` or the function's name). At the end of the session (on the
controller under pytest-xdist, whose workers share the session name) each experiment is summed
up from the stored rows, compared with its ``threshold`` and with the experiment of the same
test in the ``--waxell-baseline`` session, and a one-screen summary is printed; falling below a
threshold or regressing fails the run.

Experiments go where runs go: the embedded store (``WAXELL_DB``) or the configured control plane.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from waxell_observe.evaluation.backends import EvaluationBackend, current_backend
from waxell_observe.evaluation.datasets import DatasetItem
from waxell_observe.evaluation.results import baseline_regressions, summarize, threshold_failures
from waxell_observe.evaluation.runner import ExperimentRecorder, resolve_items

__all__ = [
    "MARKER",
    "CASE_FIXTURE",
    "WaxellCase",
    "MarkerSettings",
    "settings_of",
    "experiment_id_for",
    "default_session_name",
    "SessionExperiments",
    "Verdict",
]

logger = logging.getLogger("waxell_observe")

MARKER = "waxell"
CASE_FIXTURE = "waxell_case"
_THRESHOLD_KEYS = ("dataset", "evaluators", "threshold", "name", "version", "repetitions", "tolerance")


@dataclass
class WaxellCase:
    """One dataset item as a marked test sees it; set :attr:`output` to what the agent answered."""

    item: DatasetItem
    repetition: int = 0
    position: int = 0
    output: Any = None

    @property
    def id(self) -> str:
        return self.item.id

    @property
    def input(self) -> Any:
        return self.item.input

    @property
    def expected(self) -> Any:
        return self.item.expected

    @property
    def metadata(self) -> dict[str, Any]:
        return self.item.metadata

    def record(self, output: Any) -> Any:
        """Set :attr:`output` and return it (``return waxell_case.record(agent(...))``)."""
        self.output = output
        return output


@dataclass(frozen=True)
class MarkerSettings:
    """What a ``waxell`` marker says, checked."""

    test_name: str
    dataset_name: str
    dataset_version: int
    items: tuple[DatasetItem, ...]
    evaluators: tuple[Any, ...]
    threshold: float | dict[str, float] | None
    repetitions: int
    tolerance: float

    def cases(self) -> list[WaxellCase]:
        return [
            WaxellCase(item, repetition, position)
            for position, item in enumerate(self.items)
            for repetition in range(self.repetitions)
        ]

    def case_ids(self) -> list[str]:
        return [
            case.id if self.repetitions == 1 else f"{case.id}-r{case.repetition}" for case in self.cases()
        ]


def _threshold(value: Any) -> float | dict[str, float] | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
        return float(value)
    if isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0
        for k, v in value.items()
    ):
        return {k: float(v) for k, v in value.items()}
    raise ValueError(
        f"threshold must be a pass rate between 0 and 1, or a dict of them by score name; got {value!r}"
    )


def settings_of(function_name: str, kwargs: Mapping[str, Any], backend: EvaluationBackend) -> MarkerSettings:
    """The marker's keyword arguments, checked (``ValueError`` naming the problem)."""
    unknown = sorted(set(kwargs) - set(_THRESHOLD_KEYS))
    if unknown:
        raise ValueError(
            f"@pytest.mark.waxell got unknown arguments {unknown} (it takes {', '.join(_THRESHOLD_KEYS)})"
        )
    if "dataset" not in kwargs:
        raise ValueError("@pytest.mark.waxell needs dataset= (a dataset name, a Dataset or a list of items)")
    evaluators = kwargs.get("evaluators") or ()
    if not isinstance(evaluators, Sequence) or isinstance(evaluators, str):
        raise ValueError(f"evaluators must be a list of evaluators, got {evaluators!r}")
    repetitions = kwargs.get("repetitions", 1)
    if isinstance(repetitions, bool) or not isinstance(repetitions, int) or repetitions < 1:
        raise ValueError(f"repetitions must be an integer >= 1, got {repetitions!r}")
    tolerance = kwargs.get("tolerance", 0.0)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0.0 <= tolerance <= 1.0:
        raise ValueError(f"tolerance must be a number between 0 and 1, got {tolerance!r}")
    name = kwargs.get("name") or function_name
    if not isinstance(name, str):
        raise ValueError(f"name must be a string, got {name!r}")
    source = resolve_items(kwargs["dataset"], kwargs.get("version"), backend)
    if not source.items:
        raise ValueError(f"the dataset of {name!r} has no items")
    return MarkerSettings(
        test_name=name,
        dataset_name=source.name,
        dataset_version=source.version,
        items=source.items,
        evaluators=tuple(evaluators),
        threshold=_threshold(kwargs.get("threshold")),
        repetitions=repetitions,
        tolerance=float(tolerance),
    )


def default_session_name() -> str:
    return "pytest-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def experiment_id_for(session_name: str, test_key: str) -> str:
    """The experiment id of one marked test in one session (the same in every xdist worker)."""
    return hashlib.sha256(f"{session_name}\n{test_key}".encode()).hexdigest()[:32]


@dataclass
class Verdict:
    """The outcome of one experiment of the session."""

    experiment_id: str
    name: str
    summary: dict[str, Any]
    threshold: Any = None
    failures: list[str] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)
    baseline: str = ""
    baseline_summary: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return bool(self.failures or self.regressions)


class SessionExperiments:
    """The experiments of one pytest process: recorders (where tests run) and verdicts (where the
    session ends)."""

    def __init__(self, session_name: str, baseline: str = "") -> None:
        self.session_name = session_name
        self.baseline = baseline
        self._backend: EvaluationBackend | None = None
        self.recorders: dict[str, ExperimentRecorder] = {}
        self.seen: dict[str, None] = {}
        self.verdicts: list[Verdict] = []
        self.problems: list[str] = []

    @property
    def backend(self) -> EvaluationBackend:
        if self._backend is None:
            self._backend = current_backend()
        return self._backend

    def recorder(self, test_key: str, settings: MarkerSettings, nodeid: str) -> ExperimentRecorder:
        experiment_id = experiment_id_for(self.session_name, test_key)
        recorder = self.recorders.get(experiment_id)
        if recorder is None:
            metadata = {
                "source": "pytest",
                "session": self.session_name,
                "test": nodeid,
                "threshold": settings.threshold,
                "tolerance": settings.tolerance,
                "repetitions": settings.repetitions,
                "test_name": settings.test_name,
            }
            recorder = ExperimentRecorder(
                f"{self.session_name}/{settings.test_name}",
                dataset=settings.dataset_name,
                dataset_version=settings.dataset_version,
                evaluators=settings.evaluators,
                metadata=metadata,
                backend=self.backend,
                experiment_id=experiment_id,
            )
            self.recorders[experiment_id] = recorder
        self.seen[experiment_id] = None
        return recorder

    def run_case(self, recorder: ExperimentRecorder, case: WaxellCase, call: Any) -> BaseException | None:
        """Run the test body ``call()`` as the task of ``case``; store its row; return what it raised."""
        import pytest

        raised: list[BaseException] = []

        def task(item: DatasetItem) -> Any:
            try:
                answer = call()
                if inspect.isawaitable(answer):
                    asyncio.run(_awaited(answer))
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                raised.append(exc)
                if isinstance(exc, Exception):
                    raise
                # pytest.fail() and friends: an error row all the same
                raise RuntimeError(f"{type(exc).__name__}: {exc}") from exc
            return case.output

        row = recorder.run_sync(task, case.item, case.repetition, case.position)
        if raised and isinstance(raised[0], pytest.skip.Exception):
            return raised[0]  # a skipped case is no result
        recorder.store_rows([row])
        return raised[0] if raised else None

    def conclude(self) -> list[Verdict]:
        """Sum up every experiment seen, check thresholds and the baseline, mark them completed."""
        for experiment_id in self.seen:
            try:
                self.verdicts.append(self._conclude(experiment_id))
            except Exception as exc:  # noqa: BLE001 - report it; the other experiments still conclude
                logger.exception("waxell-observe: cannot conclude experiment %s", experiment_id)
                self.problems.append(f"experiment {experiment_id}: {type(exc).__name__}: {exc}")
        return self.verdicts

    def _conclude(self, experiment_id: str) -> Verdict:
        stored = self.backend.get_experiment(experiment_id)
        if stored is None:
            raise LookupError(f"experiment {experiment_id} was not stored")
        summary = summarize(stored["results"])
        self.backend.finish_experiment(experiment_id, summary)
        metadata = stored.get("metadata") or {}
        verdict = Verdict(experiment_id, stored["name"], summary, metadata.get("threshold"))
        if verdict.threshold is not None:
            verdict.failures = threshold_failures(summary, verdict.threshold)
        if self.baseline:
            verdict.baseline = f"{self.baseline}/{metadata.get('test_name', '')}"
            before = self.backend.get_experiment(verdict.baseline)
            if before is None:
                verdict.regressions = [f"no baseline experiment {verdict.baseline!r}"]
            else:
                verdict.baseline_summary = before.get("summary") or summarize(before["results"])
                verdict.regressions = baseline_regressions(
                    summary, verdict.baseline_summary, tolerance=float(metadata.get("tolerance") or 0.0)
                )
        return verdict

    def summary_lines(self) -> list[str]:
        """The one-screen summary printed at the end of the session."""
        lines: list[str] = []
        for verdict in self.verdicts:
            s = verdict.summary
            state = "FAILED" if verdict.failed else "passed"
            lines.append(
                f"{verdict.name} [{state}]: {s['items']} items, {s['runs']} runs, {s['errors']} errors, "
                f"cost ${s['cost']:.6f}, latency p50 {s['latency_p50_ms']:.1f} ms "
                f"p95 {s['latency_p95_ms']:.1f} ms"
            )
            before = (verdict.baseline_summary or {}).get("metrics") or {}
            for name, metric in s["metrics"].items():
                mean = "-" if metric["mean"] is None else f"{metric['mean']:.4g}"
                rate = f"{metric['pass_rate']:7.1%} ({metric['passed']}/{s['runs']})"
                line = f"    {name:<24} pass {rate}  mean {mean}"
                if name in before:
                    line += f"  baseline {before[name]['pass_rate']:.1%}"
                lines.append(line)
            lines.extend(f"    below threshold: {failure}" for failure in verdict.failures)
            lines.extend(f"    regression: {regression}" for regression in verdict.regressions)
        lines.extend(f"problem: {problem}" for problem in self.problems)
        return lines


async def _awaited(value: Any) -> Any:
    return await value
