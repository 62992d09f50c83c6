"""A tenant's LLM configuration used by the tests of the llm-config store, endpoint, CLI, SDK and
dashboard: ``CONFIG`` as a user writes it, ``NORMALIZED`` as the store keeps it."""

from __future__ import annotations

from typing import Any

CONFIG: dict[str, Any] = {
    "instances": [
        {
            "instance_id": "openai-main",
            "kind": "openai",
            "secret_ref": "OPENAI_API_KEY",
            "capabilities": ["chat", "embeddings"],
            "is_default_for_kind": True,
        },
        {
            "instance_id": "azure-east",
            "kind": "azure_openai",
            "base_url": "https://east.example.com/openai",
            "secret_ref": "env:AZURE_KEY",
            "extra_config": {"api_version": "2024-10-21"},
            "catalog_id": "azure",
            "catalog_version": "2024-10",
        },
    ],
    "tenant_models": [
        {
            "model_id": "gpt-4o",
            "instance_id": "openai-main",
            "supports_tools": True,
            "supports_json": True,
            "supports_streaming": True,
            "context_window": 128000,
        },
        {"model_id": "gpt-4o", "instance_id": "azure-east", "provider_model_id": "gpt-4o-2024-08-06"},
        {"model_id": "mini", "instance_id": "openai-main", "provider_model_id": "gpt-4o-mini"},
    ],
    "model_groups": [
        {
            "group_id": "smart",
            "display_name": "Smart, then cheap",
            "entries": [
                {"position": 5, "instance_id": "openai-main", "model_id": "mini"},
                {"position": 1, "instance_id": "azure-east", "model_id": "gpt-4o"},
            ],
        }
    ],
    "capability_overrides": [{"model_id": "gpt-4o", "instance_id": "azure-east", "supports_json": True}],
}

NORMALIZED: dict[str, Any] = {
    "instances": [
        {
            "instance_id": "openai-main",
            "kind": "openai",
            "base_url": "",
            "secret_ref": "OPENAI_API_KEY",
            "capabilities": ["chat", "embeddings"],
            "extra_config": {},
            "is_default_for_kind": True,
            "catalog_id": "",
            "catalog_version": "",
        },
        {
            "instance_id": "azure-east",
            "kind": "azure_openai",
            "base_url": "https://east.example.com/openai",
            "secret_ref": "env:AZURE_KEY",
            "capabilities": [],
            "extra_config": {"api_version": "2024-10-21"},
            "is_default_for_kind": False,
            "catalog_id": "azure",
            "catalog_version": "2024-10",
        },
    ],
    "tenant_models": [
        {
            "model_id": "gpt-4o",
            "instance_id": "openai-main",
            "provider_model_id": "gpt-4o",
            "supports_tools": True,
            "supports_json": True,
            "supports_streaming": True,
            "context_window": 128000,
        },
        {
            "model_id": "gpt-4o",
            "instance_id": "azure-east",
            "provider_model_id": "gpt-4o-2024-08-06",
            "supports_tools": False,
            "supports_json": False,
            "supports_streaming": False,
            "context_window": None,
        },
        {
            "model_id": "mini",
            "instance_id": "openai-main",
            "provider_model_id": "gpt-4o-mini",
            "supports_tools": False,
            "supports_json": False,
            "supports_streaming": False,
            "context_window": None,
        },
    ],
    "model_groups": [
        {
            "group_id": "smart",
            "display_name": "Smart, then cheap",
            "entries": [
                {"position": 1, "instance_id": "azure-east", "model_id": "gpt-4o"},
                {"position": 5, "instance_id": "openai-main", "model_id": "mini"},
            ],
        }
    ],
    "capability_overrides": [{"model_id": "gpt-4o", "instance_id": "azure-east", "supports_json": True}],
}
