"""OpenAI chat-completion replies for the stub LLM server (``llm_stub``) that framework tests queue:
tool calls and answers, as JSON bodies or as server-sent-event streams (usage in a last chunk)."""

from __future__ import annotations

import json
from typing import Any

from integrations.llm_stub import ChatReply, sse_openai

__all__ = ["answer", "streamed_answer", "streamed_tool_calls", "tool_calls"]

MODEL = "gpt-4o-mini-2024-07-18"
"""The model the replies say served them."""


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _calls(calls: tuple[tuple[str, dict[str, Any]], ...]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        for i, (name, arguments) in enumerate(calls)
    ]


def tool_calls(
    *calls: tuple[str, dict[str, Any]], prompt_tokens: int, completion_tokens: int
) -> dict[str, Any]:
    """A chat completion asking for tool calls ``(name, arguments)``."""
    return {
        "id": "chatcmpl-tool",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "tool_calls": _calls(calls)},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": _usage(prompt_tokens, completion_tokens),
    }


def answer(text: str, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """A chat completion answering ``text``."""
    return ChatReply(
        content=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
    ).completion()


def streamed_answer(text: str, chunks: list[str], prompt_tokens: int, completion_tokens: int) -> list[bytes]:
    """``text`` streamed in ``chunks``, the usage in a last chunk."""
    reply = ChatReply(
        content=text, chunks=chunks, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
    )
    return sse_openai(reply.stream(include_usage=True))


def streamed_tool_calls(
    *calls: tuple[str, dict[str, Any]], prompt_tokens: int, completion_tokens: int
) -> list[bytes]:
    """Tool calls streamed as OpenAI sends them (name first, then the arguments), then the usage."""
    base = {
        "id": "chatcmpl-tool",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": MODEL,
    }
    chunks: list[dict[str, Any]] = []
    for index, call in enumerate(_calls(calls)):
        opening = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        arguments = {"index": index, "function": {"arguments": call["function"]["arguments"]}}
        for delta in (opening, arguments):
            chunks.append(
                {**base, "choices": [{"index": 0, "delta": {"tool_calls": [delta]}, "finish_reason": None}]}
            )
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    chunks.append({**base, "choices": [], "usage": _usage(prompt_tokens, completion_tokens)})
    return sse_openai(chunks)
