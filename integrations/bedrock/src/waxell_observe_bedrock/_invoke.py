"""Reading ``invoke_model`` / ``invoke_model_with_response_stream``: the JSON bodies of the model
families Bedrock serves, which differ by model.

* Anthropic Claude (Messages API): ``messages`` / ``system`` / ``max_tokens``; the answer's
  ``content`` blocks and ``usage`` (``input_tokens`` without the cache, ``cache_read_input_tokens``,
  ``cache_creation_input_tokens``, ``output_tokens``); streamed as Messages API events.
* Amazon Nova: the Converse shapes (``messages``, ``system``, ``inferenceConfig``; ``output`` and
  ``usage`` with ``inputTokens`` / ``outputTokens``); streamed as Converse-style events.
* Amazon Titan Text: ``inputText``; ``results[0].outputText`` / ``tokenCount``, ``inputTextTokenCount``.
* Amazon Titan Embeddings: ``inputText``; ``embedding``, ``inputTextTokenCount``.
* Meta Llama: ``prompt`` / ``max_gen_len``; ``generation``, ``prompt_token_count``,
  ``generation_token_count``.

Any model: Bedrock's ``X-Amzn-Bedrock-Input-Token-Count`` / ``-Output-Token-Count`` response headers
(and a stream's closing ``amazon-bedrock-invocationMetrics``) give the token counts when the body does
not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from waxell_observe.conversation import message_text
from waxell_observe.instrumentation import CallResult, ToolRequest, get, positive_int
from waxell_observe_bedrock._converse import converse_result

__all__ = [
    "ANTHROPIC",
    "LLAMA",
    "NOVA",
    "OTHER",
    "TITAN_EMBED",
    "TITAN_TEXT",
    "Family",
    "InvokeAccumulator",
    "family_of",
    "header_usage",
    "invoke_result",
    "parse_body",
    "prompt_preview",
    "request_view",
]


@dataclass(frozen=True)
class Family:
    """How one model family's bodies are read."""

    name: str
    operation: str
    """``chat``, ``completion`` or ``embeddings``."""
    messages_key: str | None
    """The body field holding the prompt (messages or text), when the family has one."""
    system_key: str | None = None
    max_tokens_path: tuple[str, ...] = ()


ANTHROPIC = Family("anthropic", "chat", "messages", "system", ("max_tokens",))
NOVA = Family("nova", "chat", "messages", "system", ("inferenceConfig", "maxTokens"))
TITAN_TEXT = Family("titan-text", "completion", "inputText", None, ("textGenerationConfig", "maxTokenCount"))
TITAN_EMBED = Family("titan-embed", "embeddings", "inputText")
LLAMA = Family("llama", "completion", "prompt", None, ("max_gen_len",))
OTHER = Family("other", "chat", None)


def family_of(model_id: str) -> Family:
    """The family of a model id (or an inference-profile id or ARN, which contain the model id)."""
    model = model_id.lower()
    if "anthropic." in model or "claude" in model:
        return ANTHROPIC
    if "amazon.nova" in model or "/nova" in model or model.startswith("nova"):
        return NOVA
    if "titan-embed" in model:
        return TITAN_EMBED
    if "titan-text" in model or "titan-tg1" in model:
        return TITAN_TEXT
    if "meta.llama" in model or "llama" in model:
        return LLAMA
    return OTHER


def parse_body(body: Any) -> dict[str, Any] | None:
    """A request body (bytes, bytearray or str of JSON) as a dict; None for a file object or
    anything that is not a JSON object (sent untouched, read no further)."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str):
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def header_usage(result: CallResult, headers: Any) -> None:
    """Token counts from Bedrock's response headers, where the body gave none."""
    if result.usage_reported or not isinstance(headers, dict):
        return
    tokens_in = headers.get("x-amzn-bedrock-input-token-count")
    tokens_out = headers.get("x-amzn-bedrock-output-token-count")
    if tokens_in is None and tokens_out is None:
        return
    result.tokens_in = _count(tokens_in)
    result.tokens_out = _count(tokens_out)
    result.usage_reported = True


def _count(value: Any) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


def _anthropic_usage(result: CallResult, usage: Any) -> None:
    if not isinstance(usage, dict):
        result.usage_reported = False
        return
    cache_read = positive_int(usage.get("cache_read_input_tokens"))
    cache_write = positive_int(usage.get("cache_creation_input_tokens"))
    result.tokens_in = positive_int(usage.get("input_tokens")) + cache_read + cache_write
    result.tokens_out = positive_int(usage.get("output_tokens"))
    result.cached_tokens_in = cache_read
    if cache_write:
        result.attributes["cache_write_tokens"] = cache_write


def _anthropic_result(body: dict[str, Any]) -> CallResult:
    result = CallResult(response_id=str(body.get("id") or ""))  # the model: the requested modelId
    _anthropic_usage(result, body.get("usage"))
    texts: list[str] = []
    for block in body.get("content") or ():
        kind = get(block, "type")
        if kind == "text" and isinstance(get(block, "text"), str):
            texts.append(block["text"])
        elif kind == "tool_use" and isinstance(get(block, "name"), str):
            result.tool_calls.append(
                ToolRequest(block["name"], str(block.get("id") or ""), block.get("input"))
            )
    result.response_text = "".join(texts)
    result.finish_reason = body.get("stop_reason")
    return result


def _titan_text_result(body: dict[str, Any]) -> CallResult:
    first = (body.get("results") or [{}])[0]
    result = CallResult(usage_reported="inputTextTokenCount" in body)
    result.tokens_in = positive_int(body.get("inputTextTokenCount"))
    result.tokens_out = positive_int(get(first, "tokenCount"))
    result.response_text = str(get(first, "outputText") or "")
    result.finish_reason = get(first, "completionReason")
    return result


def _titan_embed_result(body: dict[str, Any]) -> CallResult:
    result = CallResult(usage_reported="inputTextTokenCount" in body)
    result.tokens_in = positive_int(body.get("inputTextTokenCount"))
    vector = body.get("embedding")
    result.attributes["embeddings"] = 1 if isinstance(vector, list) else 0
    if isinstance(vector, list):
        result.attributes["dimensions"] = len(vector)
    return result


def _llama_result(body: dict[str, Any]) -> CallResult:
    result = CallResult(usage_reported="prompt_token_count" in body)
    result.tokens_in = positive_int(body.get("prompt_token_count"))
    result.tokens_out = positive_int(body.get("generation_token_count"))
    result.response_text = str(body.get("generation") or "")
    result.finish_reason = body.get("stop_reason")
    return result


def invoke_result(family: Family, body: dict[str, Any] | None) -> CallResult:
    """What an ``invoke_model`` answer body says (usage left unreported when the body has none)."""
    if body is None:
        return CallResult(usage_reported=False)
    if family is ANTHROPIC:
        return _anthropic_result(body)
    if family is NOVA:
        return converse_result(body)
    if family is TITAN_TEXT:
        return _titan_text_result(body)
    if family is TITAN_EMBED:
        return _titan_embed_result(body)
    if family is LLAMA:
        return _llama_result(body)
    return CallResult(usage_reported=False)


def request_view(family: Family, body: dict[str, Any] | None) -> dict[str, Any]:
    """What the guard and the gate read of a request body: ``messages`` / ``system`` / ``max_tokens``."""
    if body is None or family.messages_key is None:
        return {}
    view: dict[str, Any] = {"messages": body.get(family.messages_key)}
    if family.system_key is not None:
        view["system"] = body.get(family.system_key)
    max_tokens = get(body, *family.max_tokens_path) if family.max_tokens_path else None
    if isinstance(max_tokens, int):
        view["max_tokens"] = max_tokens
    return view


def prompt_preview(messages: Any) -> str:
    """The text of the last message, or the prompt itself."""
    if isinstance(messages, str):
        return messages
    return message_text(messages[-1]) if isinstance(messages, list) and messages else ""


class InvokeAccumulator:
    """Accumulates ``invoke_model_with_response_stream`` events (``{"chunk": {"bytes": b"{json}"}}``):
    the family's text deltas, Anthropic's usage events, and the closing
    ``amazon-bedrock-invocationMetrics`` every model's last chunk carries."""

    def __init__(self, family: Family) -> None:
        self.family = family
        self.text: list[str] = []
        self.anthropic_usage: dict[str, Any] = {}
        self.metrics: dict[str, Any] | None = None
        self.stop_reason: str | None = None

    @property
    def finished(self) -> bool:
        return self.metrics is not None

    def add(self, event: Any) -> bool:
        raw = get(event, "chunk", "bytes")
        body = parse_body(raw) if raw is not None else None
        if body is None:
            return False
        metrics = body.get("amazon-bedrock-invocationMetrics")
        if isinstance(metrics, dict):
            self.metrics = metrics
        text = self._text(body)
        if text:
            self.text.append(text)
        return bool(text)

    def _text(self, body: dict[str, Any]) -> str:
        family = self.family
        if family is ANTHROPIC:
            kind = body.get("type")
            if kind == "message_start":
                self.anthropic_usage.update(get(body, "message", "usage") or {})
            elif kind == "message_delta":
                self.anthropic_usage.update(body.get("usage") or {})
                self.stop_reason = get(body, "delta", "stop_reason") or self.stop_reason
            elif kind == "content_block_delta":
                return str(get(body, "delta", "text") or "")
            return ""
        if family is NOVA:
            reason = get(body, "messageStop", "stopReason")
            self.stop_reason = reason if isinstance(reason, str) else self.stop_reason
            return str(get(body, "contentBlockDelta", "delta", "text") or "")
        if family is TITAN_TEXT:
            self.stop_reason = body.get("completionReason") or self.stop_reason
            return str(body.get("outputText") or "")
        if family is LLAMA:
            self.stop_reason = body.get("stop_reason") or self.stop_reason
            return str(body.get("generation") or "")
        return ""

    def result(self) -> CallResult:
        result = CallResult(usage_reported=False)
        if self.family is ANTHROPIC and self.anthropic_usage:
            _anthropic_usage(result, self.anthropic_usage)
            result.usage_reported = True
        elif self.metrics is not None:
            result.tokens_in = positive_int(self.metrics.get("inputTokenCount"))
            result.tokens_out = positive_int(self.metrics.get("outputTokenCount"))
            result.usage_reported = True
        result.response_text = "".join(self.text)
        result.finish_reason = self.stop_reason
        return result
