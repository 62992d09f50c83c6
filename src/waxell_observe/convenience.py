"""Module-level recording functions: act on the current run, do nothing outside one.

``waxell_observe.tag("tier", "gold")`` is ``get_current_context().set_tag("tier", "gold")``
when a run is active (inside ``@observe`` or a ``WaxellContext``), and a no-op returning
``None`` otherwise (also when the SDK is disabled). Inside a run, misuse (a bad tag key, a
score of the wrong type, ...) raises ``ValueError`` exactly as the context methods do.
"""

from __future__ import annotations

from typing import Any

from waxell_observe.current import current_context, get_context, get_current_context
from waxell_observe.records import ScoreRecord, SpanRecord, StepRecord

__all__ = [
    "tag",
    "metadata",
    "score",
    "step",
    "decide",
    "reason",
    "retrieve",
    "retry",
    "user_message",
    "agent_response",
    "get_context",
    "get_current_context",
]


def tag(key: str, value: str) -> None:
    """Set a searchable tag on the current run (key: letters, digits, ``_``, ``-``; value: a string)."""
    context = current_context.get()
    if context is not None:
        context.set_tag(key, value)


def metadata(key: str, value: Any) -> None:
    """Set a metadata value on the current run."""
    context = current_context.get()
    if context is not None:
        context.set_metadata(key, value)


def score(
    name: str, value: float | str | bool, data_type: str = "numeric", comment: str = ""
) -> ScoreRecord | None:
    """Record a score on the current run (``numeric``, ``categorical`` or ``boolean``)."""
    context = current_context.get()
    if context is None:
        return None
    return context.record_score(name, value, data_type=data_type, comment=comment)


def step(name: str, output: dict[str, Any] | None = None) -> StepRecord | None:
    """Record a named step on the current run."""
    context = current_context.get()
    if context is None:
        return None
    return context.record_step(name, output=output)


def decide(
    name: str,
    chosen: str,
    options: list[str],
    reasoning: str = "",
    confidence: float | None = None,
    metadata: dict[str, Any] | None = None,
) -> SpanRecord | None:
    """Record a decision: ``chosen`` among ``options``."""
    context = current_context.get()
    if context is None:
        return None
    return context.record_decision(
        name=name,
        options=options,
        chosen=chosen,
        reasoning=reasoning,
        confidence=confidence,
        metadata=metadata,
    )


def reason(
    step: str, thought: str, evidence: list[str] | None = None, conclusion: str = ""
) -> SpanRecord | None:
    """Record a reasoning step."""
    context = current_context.get()
    if context is None:
        return None
    return context.record_reasoning(step=step, thought=thought, evidence=evidence, conclusion=conclusion)


def retrieve(
    query: str,
    documents: list[dict[str, Any]],
    source: str = "",
    duration_ms: float | None = None,
    top_k: int | None = None,
    scores: list[float] | None = None,
) -> SpanRecord | None:
    """Record a document retrieval."""
    context = current_context.get()
    if context is None:
        return None
    return context.record_retrieval(
        query=query, documents=documents, source=source, duration_ms=duration_ms, top_k=top_k, scores=scores
    )


def retry(
    attempt: int,
    reason: str,
    strategy: str = "retry",
    original_error: str = "",
    fallback_to: str = "",
    max_attempts: int | None = None,
) -> SpanRecord | None:
    """Record a retry or fallback (``attempt`` is 1-based)."""
    context = current_context.get()
    if context is None:
        return None
    return context.record_retry(
        attempt=attempt,
        reason=reason,
        strategy=strategy,
        original_error=original_error,
        fallback_to=fallback_to,
        max_attempts=max_attempts,
    )


def user_message(text: str) -> SpanRecord | None:
    """Record what the user said (updates the run's conversation state)."""
    context = current_context.get()
    if context is None:
        return None
    return context.record_user_message(text)


def agent_response(text: str) -> SpanRecord | None:
    """Record what the agent answered (updates the run's conversation state)."""
    context = current_context.get()
    if context is None:
        return None
    return context.record_agent_response(text)
