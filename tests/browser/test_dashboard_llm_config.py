"""The LLM configuration page in Chromium: empty, then filled with ``waxell-observe llm-config set`` (the
real CLI on the server's store), reached from the navigation; after a change through the admin endpoint
it shows the new configuration and ETag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner
from dashboard_server import start_server, stop_server
from dashboard_ui import card_value, goto, rendered
from llm_config_sample import CONFIG
from playwright.sync_api import expect

from waxell_observe.cli import main
from waxell_observe.config import db_url_from

pytestmark = pytest.mark.browser


def _rows(page: Any, testid: str) -> list[list[str]]:
    rows = page.get_by_test_id(testid).locator("tbody tr")
    return [
        [cell.strip() for cell in rows.nth(n).locator("td").all_inner_texts()] for n in range(rows.count())
    ]


def test_llm_config_page(tmp_path: Path, page_factory: Any, shot: Any) -> None:
    db = str(tmp_path / "llm.db")
    server = start_server(db_url_from(db))
    try:
        page = page_factory(server)
        goto(page, server, "/llm-config")
        expect(page.get_by_test_id("llm-config-empty")).to_contain_text(
            "waxell-observe llm-config set FILE.yaml"
        )

        config_file = tmp_path / "llm.yaml"
        config_file.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
        result = CliRunner().invoke(main, ["llm-config", "set", str(config_file), "--db", db])
        assert result.exit_code == 0, result.output
        etag = httpx.get(server.url + "/api/v1/observe/llm-config/manifest/").headers["etag"]

        goto(page, server, "/runs")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="LLM config").click()
        rendered(page, "#/llm-config")
        expect(page.locator('[data-nav="llm-config"]')).to_have_attribute("aria-current", "page")
        expect(page.locator("h1")).to_have_text("LLM configuration")
        assert page.title() == "LLM configuration · waxell observe"
        assert [
            card_value(page, f"llm-count-{name}") for name in ("instances", "models", "groups", "overrides")
        ] == [
            "2",
            "3",
            "1",
            "1",
        ]
        expect(page.get_by_test_id("llm-etag")).to_have_text(etag)
        assert _rows(page, "llm-instances") == [
            ["openai-main", "openai", "provider's own", "OPENAI_API_KEY", "yes", "chat, embeddings", "–"],
            [
                "azure-east",
                "azure_openai",
                "https://east.example.com/openai",
                "env:AZURE_KEY",
                "–",
                "–",
                "azure @ 2024-10",
            ],
        ]
        assert _rows(page, "llm-models") == [
            ["gpt-4o", "openai-main", "gpt-4o", "yes", "yes", "yes", "128,000"],
            ["gpt-4o", "azure-east", "gpt-4o-2024-08-06", "–", "–", "–", "–"],
            ["mini", "openai-main", "gpt-4o-mini", "–", "–", "–", "–"],
        ]
        groups = _rows(page, "llm-groups")
        assert groups[0][:2] == ["smart", "Smart, then cheap"]
        chain = page.get_by_test_id("llm-groups").locator("ol.llm-chain li")
        assert chain.all_inner_texts() == ["gpt-4o @ azure-east", "mini @ openai-main"]
        assert _rows(page, "llm-overrides") == [["gpt-4o", "azure-east", "supports_json = true"]]
        shot(page, "llm-config")

        # replaced through the admin endpoint: the page shows the new configuration
        smaller = {
            "instances": [
                {"instance_id": "local", "kind": "ollama", "base_url": "http://127.0.0.1:11434/v1"}
            ],
            "tenant_models": [{"model_id": "llama3", "instance_id": "local", "context_window": 8192}],
        }
        reply = httpx.put(server.url + "/api/v1/admin/llm-config/", json=smaller).json()
        page.reload()
        rendered(page, "#/llm-config")
        expect(page.get_by_test_id("llm-etag")).to_have_text(reply["etag"])
        assert _rows(page, "llm-models") == [["llama3", "local", "llama3", "–", "–", "–", "8,192"]]
        expect(page.get_by_test_id("llm-groups-empty")).to_have_text("No model groups.")
        expect(page.get_by_test_id("llm-overrides-empty")).to_have_text("No capability overrides.")
    finally:
        stop_server(server)
