"""Helpers of the provider integration tests: OpenAI-format bodies, policies, reading the one call.

Every test module here runs a real SDK against the stub server of ``tests/integrations/llm_stub.py``
(``stub`` fixture), after ``init(instrument=[<the library>])`` (``instrumented`` fixture, the module
overrides ``instrumented_library``), and reads the run back from the real store (``read_run``).
"""

from __future__ import annotations

import json
from typing import Any

from waxell_observe.config import get_config
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store


def only_call(run: dict[str, Any]) -> dict[str, Any]:
    """The run's single LLM call."""
    assert len(run["llm_calls"]) == 1, run["llm_calls"]
    call: dict[str, Any] = run["llm_calls"][0]
    return call


def block_model(model: str) -> None:
    """A policy of the test's store blocking ``model`` at ``llm.before``."""
    policies = f"policies: [{{name: no-{model}, category: llm, rules: {{blocked_models: [{model}]}}}}]"
    add_policies(get_store(get_config().db_url), load_policies(policies))


def cost(model: str, tokens_in: int, tokens_out: int, cached: int = 0) -> float:
    """The price table's cost of a call (what the record must say)."""
    from waxell_observe.pricing import estimate_cost

    return estimate_cost(model, tokens_in, tokens_out, cached_tokens_in=cached)


def chat_completion(model: str, text: str, prompt: int, completion: int, **usage: Any) -> dict[str, Any]:
    """An OpenAI-format chat completion body (``usage`` extras: ``cached``, ``reasoning``)."""
    details: dict[str, Any] = {}
    if "cached" in usage:
        details["prompt_tokens_details"] = {"cached_tokens": usage["cached"]}
    if "reasoning" in usage:
        details["completion_tokens_details"] = {"reasoning_tokens": usage["reasoning"]}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            **details,
        },
    }


def chat_chunks(model: str, pieces: list[str], prompt: int, completion: int) -> list[dict[str, Any]]:
    """OpenAI-format stream chunks: the pieces, a finish chunk, then a usage chunk."""
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        for piece in pieces
    ]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    chunks.append({**base, "choices": [], "usage": usage})
    return chunks


def sse(chunks: list[dict[str, Any]], *, done: bool = True) -> list[bytes]:
    """Server-sent events, one ``data:`` line per chunk (then ``[DONE]``)."""
    events = [f"data: {json.dumps(chunk)}\n\n".encode() for chunk in chunks]
    return [*events, b"data: [DONE]\n\n"] if done else events
