"""LangChain callback payloads → the fields of waxell-observe records.

Pure functions: they read a finished run's :class:`~waxell_observe_langchain.state.Pending`
record and what LangChain reported at its end, and return what the handler records (the
fields of an LLM call, a span's attributes, input and output). They record nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from waxell_observe.pricing import infer_provider
from waxell_observe.serialize import preview
from waxell_observe_langchain.content import bounded
from waxell_observe_langchain.extract import (
    document_score,
    finish_reason_of,
    first_generation,
    served_model,
    tool_calls_of,
    usage_of,
)
from waxell_observe_langchain.state import (
    ERROR_LIMIT,
    FRAMEWORK,
    Pending,
    describe_error,
    elapsed_ms,
)

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig

__all__ = [
    "chain_result",
    "decision_attributes",
    "llm_call_fields",
    "outcome",
    "retrieved_documents",
    "retry_attributes",
    "span_attributes",
    "tool_output",
]


def span_attributes(pending: Pending) -> dict[str, Any]:
    """The attributes every record of a LangChain run starts with."""
    # str(run_id) built from the hex digits computed at the start: the same text, cheaper.
    h = pending.run_hex
    attributes: dict[str, Any] = {
        "framework": FRAMEWORK,
        "langchain_run_id": f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",
    }
    if pending.tags:
        attributes["tags"] = pending.tags
    return attributes


def outcome(error: BaseException | None) -> tuple[str, str]:
    """``(status, error text)`` of a span: ``("ok", "")``, or ``("error", "Type: message")``."""
    if error is None:
        return "ok", ""
    return "error", describe_error(error)


def chain_result(
    outputs: Any, error: BaseException | None, config: ObserveConfig, attributes: dict[str, Any]
) -> tuple[Any, str, str, dict[str, Any]]:
    """``(span output, status, error text, step output)`` of a chain.

    A chain ended by ``GeneratorExit`` (its stream was closed early) is ``ok`` and marked
    ``partial`` in ``attributes``.
    """
    if error is None:
        output = bounded(outputs, config)
        return output, "ok", "", {"output": output}
    if isinstance(error, GeneratorExit):
        attributes["partial"] = True
        return None, "ok", "", {"partial": True}
    error_text = describe_error(error)
    return None, "error", error_text, {"error": error_text}


def tool_output(output: Any, config: ObserveConfig) -> Any:
    """What a tool returned (the content of a ``ToolMessage``), bounded."""
    if hasattr(output, "tool_call_id") and hasattr(output, "content"):  # ToolMessage
        output = output.content
    return bounded(output, config)


def retrieved_documents(documents: Any, config: ObserveConfig) -> tuple[list[dict[str, Any]], list[float]]:
    """The documents a retriever returned as ``{"id", "content", "metadata"[, "score"]}``,
    and the scores of those that carry one."""
    docs: list[dict[str, Any]] = []
    scores: list[float] = []
    for document in documents or []:
        metadata = getattr(document, "metadata", None) or {}
        entry: dict[str, Any] = {
            "id": getattr(document, "id", None) or "",
            "content": bounded(getattr(document, "page_content", ""), config),
            "metadata": bounded(metadata, config),
        }
        score = document_score(metadata)
        if score is not None:
            entry["score"] = score
            scores.append(score)
        docs.append(entry)
    return docs, scores


def llm_call_fields(pending: Pending, response: Any, error: BaseException | None) -> dict[str, Any]:
    """The keyword arguments of ``record_llm_call`` for a finished model call.

    ``response`` is LangChain's ``LLMResult`` (``None`` when the call failed without one);
    ``error`` what it raised (``GeneratorExit``: a stream abandoned, recorded as ``partial``).
    """
    generation = first_generation(response) if response is not None else None
    usage = usage_of(response, generation) if response is not None else None
    model = (served_model(response, generation) if response is not None else "") or pending.model
    text = getattr(generation, "text", "") if generation is not None else ""
    text = text if isinstance(text, str) else ""
    tool_calls = tool_calls_of(generation) if generation is not None else []
    finish = finish_reason_of(generation) if generation is not None else None
    attributes = span_attributes(pending)
    if model != pending.model:
        attributes["request_model"] = pending.model
    if pending.params:
        attributes["request"] = pending.params
    if pending.chunks:
        attributes["streamed"] = True
        attributes["chunks"] = pending.chunks
        attributes["time_to_first_token_ms"] = round((pending.first_token_at - pending.t0) * 1000.0, 3)
    if usage is None or not usage.reported:
        attributes["usage_reported"] = False
    response_preview = text or (
        "tool_calls: " + ", ".join(f"{c['name']}({c['args']})" for c in tool_calls) if tool_calls else ""
    )
    fields: dict[str, Any] = {
        "model": model,
        "tokens_in": usage.tokens_in if usage else 0,
        "tokens_out": usage.tokens_out if usage else 0,
        "cached_tokens_in": usage.cached_tokens_in if usage else 0,
        "provider": infer_provider(model) or pending.provider_hint,
        "prompt_preview": pending.prompt,
        "response_preview": response_preview,
        "duration_ms": elapsed_ms(pending.t0),
        "started_at": pending.started_at,
        "parent_span_id": pending.parent_span_id,
    }
    if error is not None and isinstance(error, GeneratorExit):
        attributes["partial"] = True
    elif error is not None:
        fields["status"] = "error"
        fields["error_type"] = type(error).__name__
        fields["error_message"] = str(error)[:ERROR_LIMIT]
    if error is None and pending.messages is not None:
        fields["messages"] = pending.messages
        fields["response_text"] = text
        fields["response_tool_calls"] = tool_calls or None
    if finish:
        fields["finish_reason"] = finish
    fields["attributes"] = attributes
    return fields


def retry_attributes(attempt: int, reason: str, original_error: str, key: str, value: str) -> dict[str, Any]:
    """The attributes of a retry span, laid out as ``record_retry`` lays them out, plus
    ``key: value`` (the framework, or the LangChain run that retried)."""
    return {
        "attempt": attempt,
        "reason": reason,
        "strategy": "retry",
        "original_error": original_error,
        "fallback_to": "",
        "max_attempts": None,
        key: value,
    }


def decision_attributes(action: Any, config: ObserveConfig, run_id: UUID) -> dict[str, Any]:
    """The attributes of the decision an ``AgentAction`` is (``instrumentation_type="auto"``)."""
    return {
        "reasoning": preview(
            getattr(action, "log", "") or "",
            0 if config.capture_content else config.preview_chars,
        ),
        "confidence": None,
        "instrumentation_type": "auto",
        "metadata": {
            "tool_input": bounded(getattr(action, "tool_input", None), config),
            "langchain_run_id": str(run_id),
        },
    }
