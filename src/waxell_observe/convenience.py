"""Module-level recording functions: act on the current run, do nothing outside one.

``waxell_observe.tag("tier", "gold")`` is ``get_current_context().set_tag("tier", "gold")``
when a run is active (inside ``@observe`` or a ``WaxellContext``), and a no-op returning
``None`` otherwise (also when the SDK is disabled). Inside a run, misuse (a bad tag key, a
score of the wrong type, ...) raises ``ValueError`` exactly as the context methods do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from waxell_observe.current import current_context, get_context, get_current_context
from waxell_observe.records import ScoreRecord, SpanRecord, StepRecord
from waxell_observe.vocabulary.attributes import PHASE

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
    "prompt_use",
    "communication",
    "phase",
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
    options: list[str] | None = None,
    reasoning: str = "",
    confidence: float | None = None,
    metadata: dict[str, Any] | None = None,
) -> SpanRecord | None:
    """Record a decision: ``chosen`` among ``options`` (``instrumentation_type="manual"``)."""
    context = current_context.get()
    if context is None:
        return None
    return context.record_decision(
        name=name,
        options=options if options is not None else [],
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
    scores: list[float] | None = None,
    duration_ms: float | None = None,
    top_k: int | None = None,
) -> SpanRecord | None:
    """Record a document retrieval. ``scores`` is the fourth parameter, as in the reference SDK
    (``retrieve(query, documents, source, scores)``); ``duration_ms`` and ``top_k`` follow it."""
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


def user_message(content: str, *, metadata: dict[str, Any] | None = None) -> SpanRecord | None:
    """Record what the user said (updates the run's conversation state); ``metadata`` goes into
    the record's attributes."""
    context = current_context.get()
    if context is None:
        return None
    return context.record_user_message(content, metadata=metadata)


def agent_response(content: str, *, metadata: dict[str, Any] | None = None) -> SpanRecord | None:
    """Record what the agent answered (updates the run's conversation state); ``metadata`` goes
    into the record's attributes."""
    context = current_context.get()
    if context is None:
        return None
    return context.record_agent_response(content, metadata=metadata)


def prompt_use(name: str, version: int = 0, label: str = "", content_hash: str = "") -> None:
    """Record that the run used the registry prompt ``name`` (``version``/``label``/``content_hash``
    as fetched with ``get_prompt``)."""
    context = current_context.get()
    if context is None:
        return
    record = getattr(context, "record_prompt_use", None)
    if record is not None:
        record(name=name, version=version, label=label, content_hash=content_hash)
        return
    attributes: dict[str, Any] = {"prompt_name": name, "prompt_version": version}
    if label:
        attributes["prompt_label"] = label
    if content_hash:
        attributes["prompt_content_hash"] = content_hash
    context.record_span("custom", f"prompt:{name}", attributes=attributes)


def communication(
    *,
    channel: str,
    recipient: str = "",
    body: str = "",
    subject: str = "",
    metadata: dict[str, Any] | None = None,
) -> None:
    """Record a message the agent sent to the outside world (an email, a Slack post, an SMS)."""
    context = current_context.get()
    if context is None:
        return
    record = getattr(context, "record_communication", None)
    if record is not None:
        record(channel=channel, recipient=recipient, body=body, subject=subject, metadata=metadata)
        return
    attributes: dict[str, Any] = {"channel": channel, "recipient": recipient, "subject": subject}
    if metadata:
        attributes["metadata"] = metadata
    context.record_span("custom", f"communication:{channel}", attributes=attributes, input=body or None)


@contextmanager
def phase(name: str, **attributes: Any) -> Iterator[None]:
    """A named phase of the run: a ``chain`` span ``phase:<name>`` around the block (output
    ``{"phase": name, "state": "done"}``; ``status="error"`` with the message when the block
    raises, which propagates). Outside a run the block just runs."""
    context: Any = current_context.get()  # Any: enter_span/exit_span are newer than some contexts
    if context is None:
        yield
        return
    enter = getattr(context, "enter_span", None)
    span_attributes = {PHASE: name, **attributes}
    if enter is not None:  # the container-span API: records inside the block are its children
        handle = enter(f"phase:{name}", kind="chain", attributes=span_attributes)
        try:
            yield
        except BaseException as exc:
            context.exit_span(handle, status="error", error=str(exc)[:500], exc=exc)
            raise
        context.exit_span(handle, output_data={"phase": name, "state": "done"})
        return
    started = time.time()
    try:
        yield
    except BaseException as exc:
        _phase_span(context, name, span_attributes, started, error=str(exc)[:500])
        raise
    _phase_span(context, name, span_attributes, started, error="")


def _phase_span(context: Any, name: str, attributes: dict[str, Any], started: float, error: str) -> None:
    context.record_span(
        "chain",
        f"phase:{name}",
        status="error" if error else "ok",
        duration_ms=(time.time() - started) * 1000.0,
        attributes=attributes,
        output=None if error else {"phase": name, "state": "done"},
        error=error,
        started_at=started,
    )
