"""Running a task over a dataset: :func:`evaluate` and :func:`aevaluate`.

Each item and repetition runs in its own *item run* (agent ``experiment:{name}`` unless
``agent_name`` is given; tag ``experiment`` = the experiment's name; metadata naming the
experiment, the dataset, its version, the item and the repetition), started in a fresh context so
it is a root run whatever the caller is inside. The evaluators then score the output; their
scores are stored on the item run (source ``experiment``) and in the experiment's result row.
A task that raises makes an ``error`` row (no evaluator runs on it) and the others go on.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from waxell_observe.evaluation.backends import EvaluationBackend, current_backend
from waxell_observe.evaluation.datasets import Dataset, DatasetItem, get_dataset
from waxell_observe.evaluation.results import ExperimentResult, ItemResult, summarize
from waxell_observe.evaluation.scores import acall_evaluator, call_evaluator, check_evaluator, evaluator_name
from waxell_observe.evaluation.trace import RunTrace, collector
from waxell_observe.records import new_id
from waxell_observe.vocabulary.evaluation import EXPERIMENT_AGENT_PREFIX, EXPERIMENT_TAG

__all__ = ["evaluate", "aevaluate", "ExperimentRecorder", "resolve_items"]

logger = logging.getLogger("waxell_observe")

_RESULTS_PER_WRITE = 200
T = TypeVar("T")


@dataclass(frozen=True)
class _Source:
    name: str
    version: int
    items: tuple[DatasetItem, ...]


def resolve_items(
    dataset: Dataset | str | Iterable[Mapping[str, Any] | DatasetItem],
    version: int | None,
    backend: EvaluationBackend,
) -> _Source:
    """The items to run: a :class:`Dataset` (its version), a dataset name (at ``version``, default
    the latest) or a list of items given inline (not stored as a dataset)."""
    if isinstance(dataset, Dataset):
        if version is not None and version != dataset.version:
            dataset = dataset.at_version(version)
        return _Source(dataset.name, dataset.version, dataset.items)
    if isinstance(dataset, str):
        found = get_dataset(dataset, version, backend=backend)
        return _Source(found.name, found.version, found.items)
    items = []
    for index, given in enumerate(dataset):
        if isinstance(given, DatasetItem):
            items.append(given)
            continue
        if not isinstance(given, Mapping) or "input" not in given:
            raise ValueError(f"item {index} must be a DatasetItem or a dict with 'input', got {given!r}")
        items.append(
            DatasetItem(
                str(given.get("id") or f"item-{index}"),
                given["input"],
                given.get("expected"),
                dict(given.get("metadata") or {}),
            )
        )
    return _Source("", 0, tuple(items))


def _task_takes_item(task: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(task).parameters
    except (TypeError, ValueError):
        return False
    return "item" in parameters


def _is_async(function: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(type(function).__call__)


class ExperimentRecorder:
    """One experiment being recorded: opens item runs, applies evaluators, stores the rows.

    Used by :func:`evaluate` and by the pytest marker (which runs each test as an item)."""

    def __init__(
        self,
        name: str,
        *,
        dataset: str = "",
        dataset_version: int = 0,
        evaluators: Sequence[Callable[..., Any]] = (),
        metadata: Mapping[str, Any] | None = None,
        agent_name: str | None = None,
        backend: EvaluationBackend | None = None,
        experiment_id: str | None = None,
        create: bool = True,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"an experiment needs a non-empty name, got {name!r}")
        for evaluator in evaluators:
            check_evaluator(evaluator)
        self.name = name
        self.dataset = dataset
        self.dataset_version = dataset_version
        self.evaluators = list(evaluators)
        self.agent_name = agent_name or f"{EXPERIMENT_AGENT_PREFIX}{name}"
        self.backend = backend or current_backend()
        self.experiment_id = experiment_id or new_id()
        self.rows: list[ItemResult] = []
        if create:
            self.backend.create_experiment(
                self.experiment_id, name, dataset, dataset_version, dict(metadata or {})
            )

    # -- one item ---------------------------------------------------------------------------------

    def _context(self, item: DatasetItem, repetition: int, run_id: str) -> Any:
        from waxell_observe.context import WaxellContext

        inputs = dict(item.input) if isinstance(item.input, Mapping) else {"input": item.input}
        metadata = {
            "experiment_id": self.experiment_id,
            "experiment": self.name,
            "dataset": self.dataset,
            "dataset_version": self.dataset_version,
            "item_id": item.id,
            "repetition": repetition,
        }
        return WaxellContext(
            agent_name=self.agent_name,
            workflow_name="experiment",
            inputs=inputs,
            metadata=metadata,
            tags={EXPERIMENT_TAG: self.name[:256]},
            run_id=run_id,
        )

    def _row(
        self,
        item: DatasetItem,
        repetition: int,
        position: int,
        output: Any,
        error: BaseException | None,
        trace: RunTrace,
    ) -> ItemResult:
        return ItemResult(
            item_id=item.id,
            repetition=repetition,
            position=position,
            input=item.input,
            expected=item.expected,
            output=output,
            run_id=trace.run_id,
            status="error" if error is not None else "success",
            error=(str(error) or type(error).__name__) if error is not None else "",
            error_type=type(error).__name__ if error is not None else "",
            latency_ms=trace.latency_ms,
            cost=trace.cost,
            tokens_in=trace.tokens_in,
            tokens_out=trace.tokens_out,
            metadata=dict(item.metadata),
        )

    def _available(self, item: DatasetItem, output: Any, trace: RunTrace) -> dict[str, Any]:
        return {
            "input": item.input,
            "output": output,
            "expected": item.expected,
            "metadata": dict(item.metadata),
            "item": item,
            "trace": trace,
        }

    def run_sync(
        self, task: Callable[..., Any], item: DatasetItem, repetition: int, position: int
    ) -> ItemResult:
        """Run ``task`` on ``item`` in its item run, then the evaluators (blocking)."""
        run_id = new_id()
        traces = collector()
        trace = traces.watch(run_id)
        output: Any = None
        error: BaseException | None = None
        started = time.perf_counter()
        try:
            with self._context(item, repetition, run_id) as ctx:
                output = task(item=item) if _task_takes_item(task) else task(item.input)
                if inspect.isawaitable(output):
                    output = asyncio.run(_awaited(output))
                ctx.set_result(output)
        except Exception as exc:  # noqa: BLE001 - a failing item is a result, the others go on
            error = exc
            logger.info("waxell-observe: experiment %r item %r failed: %r", self.name, item.id, exc)
        finally:
            trace.latency_ms = (time.perf_counter() - started) * 1000.0
            traces.release(run_id)
        row = self._row(item, repetition, position, output, error, trace)
        if error is None:
            available = self._available(item, output, trace)
            for evaluator in self.evaluators:
                try:
                    row.scores.extend(call_evaluator(evaluator, available))
                except Exception as exc:  # noqa: BLE001 - one evaluator failing leaves the others
                    self._evaluator_failed(row, evaluator, exc)
        self.rows.append(row)
        return row

    async def run_async(
        self, task: Callable[..., Awaitable[Any]], item: DatasetItem, repetition: int, position: int
    ) -> ItemResult:
        """Run the async ``task`` on ``item`` in its item run, then the evaluators."""
        run_id = new_id()
        traces = collector()
        trace = traces.watch(run_id)
        output: Any = None
        error: BaseException | None = None
        started = time.perf_counter()
        try:
            async with self._context(item, repetition, run_id) as ctx:
                output = await (task(item=item) if _task_takes_item(task) else task(item.input))
                ctx.set_result(output)
        except Exception as exc:  # noqa: BLE001 - a failing item is a result, the others go on
            error = exc
            logger.info("waxell-observe: experiment %r item %r failed: %r", self.name, item.id, exc)
        finally:
            trace.latency_ms = (time.perf_counter() - started) * 1000.0
            traces.release(run_id)
        row = self._row(item, repetition, position, output, error, trace)
        if error is None:
            available = self._available(item, output, trace)
            for evaluator in self.evaluators:
                try:
                    row.scores.extend(await acall_evaluator(evaluator, available))
                except Exception as exc:  # noqa: BLE001 - one evaluator failing leaves the others
                    self._evaluator_failed(row, evaluator, exc)
        self.rows.append(row)
        return row

    def _evaluator_failed(self, row: ItemResult, evaluator: Any, exc: BaseException) -> None:
        name = evaluator_name(evaluator)
        row.evaluator_errors.append(f"{name}: {type(exc).__name__}: {exc}")
        logger.warning("waxell-observe: evaluator %r failed on item %r: %r", name, row.item_id, exc)

    # -- the end ----------------------------------------------------------------------------------

    def store_rows(self, rows: Sequence[ItemResult]) -> None:
        """Store result rows (and their scores on their runs)."""
        for start in range(0, len(rows), _RESULTS_PER_WRITE):
            self.backend.add_results(
                self.experiment_id, [row.as_row() for row in rows[start : start + _RESULTS_PER_WRITE]]
            )

    def finish(self, *, store: bool = True) -> ExperimentResult:
        """Store the rows (unless already stored), the aggregates, and return the result."""
        from waxell_observe.lifecycle import flush_sync

        rows = sorted(self.rows, key=lambda row: (row.position, row.repetition))
        if store:
            self.store_rows(rows)
        summary = summarize(row.as_row() for row in rows)
        self.backend.finish_experiment(self.experiment_id, summary)
        flush_sync(30)  # the item runs land where they go before the caller looks at them
        return ExperimentResult(
            self.experiment_id, self.name, self.dataset, self.dataset_version, rows, summary
        )


async def _in_fresh_context(coroutine: Coroutine[Any, Any, T]) -> T:
    """Await ``coroutine`` as a task started in an empty context (its runs are root runs)."""
    return await contextvars.Context().run(asyncio.ensure_future, coroutine)


async def _awaited(value: Awaitable[Any]) -> Any:
    return await value


def _default_name(task: Callable[..., Any], source: _Source) -> str:
    task_name = getattr(task, "__name__", type(task).__name__)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{task_name}-{source.name or 'items'}-{stamp}"


def _check(max_concurrency: int, repetitions: int) -> None:
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ValueError(f"max_concurrency must be an integer >= 1, got {max_concurrency!r}")
    if isinstance(repetitions, bool) or not isinstance(repetitions, int) or repetitions < 1:
        raise ValueError(f"repetitions must be an integer >= 1, got {repetitions!r}")


def _recorder(
    task: Callable[..., Any],
    dataset: Any,
    evaluators: Sequence[Callable[..., Any]],
    name: str | None,
    max_concurrency: int,
    repetitions: int,
    metadata: Mapping[str, Any] | None,
    dataset_version: int | None,
    agent_name: str | None,
    client: Any,
    backend: EvaluationBackend | None,
) -> tuple[ExperimentRecorder, list[tuple[int, DatasetItem, int]]]:
    if not callable(task):
        raise ValueError(f"task must be a callable, got {task!r}")
    _check(max_concurrency, repetitions)
    store = backend or current_backend(client)
    source = resolve_items(dataset, dataset_version, store)
    experiment_name = name or _default_name(task, source)
    described = {
        "task": getattr(task, "__name__", type(task).__name__),
        "evaluators": [evaluator_name(e) for e in evaluators],
        "repetitions": repetitions,
        "max_concurrency": max_concurrency,
        "items": len(source.items),
        **dict(metadata or {}),
    }
    recorder = ExperimentRecorder(
        experiment_name, dataset=source.name, dataset_version=source.version, evaluators=evaluators,
        metadata=described, agent_name=agent_name, backend=store,
    )  # fmt: skip
    plan = [(position, item, rep) for position, item in enumerate(source.items) for rep in range(repetitions)]
    return recorder, plan


def evaluate(
    task: Callable[..., Any],
    dataset: Dataset | str | Iterable[Mapping[str, Any] | DatasetItem],
    evaluators: Sequence[Callable[..., Any]] = (),
    *,
    name: str | None = None,
    max_concurrency: int = 4,
    repetitions: int = 1,
    metadata: Mapping[str, Any] | None = None,
    dataset_version: int | None = None,
    agent_name: str | None = None,
    client: Any = None,
    backend: EvaluationBackend | None = None,
) -> ExperimentResult:
    """Run ``task`` over ``dataset`` as experiment ``name`` and score it with ``evaluators``.

    ``task(input)`` (or ``task(item=DatasetItem)`` when it names an ``item`` parameter) may be sync
    or async; ``dataset``: a :class:`Dataset` (pinned at its version), a dataset name (at
    ``dataset_version``, default the latest), or a list of ``{input, expected, metadata}`` dicts.
    Each item runs ``repetitions`` times, at most ``max_concurrency`` at once (threads for a sync
    task, the event loop for an async one). Call :func:`aevaluate` from inside an event loop.
    """
    if _is_async(task):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "evaluate() of an async task was called inside an event loop: await aevaluate()"
            )
        return asyncio.run(
            aevaluate(
                task, dataset, evaluators, name=name, max_concurrency=max_concurrency,
                repetitions=repetitions, metadata=metadata, dataset_version=dataset_version,
                agent_name=agent_name, client=client, backend=backend,
            )
        )  # fmt: skip
    recorder, plan = _recorder(
        task, dataset, evaluators, name, max_concurrency, repetitions, metadata, dataset_version, agent_name,
        client, backend,
    )  # fmt: skip
    if max_concurrency == 1:
        for position, item, rep in plan:
            contextvars.Context().run(recorder.run_sync, task, item, rep, position)
    else:
        with ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="waxell-evaluate") as pool:
            futures = [
                pool.submit(contextvars.Context().run, recorder.run_sync, task, item, rep, position)
                for position, item, rep in plan
            ]
            for future in futures:
                future.result()
    return recorder.finish()


async def aevaluate(
    task: Callable[..., Any],
    dataset: Dataset | str | Iterable[Mapping[str, Any] | DatasetItem],
    evaluators: Sequence[Callable[..., Any]] = (),
    *,
    name: str | None = None,
    max_concurrency: int = 4,
    repetitions: int = 1,
    metadata: Mapping[str, Any] | None = None,
    dataset_version: int | None = None,
    agent_name: str | None = None,
    client: Any = None,
    backend: EvaluationBackend | None = None,
) -> ExperimentResult:
    """:func:`evaluate` on the running event loop (an async task runs on it; a sync task and the
    store's writes run in worker threads)."""
    recorder, plan = await asyncio.to_thread(
        _recorder, task, dataset, evaluators, name, max_concurrency, repetitions, metadata, dataset_version,
        agent_name, client, backend,
    )  # fmt: skip
    gate = asyncio.Semaphore(max_concurrency)
    loop = asyncio.get_running_loop()

    async def one(position: int, item: DatasetItem, rep: int) -> ItemResult:
        async with gate:
            if _is_async(task):
                return await _in_fresh_context(recorder.run_async(task, item, rep, position))
            return await loop.run_in_executor(
                None, contextvars.Context().run, recorder.run_sync, task, item, rep, position
            )

    await asyncio.gather(*(one(position, item, rep) for position, item, rep in plan))
    return await asyncio.to_thread(recorder.finish)
