"""Everything a plugin author needs, from one module: ``from waxell_observe.plugin_api import ...``.

A plugin is a module (or object) with hook implementations marked :data:`hookimpl`; the hooks, each
documented, are in :mod:`waxell_observe.hookspecs`. Install it under the entry-point group
``waxell_observe`` (or call ``plugin_manager().register(obj)``). What it may use:

* the run and its records, as the record hooks receive them: :class:`Run`, :class:`LLMCallRecord`,
  :class:`StepRecord`, :class:`SpanRecord`, :class:`ScoreRecord`; the configuration of the run
  (:class:`ObserveConfig`, ``run.config``; :func:`get_config` for the process's);
* delivering records — best as a pipeline destination (``on_route`` + ``on_destination``): a
  :class:`Destination` receives decoded journal frames (:func:`frame_as_dict` names their fields,
  :data:`FRAME_KINDS` their kinds) and answers with :class:`Delivered` or raises :class:`RetryLater`;
  or from the record hooks, through a :class:`BackgroundWorker` (its batch handler raises
  :class:`WorkerRetryLater` to be called again later); ``on_flush``/``on_shutdown`` return a
  :class:`DeliveryReport`;
* deciding on runs (``on_policy_check``): :class:`PolicyCheckResult`, :class:`PolicyEvaluation`,
  :func:`strictest`;
* the names of the contract: :mod:`vocabulary` (run statuses, span kinds, policy categories, ...) and
  :mod:`attributes` (every ``waxell.*`` OpenTelemetry attribute name);
* :data:`ACTIVE_ATTRIBUTE`: a plugin may define ``waxell_active(config) -> bool``; when it answers False
  for a run's configuration its record hooks are not called for that run;
* :func:`plugin_manager` and :data:`plugin_errors` (how often each plugin's hooks raised: a raising
  hook is logged once, counted, and never reaches the agent).

A provider-SDK integration uses :mod:`waxell_observe.instrumentation` besides this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from waxell_observe import vocabulary
from waxell_observe.config import ObserveConfig, get_config
from waxell_observe.plugins import ACTIVE_ATTRIBUTE, hookimpl, plugin_errors, plugin_manager

if TYPE_CHECKING:
    from waxell_observe.delivery.report import DeliveryReport
    from waxell_observe.delivery.worker import BackgroundWorker
    from waxell_observe.delivery.worker import RetryLater as WorkerRetryLater
    from waxell_observe.governance.results import PolicyCheckResult, PolicyEvaluation, strictest
    from waxell_observe.pipeline.destination import Delivered, Destination, RetryLater
    from waxell_observe.pipeline.frames import KIND_NAMES as FRAME_KINDS
    from waxell_observe.pipeline.frames import as_dict as frame_as_dict
    from waxell_observe.records import LLMCallRecord, ScoreRecord, SpanRecord, StepRecord
    from waxell_observe.run import Run
    from waxell_observe.vocabulary import attributes

__all__ = [
    "ACTIVE_ATTRIBUTE",
    "FRAME_KINDS",
    "BackgroundWorker",
    "Delivered",
    "DeliveryReport",
    "Destination",
    "LLMCallRecord",
    "ObserveConfig",
    "PolicyCheckResult",
    "PolicyEvaluation",
    "RetryLater",
    "Run",
    "ScoreRecord",
    "SpanRecord",
    "StepRecord",
    "WorkerRetryLater",
    "attributes",
    "frame_as_dict",
    "get_config",
    "hookimpl",
    "plugin_errors",
    "plugin_manager",
    "strictest",
    "vocabulary",
]


_LAZY: dict[str, tuple[str, str]] = {
    "DeliveryReport": ("waxell_observe.delivery.report", "DeliveryReport"),
    "BackgroundWorker": ("waxell_observe.delivery.worker", "BackgroundWorker"),
    "WorkerRetryLater": ("waxell_observe.delivery.worker", "RetryLater"),
    "PolicyCheckResult": ("waxell_observe.governance.results", "PolicyCheckResult"),
    "PolicyEvaluation": ("waxell_observe.governance.results", "PolicyEvaluation"),
    "strictest": ("waxell_observe.governance.results", "strictest"),
    "Delivered": ("waxell_observe.pipeline.destination", "Delivered"),
    "Destination": ("waxell_observe.pipeline.destination", "Destination"),
    "RetryLater": ("waxell_observe.pipeline.destination", "RetryLater"),
    "FRAME_KINDS": ("waxell_observe.pipeline.frames", "KIND_NAMES"),
    "frame_as_dict": ("waxell_observe.pipeline.frames", "as_dict"),
    "LLMCallRecord": ("waxell_observe.records", "LLMCallRecord"),
    "ScoreRecord": ("waxell_observe.records", "ScoreRecord"),
    "SpanRecord": ("waxell_observe.records", "SpanRecord"),
    "StepRecord": ("waxell_observe.records", "StepRecord"),
    "Run": ("waxell_observe.run", "Run"),
    "attributes": ("waxell_observe.vocabulary.attributes", ""),
}
"""Name -> (module, attribute; ``""`` for the module), imported on first use (PEP 562).

Every ``init()`` imports the installed plugins, and most plugins name the records and the run only in
annotations: a plugin that imports those names under ``if TYPE_CHECKING:`` (as the example plugin does)
costs ``init()`` nothing for them. The frames module needs msgspec, which a plugin that never reads a
frame (most of them) should not pay for either."""


def _load(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    module_name, attribute = target
    module = importlib.import_module(module_name)
    value = getattr(module, attribute) if attribute else module
    globals()[name] = value
    return value


if not TYPE_CHECKING:
    __getattr__ = _load
