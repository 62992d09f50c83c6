"""Gemini API replies for the stub LLM server (``llm_stub``) that the Google ADK tests queue:
``generateContent`` bodies (text or function calls) and ``streamGenerateContent?alt=sse`` streams,
with the ``usageMetadata`` the tests assert on."""

from __future__ import annotations

import json
from typing import Any

from integrations.isolated_env import Reply

__all__ = ["SERVED", "answer", "error", "function_calls", "streamed_answer"]

SERVED = "gemini-2.5-flash-001"
"""The model version the replies say served them."""


def usage(prompt: int, candidates: int, *, cached: int = 0, thoughts: int = 0) -> dict[str, int]:
    """A ``usageMetadata`` body."""
    body = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
    }
    if cached:
        body["cachedContentTokenCount"] = cached
    if thoughts:
        body["thoughtsTokenCount"] = thoughts
    return body


def _response(
    parts: list[dict[str, Any]], meta: dict[str, int], finish: str | None = "STOP"
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "usageMetadata": meta, "modelVersion": SERVED, "responseId": "resp-1"}


def answer(text: str, prompt: int, candidates: int, *, cached: int = 0, thoughts: int = 0) -> Reply:
    """A ``generateContent`` response answering ``text``."""
    return _response([{"text": text}], usage(prompt, candidates, cached=cached, thoughts=thoughts)), 200


def function_calls(
    *calls: tuple[str, dict[str, Any]], prompt: int, candidates: int, thoughts: int = 0
) -> Reply:
    """A ``generateContent`` response asking for function calls ``(name, args)``."""
    parts = [
        {"functionCall": {"name": name, "args": args, "id": f"call-{i}"}}
        for i, (name, args) in enumerate(calls)
    ]
    return _response(parts, usage(prompt, candidates, thoughts=thoughts)), 200


def streamed_answer(pieces: list[str], prompt: int, candidates: int) -> Reply:
    """``pieces`` streamed as server-sent events; each chunk carries the usage so far, the last one the
    whole usage and the finish reason."""
    chunks = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        meta = usage(prompt, candidates if last else index + 1)
        chunks.append(_response([{"text": piece}], meta, "STOP" if last else None))
    return [f"data: {json.dumps(chunk)}\r\n\r\n".encode() for chunk in chunks]


def error(status: int, message: str) -> Reply:
    """An API error (``google.genai.errors.ClientError`` for a 4xx)."""
    reason = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED"}.get(status, "INTERNAL")
    return {"error": {"code": status, "message": message, "status": reason}}, status
