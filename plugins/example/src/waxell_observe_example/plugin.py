"""JSON-lines sink: one line per run start, record and run end.

Registered through the entry point ``jsonl`` in the ``waxell_observe`` group. Everything it uses
comes from :mod:`waxell_observe.plugin_api`, the one module a plugin needs. Active when
the configuration names a file: ``WAXELL_JSONL_PATH`` or ``init(jsonl_path=...)``. Lines
are written by a background worker, never on the agent's thread.

Every ``init()`` imports the installed plugins, configured or not, so this module imports at its top
only what it runs: the names it uses in annotations only (the run, the records, the configuration)
are imported for type checkers alone, and the worker's class when the first line is written.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from waxell_observe.plugin_api import hookimpl

if TYPE_CHECKING:
    from waxell_observe.plugin_api import (
        BackgroundWorker,
        DeliveryReport,
        LLMCallRecord,
        ObserveConfig,
        Run,
        ScoreRecord,
        SpanRecord,
        StepRecord,
    )

NAME = "jsonl"

_lock = threading.Lock()
_path: str | None = None
_worker: BackgroundWorker[tuple[str, dict[str, Any]]] | None = None


def _write(batch: list[tuple[str, dict[str, Any]]]) -> None:
    by_file: dict[str, list[str]] = {}
    for path, line in batch:
        by_file.setdefault(path, []).append(json.dumps(line, ensure_ascii=False, default=repr))
    for path, lines in by_file.items():
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


def _emit(event: str, run: Run, payload: dict[str, Any]) -> None:
    global _worker
    path = _path
    if path is None:  # pragma: no cover - callers check first
        return
    if _worker is None:
        with _lock:
            if _worker is None:
                from waxell_observe.plugin_api import BackgroundWorker

                _worker = BackgroundWorker(NAME, _write)
    _worker.put((path, {"event": event, "run_id": run.run_id, "agent_name": run.agent_name, **payload}))


def _target(config: ObserveConfig) -> str:
    return str(config.extra.get("jsonl_path") or os.environ.get("WAXELL_JSONL_PATH") or "")


def waxell_active(config: ObserveConfig) -> bool:
    """Optional: when False, the record hooks below are not called at all for runs with this
    configuration, so an unconfigured plugin costs the agent nothing."""
    return bool(_target(config))


@hookimpl
def on_configure(config: ObserveConfig) -> None:
    global _path
    _path = _target(config) or None


@hookimpl
def on_run_start(run: Run) -> None:
    if _path is None:  # inactive: cost nothing on the agent's thread
        return
    _emit("run_start", run, {"workflow_name": run.workflow_name, "inputs": run.inputs})


@hookimpl
def on_llm_call(run: Run, call: LLMCallRecord) -> None:
    if _path is None:  # inactive: cost nothing on the agent's thread
        return
    _emit("llm_call", run, asdict(call))


@hookimpl
def on_step(run: Run, step: StepRecord) -> None:
    if _path is None:  # inactive: cost nothing on the agent's thread
        return
    _emit("step", run, asdict(step))


@hookimpl
def on_span(run: Run, span: SpanRecord) -> None:
    if _path is None:  # inactive: cost nothing on the agent's thread
        return
    _emit("span", run, asdict(span))


@hookimpl
def on_score(run: Run, score: ScoreRecord) -> None:
    if _path is None:  # inactive: cost nothing on the agent's thread
        return
    _emit("score", run, asdict(score))


@hookimpl
def on_run_end(run: Run) -> None:
    if _path is None:  # inactive: cost nothing on the agent's thread
        return
    _emit(
        "run_end",
        run,
        {"status": run.status, "result": run.result, "error": run.error, "tags": dict(run.tags)},
    )


@hookimpl
def on_flush(timeout: float | None) -> DeliveryReport | None:
    return _worker.flush(timeout) if _worker is not None else None


@hookimpl
def on_shutdown(timeout: float | None) -> DeliveryReport | None:
    return _worker.shutdown(timeout) if _worker is not None else None
