"""``build_client``: the ``openai`` client for a provider instance of the manifest, pointed at its
``base_url`` with the API key its ``secret_ref`` names.

Every kind we call speaks OpenAI's chat completions API: ``openai`` (``base_url`` ``""``: OpenAI itself),
``azure_openai`` (``base_url`` is the Azure endpoint; ``extra_config.api_version`` required) and the
OpenAI-compatible servers (``openai_compatible``, ``vllm``, ``ollama``, ``lmstudio``, ``litellm``,
``together``, ``groq``, ``deepseek``, ``mistral``, ``fireworks``, ``openrouter``), which need a
``base_url``. Other kinds raise :class:`UnsupportedKind`.

``extra_config`` may set ``timeout`` (seconds), ``max_retries`` (default 0: a failed candidate makes way
for the next one of the chain instead of being retried) and ``default_headers``.
"""

from __future__ import annotations

import os
from typing import Any

from waxell_observe.llm.errors import LlmError, MissingProviderSDK, SecretNotInEnvironment, UnsupportedKind
from waxell_observe.llm.manifest import ProviderInstance

__all__ = ["OPENAI_COMPATIBLE_KINDS", "SUPPORTED_KINDS", "build_client", "secret_of"]

OPENAI_COMPATIBLE_KINDS: tuple[str, ...] = (
    "openai_compatible",
    "vllm",
    "ollama",
    "lmstudio",
    "litellm",
    "together",
    "groq",
    "deepseek",
    "mistral",
    "fireworks",
    "openrouter",
)
"""Kinds served by an OpenAI-compatible endpoint at the instance's ``base_url``."""

SUPPORTED_KINDS: tuple[str, ...] = ("openai", "azure_openai", *OPENAI_COMPATIBLE_KINDS)

_NO_KEY = "not-needed"
"""Sent as the key of an instance without ``secret_ref`` (local servers take any key; the client needs
one)."""


def secret_of(instance: ProviderInstance) -> str:
    """The API key of ``instance``: the environment variable its ``secret_ref`` names (``NAME`` or
    ``env:NAME``); raises :class:`SecretNotInEnvironment` when it is not set. No ``secret_ref``: a
    placeholder key."""
    ref = instance.secret_ref.strip()
    if not ref:
        return _NO_KEY
    variable = ref.removeprefix("env:")
    value = os.environ.get(variable)
    if not value:
        raise SecretNotInEnvironment(instance.instance_id, variable)
    return value


def _options(instance: ProviderInstance) -> dict[str, Any]:
    extra = instance.extra_config
    options: dict[str, Any] = {"max_retries": int(extra.get("max_retries", 0))}
    if extra.get("timeout") is not None:
        options["timeout"] = float(extra["timeout"])
    if isinstance(extra.get("default_headers"), dict):
        options["default_headers"] = {str(k): str(v) for k, v in extra["default_headers"].items()}
    return options


def build_client(instance: ProviderInstance, *, asynchronous: bool = False) -> Any:
    """An ``openai.OpenAI`` (``AsyncOpenAI`` when ``asynchronous``) client for ``instance`` (Azure:
    ``AzureOpenAI`` / ``AsyncAzureOpenAI``). Raises :class:`UnsupportedKind`,
    :class:`SecretNotInEnvironment` or :class:`MissingProviderSDK`."""
    kind = instance.kind
    if kind not in SUPPORTED_KINDS:
        raise UnsupportedKind(instance.instance_id, kind, SUPPORTED_KINDS)
    if kind in OPENAI_COMPATIBLE_KINDS and not instance.base_url:
        raise LlmError(f"instance {instance.instance_id!r} of kind {kind!r} needs a base_url")
    key = secret_of(instance)
    try:
        import openai
    except ImportError:
        raise MissingProviderSDK(kind, "openai") from None
    options = _options(instance)
    if kind == "azure_openai":
        version = instance.extra_config.get("api_version")
        if not instance.base_url or not version:
            raise LlmError(
                f"instance {instance.instance_id!r} of kind 'azure_openai' needs a base_url "
                "(the Azure endpoint) and extra_config.api_version"
            )
        azure = openai.AsyncAzureOpenAI if asynchronous else openai.AzureOpenAI
        return azure(azure_endpoint=instance.base_url, api_version=str(version), api_key=key, **options)
    plain = openai.AsyncOpenAI if asynchronous else openai.OpenAI
    return plain(base_url=instance.base_url or None, api_key=key, **options)
