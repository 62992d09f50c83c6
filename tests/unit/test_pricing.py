from __future__ import annotations

import dataclasses

import pytest

from waxell_observe import pricing
from waxell_observe.pricing import (
    PRICE_TABLE_VERSION,
    ModelInfo,
    context_window,
    estimate_cost,
    infer_provider,
    lookup,
    register_model,
    unregister_model,
)


def test_table_version() -> None:
    assert PRICE_TABLE_VERSION == "2026-12-07"


def test_gpt_4o_anchor_price() -> None:
    info = lookup("gpt-4o")
    assert info == ModelInfo("gpt-4o", "openai", 2.50, 10.00, 1.25, 128_000)
    assert estimate_cost("gpt-4o", 1000, 500) == 0.0075


def test_model_info_is_frozen_with_slots() -> None:
    info = lookup("gpt-4o")
    assert info is not None
    assert not hasattr(info, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.input_per_million = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "gpt-4-turbo",
        "gpt-4",
        "gpt-3.5-turbo",
        "o1",
        "o1-mini",
        "o3",
        "o3-mini",
        "o4-mini",
        "gpt-5",
        "gpt-5-mini",
        "gpt-5-nano",
        "text-embedding-3-small",
        "text-embedding-3-large",
        "text-embedding-ada-002",
        "claude-3-haiku",
        "claude-3-5-haiku",
        "claude-3-5-sonnet",
        "claude-3-7-sonnet",
        "claude-sonnet-4",
        "claude-sonnet-4-5",
        "claude-opus-4",
        "claude-opus-4-1",
        "claude-haiku-4-5",
        "claude-3-opus",
        "gemini-1.5-pro",
        "gemini-1.5-flash",
        "gemini-2.0-flash",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "mistral-large",
        "mistral-small",
        "codestral",
        "llama-3.3-70b-versatile",
        "llama-3.1-8b-instant",
        "command-r",
        "command-r-plus",
    ],
)
def test_required_models_are_in_the_table(model: str) -> None:
    info = lookup(model)
    assert info is not None and info.name == model
    assert info.provider
    assert info.input_per_million > 0
    assert info.context_window and info.context_window > 0


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # the older, dearer snapshot
        ("gpt-4-0613", "gpt-4"),
        ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
        ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("o1-preview", "o1"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-3-haiku-20240307", "claude-3-haiku"),
        ("GPT-4o", "gpt-4o"),
        ("openai/gpt-4o-mini", "gpt-4o-mini"),
        ("anthropic/claude-3-7-sonnet-20250219", "claude-3-7-sonnet"),
        ("anthropic/claude-3.5-sonnet", "claude-3-5-sonnet"),
        ("models/gemini-1.5-pro-002", "gemini-1.5-pro"),
        ("gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"),
        ("gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
        ("claude-sonnet-4@20250514", "claude-sonnet-4"),
        ("mistral-large-latest", "mistral-large"),
        ("groq/llama-3.3-70b-versatile", "llama-3.3-70b-versatile"),
        ("command-r-plus-08-2024", "command-r-plus"),
        ("command-r7b-12-2024", "command-r7b"),
        ("gpt-35-turbo", "gpt-3.5-turbo"),  # Azure OpenAI's spelling
        ("gpt-35-turbo-instruct", "gpt-3.5-turbo-instruct"),
        ("gpt-35-turbo-0125", "gpt-3.5-turbo"),
    ],
)
def test_lookup_normalises_and_matches_longest_prefix(model: str, expected: str) -> None:
    info = lookup(model)
    assert info is not None
    assert info.name == expected


@pytest.mark.parametrize("model", ["gpt-4ox", "gpt-4oo-mini", "claude", "o2", "my-model", "", "   "])
def test_lookup_requires_a_separator_after_the_prefix(model: str) -> None:
    assert lookup(model) is None


def test_gpt_4_does_not_swallow_gpt_4o() -> None:
    assert lookup("gpt-4o-2024-11-20").name == "gpt-4o"  # type: ignore[union-attr]
    assert lookup("gpt-4-0314").name == "gpt-4"  # type: ignore[union-attr]


def test_lookup_tolerates_non_strings() -> None:
    assert lookup(None) is None  # type: ignore[arg-type]
    assert estimate_cost(None, 10, 10) == 0.0  # type: ignore[arg-type]
    assert infer_provider(None) == ""  # type: ignore[arg-type]


def test_dated_model_costs_like_its_family() -> None:
    assert estimate_cost("gpt-4o-mini-2024-07-18", 1000, 500) == estimate_cost("gpt-4o-mini", 1000, 500)
    assert estimate_cost("gpt-4o-mini-2024-07-18", 1000, 500) == 0.00045


@pytest.mark.parametrize(
    ("model", "tokens_in", "tokens_out", "expected"),
    [
        ("gpt-4o", 1_000_000, 1_000_000, 12.5),
        ("gpt-4o-mini", 10_000, 2_000, 0.0027),
        ("claude-sonnet-4-20250514", 2000, 500, 0.0135),
        ("claude-3-opus", 1000, 1000, 0.09),
        ("gemini-2.0-flash", 123_456, 7_890, 0.0155016),
        ("text-embedding-3-small", 5000, 0, 0.0001),
        ("gpt-4o", 0, 0, 0.0),
    ],
)
def test_estimate_cost_exact(model: str, tokens_in: int, tokens_out: int, expected: float) -> None:
    assert estimate_cost(model, tokens_in, tokens_out) == expected


def test_estimate_cost_unknown_model_is_zero() -> None:
    assert estimate_cost("totally-unknown-model", 1000, 1000) == 0.0


def test_cached_tokens_are_a_subset_priced_at_the_cached_rate() -> None:
    # 1000 in of which 600 cached: 400 * 2.50 + 600 * 1.25 + 500 * 10.00 (per 1M)
    assert estimate_cost("gpt-4o", 1000, 500, cached_tokens_in=600) == 0.00675
    # Anthropic cache reads: 10_000 in, 8_000 cached; 2_000 * 3.00 + 8_000 * 0.30
    assert estimate_cost("claude-sonnet-4", 10_000, 0, cached_tokens_in=8_000) == 0.0084


def test_cached_tokens_without_a_cached_rate_cost_the_input_rate() -> None:
    assert estimate_cost("gpt-4", 1000, 0, cached_tokens_in=500) == estimate_cost("gpt-4", 1000, 0)


def test_cached_tokens_are_clamped_to_tokens_in() -> None:
    assert estimate_cost("gpt-4o", 100, 0, cached_tokens_in=1000) == 0.000125
    assert estimate_cost("gpt-4o", 100, 0, cached_tokens_in=-5) == 0.00025


def test_negative_tokens_count_as_zero() -> None:
    assert estimate_cost("gpt-4o", -10, -10) == 0.0


def test_cost_is_rounded_to_ten_places() -> None:
    cost = estimate_cost("gpt-4o-mini", 1, 1)
    assert cost == 0.00000075
    assert cost == round(cost, 10)


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("gpt-4o", "openai"),
        ("claude-sonnet-4-20250514", "anthropic"),
        ("gemini-1.5-flash-002", "google"),
        ("mistral-small-latest", "mistral"),
        ("command-r", "cohere"),
        ("llama-3.1-8b-instant", "groq"),
        ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "together"),
        ("deepseek-r1-distill-llama-70b", "groq"),
        ("amazon.nova-pro-v1:0", "bedrock"),
        # not in the table: by name
        ("gpt-6-preview", "openai"),
        ("o1", "openai"),
        ("o3-deep-research", "openai"),
        ("o4", "openai"),
        ("text-embedding-4", "openai"),
        ("davinci-002", "openai"),
        ("claude-instant-1.2", "anthropic"),
        ("gemini-3-ultra", "google"),
        ("mixtral-8x7b-32768", "mistral"),
        ("codestral-mamba", "mistral"),
        ("command-light", "cohere"),
        ("meta-llama/Llama-3.2-1B-Instruct", "meta"),
        ("llama3.1:8b", "meta"),
        ("deepseek-chat", "deepseek"),
        ("deepseek-coder-v2-lite", "deepseek"),
        ("grok-4", "xai"),
        ("totally-unknown-model", ""),
        ("o5x", ""),
        ("", ""),
    ],
)
def test_infer_provider(model: str, provider: str) -> None:
    assert infer_provider(model) == provider


def test_context_window() -> None:
    assert context_window("gpt-4o") == 128_000
    assert context_window("claude-sonnet-4-20250514") == 200_000
    assert context_window("gpt-4") == 8_192
    assert context_window("gemini-1.5-pro") == 2_097_152
    assert context_window("totally-unknown-model") is None


@pytest.fixture
def restore_catalog():
    yield
    for name in ("acme-llm", "gpt-4o"):
        unregister_model(name)


@pytest.mark.usefixtures("restore_catalog")
def test_register_new_model() -> None:
    assert lookup("acme-llm-2026-01-01") is None  # a cached miss ...
    info = register_model(
        "Acme-LLM", provider="acme", input_per_million=1.0, output_per_million=2.0, context_window=32_000
    )
    assert info == ModelInfo("acme-llm", "acme", 1.0, 2.0, None, 32_000)
    assert lookup("acme-llm-2026-01-01") == info  # ... is forgotten after registering
    assert estimate_cost("acme-llm", 1000, 1000) == 0.003
    assert infer_provider("acme-llm") == "acme"
    assert context_window("acme/acme-llm") == 32_000
    assert unregister_model("acme-llm") is True
    assert lookup("acme-llm") is None
    assert unregister_model("acme-llm") is False


@pytest.mark.usefixtures("restore_catalog")
def test_register_overrides_builtin_and_unregister_restores_it() -> None:
    assert estimate_cost("gpt-4o-2024-08-06", 1000, 500) == 0.0075
    register_model("gpt-4o", provider="openai", input_per_million=1.0, output_per_million=1.0)
    assert estimate_cost("gpt-4o-2024-08-06", 1000, 500) == 0.0015
    assert context_window("gpt-4o") is None
    assert unregister_model("gpt-4o") is True
    assert estimate_cost("gpt-4o-2024-08-06", 1000, 500) == 0.0075
    assert unregister_model("gpt-4o") is False  # built-ins cannot be removed


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "", "provider": "x", "input_per_million": 1, "output_per_million": 1},
        {"name": "m", "provider": "x", "input_per_million": -1, "output_per_million": 1},
        {
            "name": "m",
            "provider": "x",
            "input_per_million": 1,
            "output_per_million": 1,
            "cached_input_per_million": -0.5,
        },
        {"name": "m", "provider": "x", "input_per_million": 1, "output_per_million": 1, "context_window": 0},
    ],
)
def test_register_model_validates(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        register_model(**kwargs)


def test_lookup_is_memoised() -> None:
    pricing._lookup_normalized.cache_clear()
    pricing._lookup_raw.cache_clear()
    lookup("gpt-4o-2024-08-06")
    lookup("GPT-4o-2024-08-06")  # another spelling: normalised, then found in the normalised cache
    lookup("gpt-4o-2024-08-06")  # the same spelling again: found without normalising
    normalized = pricing._lookup_normalized.cache_info()
    raw = pricing._lookup_raw.cache_info()
    assert (normalized.hits, normalized.misses) == (1, 1)
    assert (raw.hits, raw.misses) == (1, 2)
    assert normalized.maxsize is not None and raw.maxsize is not None


@pytest.mark.usefixtures("restore_catalog")
def test_a_local_provider_is_priced_only_by_entries_registered_for_it() -> None:
    hosted = lookup("mistral-small:24b")
    assert hosted is not None and hosted.provider == "mistral"
    assert pricing.priced_for(hosted, "ollama") is None  # a local run of the model costs nothing
    assert pricing.priced_for(hosted, "bedrock") is hosted  # hosted elsewhere: the model's price
    assert pricing.priced_for(None, "ollama") is None
    local = register_model(
        "mistral-small", provider="ollama", input_per_million=0.01, output_per_million=0.02
    )
    assert pricing.priced_for(lookup("mistral-small:24b"), "ollama") == local
    assert "ollama" in pricing.LOCAL_PROVIDERS
