"""What a test sees of the runs it recorded: :class:`RecordedRun` and :class:`RecordedRuns`.

Both are plain in-memory views filled by :mod:`waxell_observe.testing.capture` while the code
under test runs. The ``assert_*`` methods raise :class:`AssertionError` with a message that says
what was expected and what the run holds, so a failing test explains itself.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from waxell_observe.records import LLMCallRecord, ScoreRecord, SpanRecord, StepRecord, short_id

if TYPE_CHECKING:
    from waxell_observe.governance.results import PolicyCheckResult

__all__ = ["RecordedRun", "RecordedRuns"]

_MISSING: Any = object()


@dataclass
class RecordedRun:
    """One run recorded during the test, with its records in the order they were made.

    ``status`` is ``"running"`` until the run ends; the totals (``tokens_in``, ``total_cost``,
    ...) are the run's own running totals, as governance sees them.
    """

    run_id: str
    agent_name: str
    workflow_name: str
    parent_run_id: str = ""
    session_id: str = ""
    user_id: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    error: str = ""
    error_type: str = ""
    result: Any = None
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    total_cost: float = 0.0
    started_at: float = 0.0
    ended_at: float | None = None
    governance: PolicyCheckResult | None = None
    llm_calls: list[LLMCallRecord] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    spans: list[SpanRecord] = field(default_factory=list)
    scores: list[ScoreRecord] = field(default_factory=list)

    # -- views ----------------------------------------------------------------------------------

    @property
    def total_tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    @property
    def duration_ms(self) -> float | None:
        return None if self.ended_at is None else (self.ended_at - self.started_at) * 1000.0

    @property
    def models(self) -> list[str]:
        """Models of the LLM calls, in the order first used."""
        return list(dict.fromkeys(call.model for call in self.llm_calls))

    def spans_of(self, kind: str) -> list[SpanRecord]:
        """Spans of one kind (``tool``, ``retrieval``, ``decision``, ``reasoning``, ``retry``,
        ``policy``, ``io``, ...)."""
        return [span for span in self.spans if span.kind == kind]

    @property
    def tool_calls(self) -> list[SpanRecord]:
        return self.spans_of("tool")

    @property
    def tool_names(self) -> list[str]:
        return [span.name for span in self.tool_calls]

    @property
    def policy_checks(self) -> list[SpanRecord]:
        return self.spans_of("policy")

    def score(self, name: str) -> float | str | bool:
        """The value of the last score named ``name`` (AssertionError if there is none)."""
        for recorded in reversed(self.scores):
            if recorded.name == name:
                return recorded.value
        raise AssertionError(f"run {self._label()} has no score {name!r} (scores: {self._score_names()})")

    # -- assertions ------------------------------------------------------------------------------

    def assert_status(self, status: str) -> RecordedRun:
        if self.status != status:
            detail = f" ({self.error_type}: {self.error})" if self.error else ""
            raise AssertionError(f"run {self._label()} ended {self.status!r}{detail}, expected {status!r}")
        return self

    def assert_succeeded(self) -> RecordedRun:
        return self.assert_status("success")

    def assert_failed(self, error_type: str | None = None) -> RecordedRun:
        self.assert_status("error")
        if error_type is not None and self.error_type != error_type:
            raise AssertionError(
                f"run {self._label()} failed with {self.error_type}, expected {error_type} ({self.error})"
            )
        return self

    def assert_blocked(self, reason_contains: str = "") -> RecordedRun:
        self.assert_status("blocked")
        if reason_contains and reason_contains not in self.error:
            raise AssertionError(
                f"run {self._label()} was blocked for {self.error!r}, "
                f"expected a reason with {reason_contains!r}"
            )
        return self

    def assert_tool_called(self, name: str, *, times: int | None = None, **arguments: Any) -> SpanRecord:
        """The tool was called (``times`` exactly, when given) and one call's input holds every
        given argument with an equal value; returns that call."""
        calls = [span for span in self.tool_calls if span.name == name]
        if not calls:
            raise AssertionError(
                f"run {self._label()} did not call tool {name!r} (tools called: {self.tool_names})"
            )
        if times is not None and len(calls) != times:
            raise AssertionError(
                f"run {self._label()} called tool {name!r} {len(calls)} time(s), expected {times}"
            )
        for call in calls:
            given = call.input if isinstance(call.input, dict) else {}
            if all(given.get(key, _MISSING) == value for key, value in arguments.items()):
                return call
        seen = [call.input for call in calls]
        raise AssertionError(
            f"run {self._label()} called tool {name!r} with {seen}, none matching {arguments}"
        )

    def assert_tool_not_called(self, name: str) -> RecordedRun:
        if name in self.tool_names:
            count = self.tool_names.count(name)
            raise AssertionError(f"run {self._label()} called tool {name!r} {count} time(s), expected none")
        return self

    def assert_model_used(self, model: str) -> RecordedRun:
        if model not in self.models:
            raise AssertionError(f"run {self._label()} did not call model {model!r} (models: {self.models})")
        return self

    def assert_step(self, name: str) -> StepRecord:
        for step in self.steps:
            if step.name == name:
                return step
        names = [step.name for step in self.steps]
        raise AssertionError(f"run {self._label()} has no step {name!r} (steps: {names})")

    def assert_cost_at_most(self, usd: float) -> RecordedRun:
        if not self.total_cost <= usd:
            raise AssertionError(f"run {self._label()} cost ${self.total_cost:.6f}, more than ${usd:.6f}")
        return self

    def assert_tokens_at_most(self, tokens: int) -> RecordedRun:
        if self.total_tokens > tokens:
            raise AssertionError(f"run {self._label()} used {self.total_tokens} tokens, more than {tokens}")
        return self

    def assert_score(
        self,
        name: str,
        value: Any = _MISSING,
        *,
        at_least: float | None = None,
        at_most: float | None = None,
    ) -> RecordedRun:
        """A score named ``name`` exists; equal to ``value``, or within ``at_least``/``at_most``."""
        actual = self.score(name)
        if value is not _MISSING and actual != value:
            raise AssertionError(f"run {self._label()} scored {name}={actual!r}, expected {value!r}")
        if at_least is not None or at_most is not None:
            if isinstance(actual, bool) or not isinstance(actual, (int, float)) or math.isnan(actual):
                raise AssertionError(f"run {self._label()} scored {name}={actual!r}, not a number")
            if at_least is not None and actual < at_least:
                raise AssertionError(f"run {self._label()} scored {name}={actual}, below {at_least}")
            if at_most is not None and actual > at_most:
                raise AssertionError(f"run {self._label()} scored {name}={actual}, above {at_most}")
        return self

    def assert_tag(self, key: str, value: str | None = None) -> RecordedRun:
        if key not in self.tags:
            raise AssertionError(f"run {self._label()} has no tag {key!r} (tags: {self.tags})")
        if value is not None and self.tags[key] != value:
            raise AssertionError(f"run {self._label()} has tag {key}={self.tags[key]!r}, expected {value!r}")
        return self

    def assert_policy(
        self, name: str | None = None, *, action: str | None = None, category: str | None = None
    ) -> SpanRecord:
        """A policy answered on this run (``name``, with that ``action`` and ``category`` when given:
        ``block``, ``warn``, ``redact``, ...); returns its policy span (``attributes``: ``reason``,
        ``phase``, ``metadata``, ...)."""
        wanted = {"policy_name": name, "action": action, "category": category}
        for check in self.policy_checks:
            attributes = check.attributes or {}
            if all(value is None or attributes.get(key) == value for key, value in wanted.items()):
                return check
        seen = [
            {key: (c.attributes or {}).get(key) for key in ("policy_name", "action", "category")}
            for c in self.policy_checks
        ]
        asked = ", ".join(f"{k}={v!r}" for k, v in wanted.items() if v is not None) or "any policy"
        raise AssertionError(f"run {self._label()} has no policy answer with {asked} (answers: {seen})")

    # -- helpers ---------------------------------------------------------------------------------

    def _label(self) -> str:
        return f"{self.agent_name!r} ({short_id(self.run_id)})"

    def _score_names(self) -> list[str]:
        return [recorded.name for recorded in self.scores]


class RecordedRuns(Sequence[RecordedRun]):
    """The runs recorded during one test, in the order they started."""

    def __init__(self, runs: list[RecordedRun], store_url: str = "") -> None:
        self._runs = runs
        self.store_url = store_url
        """Where these runs were also stored (a store private to the test session)."""
        self._policies: list[str] = []

    def use_policies(self, source: str | os.PathLike[str] | Iterable[Mapping[str, Any]]) -> list[str]:
        """Govern the runs of this test with policies: a policy file's path, YAML or JSON text, or
        a list of policy dicts (``docs/policy-format.md``). They go into the private store for the
        test only (removed when it ends); returns their names. Offline captures only."""
        from waxell_observe.governance.loader import load_policies, parse_policies
        from waxell_observe.governance.policy_store import add_policies
        from waxell_observe.store import get_store

        if not self.store_url:
            raise RuntimeError("use_policies needs an offline capture (its private store)")
        if isinstance(source, (str, os.PathLike)):
            policies = load_policies(source)
        else:
            policies = parse_policies(list(source), source="use_policies")
        names = add_policies(get_store(self.store_url), policies)
        self._policies.extend(names)
        return names

    def _remove_policies(self) -> None:
        """Take the policies :meth:`use_policies` added out of the private store."""
        if not self._policies:
            return
        from waxell_observe.governance.policy_store import remove_policies
        from waxell_observe.store import get_store

        remove_policies(get_store(self.store_url), self._policies)
        self._policies = []

    @overload
    def __getitem__(self, index: int) -> RecordedRun: ...

    @overload
    def __getitem__(self, index: slice) -> list[RecordedRun]: ...

    def __getitem__(self, index: int | slice) -> RecordedRun | list[RecordedRun]:
        return self._runs[index]

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[RecordedRun]:
        return iter(list(self._runs))

    def find(
        self, agent_name: str | None = None, *, status: str | None = None, workflow_name: str | None = None
    ) -> list[RecordedRun]:
        """The runs matching every criterion given."""
        return [
            run
            for run in list(self._runs)
            if (agent_name is None or run.agent_name == agent_name)
            and (status is None or run.status == status)
            and (workflow_name is None or run.workflow_name == workflow_name)
        ]

    def one(
        self, agent_name: str | None = None, *, status: str | None = None, workflow_name: str | None = None
    ) -> RecordedRun:
        """The only run matching the criteria (AssertionError when there are none or several)."""
        found = self.find(agent_name, status=status, workflow_name=workflow_name)
        if len(found) != 1:
            criteria = {"agent_name": agent_name, "status": status, "workflow_name": workflow_name}
            wanted = ", ".join(f"{k}={v!r}" for k, v in criteria.items() if v is not None) or "any run"
            raise AssertionError(
                f"expected exactly one run with {wanted}, found {len(found)}: {self.summary()}"
            )
        return found[0]

    def assert_count(self, count: int, agent_name: str | None = None, *, status: str | None = None) -> None:
        found = self.find(agent_name, status=status)
        if len(found) != count:
            raise AssertionError(f"expected {count} run(s), found {len(found)}: {self.summary()}")

    @property
    def llm_calls(self) -> list[LLMCallRecord]:
        return [call for run in list(self._runs) for call in run.llm_calls]

    @property
    def tool_calls(self) -> list[SpanRecord]:
        return [span for run in list(self._runs) for span in run.tool_calls]

    @property
    def total_cost(self) -> float:
        return sum(run.total_cost for run in list(self._runs))

    @property
    def total_tokens(self) -> int:
        return sum(run.total_tokens for run in list(self._runs))

    def summary(self) -> str:
        """One line per run: agent, status, calls, tools, cost."""
        if not self._runs:
            return "no runs recorded"
        lines = [
            f"{run.agent_name} [{run.status}] {len(run.llm_calls)} LLM call(s), tools {run.tool_names}, "
            f"${run.total_cost:.6f}"
            for run in list(self._runs)
        ]
        return "; ".join(lines)
