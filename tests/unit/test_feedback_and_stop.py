"""Issue 12: the governance feedback queue (``_emit_governance_warn``, ``take_feedback``,
``feedback_text``), the stop flags (``request_stop``, ``should_stop``, ``stop_reason``) and the block
mark a gate leaves (the run completes ``blocked``), read back from the store."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from waxell_observe import WaxellContext
from waxell_observe.context.human_loop import FEEDBACK_HEADER
from waxell_observe.vocabulary import attributes as names

ReadRun = Callable[[str], dict[str, Any]]


def _context(agent: str) -> WaxellContext:
    return WaxellContext(agent_name=agent, enforce_policy=False)


def test_warnings_queue_drain_and_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="waxell_observe"), _context("i12-feedback") as ctx:
        ctx._emit_governance_warn("tool.before", "", policy="pii-check", category="content")
        ctx._emit_governance_warn("llm.before", "keep answers short")
        assert ctx.take_feedback() == [
            {
                "surface": "tool.before",
                "reason": "policy warning",
                "policy": "pii-check",
                "category": "content",
            },
            {"surface": "llm.before", "reason": "keep answers short", "policy": "", "category": ""},
        ]
        assert ctx.take_feedback() == []
        assert ctx.feedback_text() == ""
        ctx._emit_governance_warn("memory.write", "no secrets in memory", policy="secrets")
        ctx._emit_governance_warn("network.before", "external host")
        assert ctx.feedback_text() == (
            f"{FEEDBACK_HEADER}\n- no secrets in memory (policy: secrets)\n- external host"
        )
        assert ctx.feedback_text() == ""
    assert FEEDBACK_HEADER == "Governance feedback on your last step — adjust and continue:"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    prefix = "waxell-observe: governance warning at"
    agent = "for agent 'i12-feedback':"
    assert warnings == [
        f"{prefix} tool.before {agent} policy warning (policy: pii-check)",
        f"{prefix} llm.before {agent} keep answers short",
        f"{prefix} memory.write {agent} no secrets in memory (policy: secrets)",
        f"{prefix} network.before {agent} external host",
    ]


@pytest.fixture
def otel_spans() -> Iterator[tuple[Any, Any]]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test"), exporter
    provider.shutdown()


def test_a_warning_stamps_the_current_otel_span(otel_spans: tuple[Any, Any]) -> None:
    tracer, exporter = otel_spans
    with _context("i12-feedback-otel") as ctx, tracer.start_as_current_span("tool call"):
        ctx._emit_governance_warn("tool.before", "slow down", policy="rate", category="rate-limit")
    (span,) = exporter.get_finished_spans()
    assert dict(span.attributes) == {
        names.GOVERNANCE_WARN: True,
        names.GOVERNANCE_SURFACE: "tool.before",
        names.GOVERNANCE_REASON: "slow down",
        names.GOVERNANCE_POLICY: "rate",
    }
    assert names.GOVERNANCE_WARN == "waxell.governance.warn"
    assert names.GOVERNANCE_POLICY == "waxell.governance.policy"


def test_stop_flags_and_reason_precedence(read_run: ReadRun) -> None:
    with _context("i12-stop") as ctx:
        assert (ctx.should_stop(), ctx.stop_reason) == (False, "")
        ctx.request_stop()
        assert (ctx.should_stop(), ctx.stop_reason) == (True, "")
        ctx.request_stop("user pressed stop")
        ctx.request_stop()  # an empty reason keeps the one given
        assert (ctx.should_stop(), ctx.stop_reason) == (True, "user pressed stop")
        with pytest.raises(ValueError, match="reason must be a string"):
            ctx.request_stop(3)  # type: ignore[arg-type]
    run = read_run(ctx.run_id)
    assert (run["status"], run["error"]) == ("success", "")  # a stop request is not a failure


def test_a_blocked_mark_stops_and_completes_the_run_blocked(read_run: ReadRun) -> None:
    with _context("i12-blocked-mark") as ctx:
        ctx._mark_blocked("tool shell is forbidden")
        ctx._mark_blocked("a later reason does not replace the first")
        assert (ctx.should_stop(), ctx.stop_reason) == (True, "tool shell is forbidden")
        ctx.request_stop("operator")
        assert ctx.stop_reason == "operator"  # the stop reason comes before the block reason
    run = read_run(ctx.run_id)
    assert (run["status"], run["error"], run["error_type"]) == (
        "blocked",
        "tool shell is forbidden",
        "PolicyViolationError",
    )


def test_outside_a_run_the_queue_and_flags_still_work() -> None:
    ctx = _context("i12-not-entered")
    assert (ctx.take_feedback(), ctx.feedback_text(), ctx.should_stop(), ctx.stop_reason) == (
        [],
        "",
        False,
        "",
    )
    ctx._emit_governance_warn("run.start", "heads up")
    assert ctx.take_feedback() == [
        {"surface": "run.start", "reason": "heads up", "policy": "", "category": ""}
    ]
