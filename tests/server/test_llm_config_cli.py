"""``waxell-observe llm-config set|show`` on the embedded store and against the real server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from click.testing import CliRunner
from llm_config_sample import CONFIG, NORMALIZED

from waxell_observe.cli import main
from waxell_observe.config import db_url_from
from waxell_observe.store import get_store
from waxell_observe.store.keys import create_key
from waxell_observe.store.llm_config import read_llm_config

SUMMARY = "instances: 2, tenant models: 3, model groups: 1, capability overrides: 1"


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "200"}, catch_exceptions=False)


def test_set_and_show_on_the_embedded_store(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    empty = _invoke("llm-config", "show", "--db", db)
    assert (empty.exit_code, empty.output) == (
        0,
        "no LLM configuration; store one with `waxell-observe llm-config set FILE.yaml`\n",
    )
    config_file = tmp_path / "llm.yaml"
    config_file.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    stored = _invoke("llm-config", "set", str(config_file), "--db", db)
    assert stored.exit_code == 0, stored.output
    with get_store(db_url_from(db)).read() as conn:
        kept = read_llm_config(conn)
    assert kept.document == NORMALIZED
    assert stored.output.startswith(f'LLM configuration stored: {SUMMARY} (etag "')

    shown = _invoke("llm-config", "show", "--db", db)
    assert shown.exit_code == 0
    lines = shown.output.splitlines()
    assert lines[0].startswith("LLM configuration of ") and f" by {kept.updated_by} (etag " in lines[0]
    text = shown.output
    for expected in (
        "https://east.example.com/openai",
        "(provider's)",
        "env:AZURE_KEY",
        "azure@2024-10",
        "gpt-4o-2024-08-06",
        "128,000",
        "gpt-4o@azure-east → mini@openai-main",
        "Smart, then cheap",
        "supports_json=True",
    ):
        assert expected in text, expected

    # resolve: what a call tries, in order
    chain = _invoke("llm-config", "resolve", "smart", "--db", db)
    assert (chain.exit_code, chain.output) == (
        0,
        "1. gpt-4o@azure-east → gpt-4o-2024-08-06 (azure_openai, https://east.example.com/openai)\n"
        "2. mini@openai-main → gpt-4o-mini (openai, (provider's own URL))\n",
    )
    tools = _invoke("llm-config", "resolve", "gpt-4o", "--mode", "tool", "--db", db)
    assert tools.output == "1. gpt-4o@openai-main → gpt-4o (openai, (provider's own URL))\n"
    missing = _invoke("llm-config", "resolve", "smart", "--mode", "tool", "--db", db)
    assert (missing.exit_code, missing.output) == (
        1,
        "Error: no model behind 'smart' can answer in 'tool' mode: none of gpt-4o@azure-east, "
        "mini@openai-main has supports_tools (set it in tenant_models or capability_overrides)\n",
    )

    # show --json round-trips through set (a .json file)
    as_json = _invoke("llm-config", "show", "--json", "--db", db)
    assert json.loads(as_json.output) == NORMALIZED
    again = tmp_path / "again.json"
    again.write_text(as_json.output, encoding="utf-8")
    assert _invoke("llm-config", "set", str(again), "--db", db).exit_code == 0
    with get_store(db_url_from(db)).read() as conn:
        assert read_llm_config(conn).document == NORMALIZED

    # a bad file: every problem listed, nothing changed
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tenant_models": [{"model_id": "m", "instance_id": "x"}], "groups": []}))
    refused = _invoke("llm-config", "set", str(bad), "--db", db)
    assert refused.exit_code == 1
    assert refused.output == "Error: invalid LLM configuration:\n  groups: Extra inputs are not permitted\n"
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    unreadable = _invoke("llm-config", "set", str(broken), "--db", db)
    assert unreadable.exit_code == 2 and "cannot read" in unreadable.output
    with get_store(db_url_from(db)).read() as conn:
        assert read_llm_config(conn).document == NORMALIZED


def test_set_and_show_against_a_server(tmp_path: Path, serve_process: Callable[..., Any]) -> None:
    db = str(tmp_path / "server.db")
    key, _ = create_key(get_store(db_url_from(db)), name="ops")
    server = serve_process(db)
    config_file = tmp_path / "llm.yaml"
    config_file.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")

    refused = _invoke("llm-config", "set", str(config_file), "--api-url", server.url)
    assert refused.exit_code == 1
    assert refused.output == (
        "Error: PUT /api/v1/admin/llm-config/ failed (401): "
        "missing API key: send it as X-Wax-Key (or Authorization: Bearer)\n"
    )
    stored = _invoke("llm-config", "set", str(config_file), "--api-url", server.url, "--api-key", key)
    assert stored.exit_code == 0, stored.output
    etag = httpx.get(server.url + "/api/v1/observe/llm-config/manifest/", headers={"X-Wax-Key": key}).headers[
        "etag"
    ]
    assert stored.output == f"LLM configuration stored: {SUMMARY} (etag {etag})\n"

    shown = _invoke("llm-config", "show", "--api-url", server.url, "--api-key", key)
    assert shown.exit_code == 0
    assert shown.output.splitlines()[0].endswith(f" by ops (etag {etag})")
    assert "gpt-4o@azure-east → mini@openai-main" in shown.output
    remote_chain = _invoke("llm-config", "resolve", "gpt-4o", "--api-url", server.url, "--api-key", key)
    assert remote_chain.output.splitlines() == [
        "1. gpt-4o@openai-main → gpt-4o (openai, (provider's own URL))",
        "2. gpt-4o@azure-east → gpt-4o-2024-08-06 (azure_openai, https://east.example.com/openai)",
    ]
    as_json = _invoke("llm-config", "show", "--json", "--api-url", server.url, "--api-key", key)
    assert json.loads(as_json.output) == NORMALIZED

    bad = tmp_path / "bad.yaml"
    bad.write_text("instances:\n  - {instance_id: a, kind: openai, base_url: 'ftp://x'}\n", encoding="utf-8")
    problem = _invoke("llm-config", "set", str(bad), "--api-url", server.url, "--api-key", key)
    assert problem.exit_code == 1
    assert problem.output == (
        "Error: PUT /api/v1/admin/llm-config/ failed (422): invalid LLM configuration: "
        "instances[0].base_url: Value error, must be an http:// or https:// URL "
        "(or empty for the provider's own), got 'ftp://x'\n"
    )
