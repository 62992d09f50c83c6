"""``diagnose()``: what the SDK sees in this process, as a dict (nothing is sent, nothing raises)."""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any

__all__ = ["DETECTABLE_LIBRARIES", "diagnose"]

logger = logging.getLogger("waxell_observe")

DETECTABLE_LIBRARIES: tuple[str, ...] = (
    "openai",
    "anthropic",
    "langchain",
    "langchain_core",
    "langgraph",
    "llama_index",
    "litellm",
    "groq",
    "mistralai",
    "cohere",
    "ollama",
    "together",
    "boto3",
    "crewai",
    "autogen",
    "dspy",
    "haystack",
    "instructor",
    "chromadb",
    "pinecone",
    "qdrant_client",
    "weaviate",
)
"""Libraries ``diagnose()`` looks for (found on the path, not imported)."""

_FALSY = ("false", "0", "no")


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _api_url() -> str:
    url = os.environ.get("WAXELL_API_URL", "")
    if url:
        return url
    from waxell_observe.config import config_file_path

    try:
        with open(config_file_path(), encoding="utf-8") as handle:
            for line in handle:
                key, sep, value = line.partition("=")
                if sep and key.strip() == "api_url" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return "(not set)"


def _report() -> dict[str, Any]:
    from waxell_observe import __version__, initialization, lazy_integrations
    from waxell_observe.tracing import is_tracing_enabled, otel_available

    active = initialization.instrumented_libraries()
    return {
        "sdk_version": __version__,
        "initialized": initialization.is_initialized(),
        "active_instrumentors": list(initialization.instrumented_libraries()),
        "detected_libraries": {name: _installed(name) for name in DETECTABLE_LIBRARIES},
        "config": {
            "api_url": _api_url(),
            "api_key_set": bool(os.environ.get("WAXELL_API_KEY")),
            "observe_enabled": os.environ.get("WAXELL_OBSERVE", "").strip().lower() not in _FALSY,
        },
        "tracing": {"otel_available": otel_available(), "tracing_enabled": is_tracing_enabled()},
        "waiting_instrumentors": sorted(lazy_integrations.waiting()),
        "integrations": lazy_integrations.report(active),
    }


def diagnose() -> dict[str, Any]:
    """A status report: ``sdk_version``, ``initialized``, ``active_instrumentors`` (what ``init()``
    instrumented), ``detected_libraries`` (``{name: installed}``), ``config`` (``api_url`` from
    ``WAXELL_API_URL`` or the config file, else ``"(not set)"``; ``api_key_set``;
    ``observe_enabled``), ``tracing`` (``otel_available``, ``tracing_enabled``),
    ``waiting_instrumentors`` (integrations ``init()`` armed that wait for their library's import) and
    ``integrations`` (every installed integration: ``state``, ``triggers``, ``package``, see
    ``waxell_observe.vocabulary.integrations``). Never raises."""
    try:
        return _report()
    except Exception as exc:  # noqa: BLE001 - a status report must not fail
        logger.warning("waxell-observe: diagnose() failed", exc_info=True)
        return {"error": f"{type(exc).__name__}: {exc}"}
