"""Bodies the stub Anthropic server serves (shaped like the real API's)."""

from __future__ import annotations

from typing import Any


def usage(
    inp: int, out: int, *, cache_read: int | None = None, cache_creation: int | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {"input_tokens": inp, "output_tokens": out}
    if cache_read is not None:
        data["cache_read_input_tokens"] = cache_read
    if cache_creation is not None:
        data["cache_creation_input_tokens"] = cache_creation
    return data


def message(
    model: str,
    content: list[dict[str, Any]],
    *,
    usage_: dict[str, Any],
    stop_reason: str = "end_turn",
    message_id: str = "msg_01",
) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage_,
    }


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(tool_id: str, name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


def stream_events(
    model: str,
    pieces: list[str],
    *,
    start_usage: dict[str, Any],
    deltas: list[dict[str, Any]],
    stop_reason: str = "end_turn",
    message_id: str = "msg_s1",
) -> list[dict[str, Any]]:
    """``message_start``, one text block streamed in ``pieces``, one ``message_delta`` per usage in
    ``deltas`` (the last one carries the stop reason), ``message_stop``."""
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {
            "id": message_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]  # fmt: skip
    for piece in pieces:
        events.append(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        )
    events.append({"type": "content_block_stop", "index": 0})
    for i, delta_usage in enumerate(deltas):
        last = i == len(deltas) - 1
        events.append(
            {
                "type": "message_delta",
                "usage": delta_usage,
                "delta": {"stop_reason": stop_reason if last else None, "stop_sequence": None},
            }
        )
    events.append({"type": "message_stop"})
    return events
