"""Model catalog: prices, providers and context windows.

A small built-in table (``PRICE_TABLE_VERSION``) maps model names to USD prices per
million tokens, the provider and the context window. Lookups are tolerant of the many
spellings SDKs and routers use for one model:

* case-insensitive;
* route prefixes are dropped (``openai/gpt-4o``, ``models/gemini-1.5-pro``,
  ``groq/llama-3.1-8b-instant`` -> the part after the last ``/``);
* Bedrock-style vendor prefixes are dropped (``anthropic.claude-...``,
  ``us.anthropic.claude-...``, ``mistral.mistral-large-...``);
* dotted Claude versions are normalised (``claude-3.5-sonnet`` -> ``claude-3-5-sonnet``);
* Azure OpenAI's ``gpt-35-turbo`` spelling is ``gpt-3.5-turbo``;
* an exact match wins, else the longest table entry that is a prefix of the name and
  is followed by ``-``, ``:``, ``@`` or ``.`` (so ``gpt-4o-2024-08-06`` is ``gpt-4o``,
  while ``gpt-4`` never swallows ``gpt-4o``).

Users add or override entries with :func:`register_model`. Everything here is pure
and stdlib-only; :func:`lookup` is memoised because it sits on the hot path.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "LOCAL_PROVIDERS",
    "PRICE_TABLE_VERSION",
    "ModelInfo",
    "context_window",
    "estimate_cost",
    "infer_provider",
    "lookup",
    "priced_for",
    "register_model",
    "unregister_model",
]

PRICE_TABLE_VERSION = "2026-12-07"

LOCAL_PROVIDERS = frozenset({"ollama"})
"""Providers that run models on the user's own hardware. A call recorded with one of these providers
costs 0.0 unless the catalog entry its model matches was registered for that very provider
(``register_model("llama3.2", provider="ollama", ...)``): a local ``mistral-small:24b`` is not
priced as Mistral's hosted ``mistral-small``. See :func:`priced_for`."""

_PER = 1_000_000
_SEPARATORS = frozenset("-:@.")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Prices (USD per 1M tokens), provider and context window of one model."""

    name: str
    provider: str
    input_per_million: float
    output_per_million: float
    cached_input_per_million: float | None = None
    context_window: int | None = None


# name: (provider, input $/1M, output $/1M, cached input $/1M or None, context window or None)
_Row = tuple[str, float, float, float | None, int | None]

_TABLE: dict[str, _Row] = {
    # --- OpenAI -------------------------------------------------------------------------
    "gpt-5": ("openai", 1.25, 10.00, 0.125, 400_000),
    "gpt-5-mini": ("openai", 0.25, 2.00, 0.025, 400_000),
    "gpt-5-nano": ("openai", 0.05, 0.40, 0.005, 400_000),
    "gpt-4.1": ("openai", 2.00, 8.00, 0.50, 1_047_576),
    "gpt-4.1-mini": ("openai", 0.40, 1.60, 0.10, 1_047_576),
    "gpt-4.1-nano": ("openai", 0.10, 0.40, 0.025, 1_047_576),
    "gpt-4.5-preview": ("openai", 75.00, 150.00, 37.50, 128_000),
    "gpt-4o": ("openai", 2.50, 10.00, 1.25, 128_000),
    "gpt-4o-2024-05-13": ("openai", 5.00, 15.00, None, 128_000),
    "gpt-4o-mini": ("openai", 0.15, 0.60, 0.075, 128_000),
    "chatgpt-4o-latest": ("openai", 5.00, 15.00, None, 128_000),
    "gpt-4-turbo": ("openai", 10.00, 30.00, None, 128_000),
    "gpt-4-0125-preview": ("openai", 10.00, 30.00, None, 128_000),
    "gpt-4-1106-preview": ("openai", 10.00, 30.00, None, 128_000),
    "gpt-4": ("openai", 30.00, 60.00, None, 8_192),
    "gpt-4-32k": ("openai", 60.00, 120.00, None, 32_768),
    "gpt-3.5-turbo": ("openai", 0.50, 1.50, None, 16_385),
    "gpt-3.5-turbo-instruct": ("openai", 1.50, 2.00, None, 4_096),
    "o1": ("openai", 15.00, 60.00, 7.50, 200_000),
    "o1-mini": ("openai", 1.10, 4.40, 0.55, 128_000),
    "o1-pro": ("openai", 150.00, 600.00, None, 200_000),
    "o3": ("openai", 2.00, 8.00, 0.50, 200_000),
    "o3-mini": ("openai", 1.10, 4.40, 0.55, 200_000),
    "o3-pro": ("openai", 20.00, 80.00, None, 200_000),
    "o4-mini": ("openai", 1.10, 4.40, 0.275, 200_000),
    "text-embedding-3-small": ("openai", 0.02, 0.0, None, 8_191),
    "text-embedding-3-large": ("openai", 0.13, 0.0, None, 8_191),
    "text-embedding-ada-002": ("openai", 0.10, 0.0, None, 8_191),
    # --- Anthropic (cached = cache-read price) ------------------------------------------
    "claude-opus-4-5": ("anthropic", 5.00, 25.00, 0.50, 200_000),
    "claude-opus-4-1": ("anthropic", 15.00, 75.00, 1.50, 200_000),
    "claude-opus-4": ("anthropic", 15.00, 75.00, 1.50, 200_000),
    "claude-sonnet-4-5": ("anthropic", 3.00, 15.00, 0.30, 200_000),
    "claude-sonnet-4": ("anthropic", 3.00, 15.00, 0.30, 200_000),
    "claude-haiku-4-5": ("anthropic", 1.00, 5.00, 0.10, 200_000),
    "claude-3-7-sonnet": ("anthropic", 3.00, 15.00, 0.30, 200_000),
    "claude-3-5-sonnet": ("anthropic", 3.00, 15.00, 0.30, 200_000),
    "claude-3-5-haiku": ("anthropic", 0.80, 4.00, 0.08, 200_000),
    "claude-3-opus": ("anthropic", 15.00, 75.00, 1.50, 200_000),
    "claude-3-sonnet": ("anthropic", 3.00, 15.00, None, 200_000),
    "claude-3-haiku": ("anthropic", 0.25, 1.25, 0.03, 200_000),
    # --- Google Gemini (base tier: prompts up to 128k / 200k tokens) --------------------
    "gemini-3-pro-preview": ("google", 2.00, 12.00, 0.20, 1_048_576),
    "gemini-3-flash-preview": ("google", 0.50, 3.00, 0.05, 1_048_576),
    "gemini-2.5-flash-image": ("google", 0.30, 30.00, None, 32_768),
    "gemini-2.5-pro": ("google", 1.25, 10.00, 0.125, 1_048_576),
    "gemini-2.5-flash": ("google", 0.30, 2.50, 0.03, 1_048_576),
    "gemini-2.5-flash-lite": ("google", 0.10, 0.40, 0.01, 1_048_576),
    "gemini-2.0-flash": ("google", 0.10, 0.40, 0.025, 1_048_576),
    "gemini-2.0-flash-lite": ("google", 0.075, 0.30, None, 1_048_576),
    "gemini-1.5-pro": ("google", 1.25, 5.00, 0.3125, 2_097_152),
    "gemini-1.5-flash": ("google", 0.075, 0.30, 0.01875, 1_048_576),
    "gemini-1.5-flash-8b": ("google", 0.0375, 0.15, 0.01, 1_048_576),
    "gemini-embedding-001": ("google", 0.15, 0.0, None, 2_048),
    "text-embedding-004": ("google", 0.0, 0.0, None, 2_048),
    # --- Mistral (cached = 10% of the input price: cached prompt tokens, prompt_cache_key) --
    # ``mistral-large`` (``mistral-large-latest``) is Mistral Large 3 (mistral-large-2512);
    # Mistral Large 2 keeps its dated ids.
    "mistral-large": ("mistral", 0.50, 1.50, 0.05, 262_144),
    "mistral-large-2512": ("mistral", 0.50, 1.50, 0.05, 262_144),
    "mistral-large-2411": ("mistral", 2.00, 6.00, 0.20, 131_072),
    "mistral-large-2407": ("mistral", 2.00, 6.00, 0.20, 131_072),
    "mistral-medium": ("mistral", 0.40, 2.00, 0.04, 131_072),
    "mistral-small": ("mistral", 0.10, 0.30, 0.01, 131_072),
    "codestral": ("mistral", 0.30, 0.90, 0.03, 256_000),
    "pixtral-large": ("mistral", 2.00, 6.00, 0.20, 131_072),
    "ministral-8b": ("mistral", 0.10, 0.10, 0.01, 131_072),
    "ministral-3b": ("mistral", 0.04, 0.04, 0.004, 131_072),
    "open-mistral-nemo": ("mistral", 0.15, 0.15, None, 131_072),
    "mistral-nemo": ("mistral", 0.15, 0.15, None, 131_072),
    "open-mixtral-8x22b": ("mistral", 2.00, 6.00, None, 65_536),
    "open-mixtral-8x7b": ("mistral", 0.70, 0.70, None, 32_768),
    "mistral-embed": ("mistral", 0.10, 0.0, None, 8_192),
    "codestral-embed": ("mistral", 0.15, 0.0, None, 8_192),
    "magistral-medium": ("mistral", 2.00, 5.00, 0.20, 131_072),
    "magistral-small": ("mistral", 0.50, 1.50, 0.05, 131_072),
    "devstral-medium": ("mistral", 0.40, 2.00, 0.04, 131_072),
    "devstral-small": ("mistral", 0.10, 0.30, 0.01, 131_072),
    # --- Groq-hosted Llama (Groq model ids, Groq prices) --------------------------------
    "llama-3.3-70b-versatile": ("groq", 0.59, 0.79, None, 131_072),
    "llama-3.1-8b-instant": ("groq", 0.05, 0.08, None, 131_072),
    "llama3-70b-8192": ("groq", 0.59, 0.79, None, 8_192),
    "llama3-8b-8192": ("groq", 0.05, 0.08, None, 8_192),
    "llama-4-scout-17b-16e-instruct": ("groq", 0.11, 0.34, None, 131_072),
    "llama-4-maverick-17b-128e-instruct": ("groq", 0.20, 0.60, None, 131_072),
    "gpt-oss-120b": ("groq", 0.15, 0.75, 0.075, 131_072),
    "gpt-oss-20b": ("groq", 0.10, 0.50, 0.05, 131_072),
    "qwen3-32b": ("groq", 0.29, 0.59, None, 131_072),
    "deepseek-r1-distill-llama-70b": ("groq", 0.75, 0.99, None, 131_072),
    "kimi-k2-instruct": ("groq", 1.00, 3.00, 0.50, 131_072),
    # --- Together AI (Together model ids, Together prices) ------------------------------
    "llama-3.3-70b-instruct-turbo": ("together", 0.88, 0.88, None, 131_072),
    "meta-llama-3.1-8b-instruct-turbo": ("together", 0.18, 0.18, None, 131_072),
    "meta-llama-3.1-70b-instruct-turbo": ("together", 0.88, 0.88, None, 131_072),
    "qwen2.5-72b-instruct-turbo": ("together", 1.20, 1.20, None, 32_768),
    "deepseek-v3": ("together", 1.25, 1.25, None, 131_072),
    "deepseek-r1": ("together", 3.00, 7.00, None, 163_840),
    "mixtral-8x7b-instruct-v0.1": ("together", 0.60, 0.60, None, 32_768),
    "bge-base-en-v1.5": ("together", 0.008, 0.0, None, 512),
    # --- Amazon Bedrock (Amazon Nova and Titan; Anthropic, Meta, Mistral models on Bedrock are
    # looked up by their own names once the vendor prefix is dropped) --------------------
    "nova-premier-v1": ("bedrock", 2.50, 12.50, 0.625, 1_000_000),
    "nova-pro-v1": ("bedrock", 0.80, 3.20, 0.20, 300_000),
    "nova-lite-v1": ("bedrock", 0.06, 0.24, 0.015, 300_000),
    "nova-micro-v1": ("bedrock", 0.035, 0.14, 0.00875, 128_000),
    "titan-embed-text-v2": ("bedrock", 0.02, 0.0, None, 8_192),
    "llama3-3-70b-instruct-v1": ("bedrock", 0.72, 0.72, None, 128_000),
    "llama3-1-8b-instruct-v1": ("bedrock", 0.22, 0.22, None, 128_000),
    "llama3-1-70b-instruct-v1": ("bedrock", 0.72, 0.72, None, 128_000),
    "llama3-1-405b-instruct-v1": ("bedrock", 2.40, 2.40, None, 128_000),
    "llama3-2-1b-instruct-v1": ("bedrock", 0.10, 0.10, None, 128_000),
    "llama3-2-3b-instruct-v1": ("bedrock", 0.15, 0.15, None, 128_000),
    "llama3-2-11b-instruct-v1": ("bedrock", 0.16, 0.16, None, 128_000),
    "llama3-2-90b-instruct-v1": ("bedrock", 0.72, 0.72, None, 128_000),
    "llama4-scout-17b-instruct-v1": ("bedrock", 0.17, 0.66, None, None),
    "llama4-maverick-17b-instruct-v1": ("bedrock", 0.24, 0.97, None, None),
    "titan-text-premier-v1": ("bedrock", 0.50, 1.50, None, 32_000),
    "titan-text-express-v1": ("bedrock", 0.20, 0.60, None, 8_192),
    "titan-text-lite-v1": ("bedrock", 0.15, 0.20, None, 4_096),
    "titan-embed-text-v1": ("bedrock", 0.10, 0.0, None, 8_192),
    # --- Cohere -------------------------------------------------------------------------
    "command-a": ("cohere", 2.50, 10.00, None, 256_000),
    "command-r-plus": ("cohere", 2.50, 10.00, None, 128_000),
    "command-r": ("cohere", 0.15, 0.60, None, 128_000),
    "command-r7b": ("cohere", 0.0375, 0.15, None, 128_000),
    "command-a-reasoning": ("cohere", 2.50, 10.00, None, 256_000),
    "command-a-vision": ("cohere", 2.50, 10.00, None, 128_000),
    "embed-v4.0": ("cohere", 0.12, 0.0, None, 128_000),
    "embed-english-v3.0": ("cohere", 0.10, 0.0, None, 512),
    "embed-multilingual-v3.0": ("cohere", 0.10, 0.0, None, 512),
    "embed-english-light-v3.0": ("cohere", 0.10, 0.0, None, 512),
    "embed-multilingual-light-v3.0": ("cohere", 0.10, 0.0, None, 512),
}


def _info(name: str, row: _Row) -> ModelInfo:
    provider, price_in, price_out, price_cached, window = row
    return ModelInfo(name, provider, price_in, price_out, price_cached, window)


_BUILTIN: Mapping[str, ModelInfo] = MappingProxyType({k: _info(k, v) for k, v in _TABLE.items()})
_models: dict[str, ModelInfo] = dict(_BUILTIN)

# ``us.anthropic.claude-...``, ``anthropic.claude-...``, ``mistral.mistral-large-...`` (Bedrock ids).
_VENDOR_DOT = re.compile(
    r"^(?:(?:us|eu|apac|us-gov|global|jp|au|ca)\.)?"
    r"(?:anthropic|meta|mistral|cohere|amazon|ai21|openai|deepseek|qwen|writer)\.(?=[a-z])"
)
_CLAUDE_DOTTED = re.compile(r"(?<=\d)\.(?=\d)")


def _normalize(model: str) -> str:
    """Lower-case ``model`` and drop route and vendor prefixes."""
    name = model.strip().lower()
    if "/" in name:
        name = name.rsplit("/", 1)[1]
    name = _VENDOR_DOT.sub("", name, count=1)
    if name.startswith("claude"):
        name = _CLAUDE_DOTTED.sub("-", name)
    elif name.startswith("gpt-35-"):  # Azure OpenAI's spelling of gpt-3.5-*
        name = "gpt-3.5-" + name[len("gpt-35-") :]
    return name


@functools.lru_cache(maxsize=2048)
def _lookup_normalized(name: str) -> ModelInfo | None:
    info = _models.get(name)
    if info is not None:
        return info
    # Longest prefix first: walk separator positions from the right.
    for i in range(len(name) - 1, 0, -1):
        if name[i] in _SEPARATORS:
            info = _models.get(name[:i])
            if info is not None:
                return info
    return None


@functools.lru_cache(maxsize=4096)
def _lookup_raw(model: str) -> ModelInfo | None:
    return _lookup_normalized(_normalize(model))


def lookup(model: str) -> ModelInfo | None:
    """Return the catalog entry for ``model`` (any common spelling), or ``None``."""
    if not model or not isinstance(model, str):
        return None
    return _lookup_raw(model)


def estimate_cost(model: str, tokens_in: int, tokens_out: int, *, cached_tokens_in: int = 0) -> float:
    """Estimate the USD cost of one call; ``0.0`` for unknown models.

    ``cached_tokens_in`` is the part of ``tokens_in`` served from the provider's prompt
    cache; it is priced at the cached rate when the model has one. The result is rounded
    to 10 decimal places.
    """
    info = lookup(model)
    if info is None:
        return 0.0
    return price(info, tokens_in, tokens_out, cached_tokens_in)


def priced_for(info: ModelInfo | None, provider: str) -> ModelInfo | None:
    """``info`` when its prices apply to a call recorded with ``provider``, else None: a local
    provider's calls (:data:`LOCAL_PROVIDERS`) are priced only by entries registered for it."""
    if info is None or provider not in LOCAL_PROVIDERS or info.provider == provider:
        return info
    return None


def price(info: ModelInfo, tokens_in: int, tokens_out: int, cached_tokens_in: int = 0) -> float:
    """The cost of one call of the catalog entry ``info`` (see :func:`estimate_cost`)."""
    if (
        tokens_in.__class__ is not int
        or tokens_out.__class__ is not int
        or cached_tokens_in.__class__ is not int
        or tokens_in < 0
        or tokens_out < 0
        or cached_tokens_in < 0
    ):  # anything but non-negative ints (which stay as they are): normalised
        tokens_in = max(int(tokens_in or 0), 0)
        tokens_out = max(int(tokens_out or 0), 0)
        cached_tokens_in = max(int(cached_tokens_in or 0), 0)
    cached = cached_tokens_in if cached_tokens_in < tokens_in else tokens_in
    cached_rate = info.cached_input_per_million
    if cached_rate is None:
        cached_rate = info.input_per_million
    micro_usd = (
        (tokens_in - cached) * info.input_per_million
        + cached * cached_rate
        + tokens_out * info.output_per_million
    )
    return round(micro_usd / _PER, 10)


_facts: dict[str, tuple[ModelInfo | None, str]] = {}
"""model (as spelled by the caller) -> (catalog entry, provider); cleared when the catalog changes."""
_FACTS_MAX = 4096


def model_facts(model: str) -> tuple[ModelInfo | None, str]:
    """``(lookup(model), infer_provider(model))``, kept per spelling until the catalog changes:
    recording an LLM call reads both without normalising the name again."""
    facts = _facts.get(model)
    if facts is None:
        facts = (lookup(model), infer_provider(model))
        if len(_facts) >= _FACTS_MAX:
            _facts.clear()
        _facts[model] = facts
    return facts


_OPENAI_O_SERIES = re.compile(r"^o[134](?:$|[-:@.])")
_OPENAI_PREFIXES = (
    "gpt",
    "chatgpt",
    "text-embedding",
    "davinci",
    "babbage",
    "dall-e",
    "whisper",
    "tts-",
    "omni-moderation",
)
_MISTRAL_NAMES = ("mistral", "mixtral", "codestral", "ministral", "pixtral", "magistral", "devstral")


def infer_provider(model: str) -> str:
    """Return the provider of ``model``: from the catalog, else from its name, else ``""``."""
    info = lookup(model)
    if info is not None:
        return info.provider
    if not model or not isinstance(model, str):
        return ""
    name = _normalize(model)
    if name.startswith(_OPENAI_PREFIXES) or _OPENAI_O_SERIES.match(name):
        return "openai"
    if "claude" in name:
        return "anthropic"
    if "gemini" in name:
        return "google"
    if any(m in name for m in _MISTRAL_NAMES):
        return "mistral"
    if name.startswith("command"):
        return "cohere"
    if "deepseek" in name:  # before llama: ``deepseek-r1-distill-llama-70b``
        return "deepseek"
    if "llama" in name:
        return "meta"
    if "grok" in name:
        return "xai"
    return ""


def context_window(model: str) -> int | None:
    """Return the context window of ``model`` in tokens, or ``None`` when unknown."""
    info = lookup(model)
    return None if info is None else info.context_window


def register_model(
    name: str,
    *,
    provider: str,
    input_per_million: float,
    output_per_million: float,
    cached_input_per_million: float | None = None,
    context_window: int | None = None,
) -> ModelInfo:
    """Add a model to the catalog, or override a built-in entry, and return it.

    ``name`` is normalised like a lookup (case, route prefixes), and also matches
    dated/suffixed variants by prefix (``my-model`` covers ``my-model-2025-01-01``).
    """
    key = _normalize(name) if isinstance(name, str) else ""
    if not key:
        raise ValueError("register_model: name must be a non-empty string")
    prices = (input_per_million, output_per_million, cached_input_per_million)
    if any(p is not None and (not isinstance(p, (int, float)) or p < 0) for p in prices):
        raise ValueError(f"register_model({name!r}): prices must be non-negative numbers")
    if context_window is not None and (not isinstance(context_window, int) or context_window <= 0):
        raise ValueError(f"register_model({name!r}): context_window must be a positive int")
    info = ModelInfo(
        key,
        provider,
        float(input_per_million),
        float(output_per_million),
        None if cached_input_per_million is None else float(cached_input_per_million),
        context_window,
    )
    _models[key] = info
    _lookup_normalized.cache_clear()
    _lookup_raw.cache_clear()
    _facts.clear()
    return info


def unregister_model(name: str) -> bool:
    """Undo :func:`register_model` for ``name``, restoring the built-in entry if any.

    Returns ``True`` if the catalog changed.
    """
    key = _normalize(name) if isinstance(name, str) else ""
    current = _models.get(key)
    builtin = _BUILTIN.get(key)
    if current is None or current is builtin:
        return False
    if builtin is None:
        del _models[key]
    else:
        _models[key] = builtin
    _lookup_normalized.cache_clear()
    _lookup_raw.cache_clear()
    _facts.clear()
    return True
