"""``GET /api/v1/observe/llm-config/manifest/`` (body, ETag, 304, 401), ``PUT /api/v1/admin/llm-config/``
and ``GET /api/v1/read/llm-config/``: on the app over SQLite and PostgreSQL, and against the real
``waxell-observe serve`` on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from llm_config_sample import CONFIG, NORMALIZED

from waxell_observe.config import db_url_from
from waxell_observe.store import get_store
from waxell_observe.store.keys import create_key
from waxell_observe.store.llm_config_models import validate_llm_config

MANIFEST = "/api/v1/observe/llm-config/manifest/"
ADMIN = "/api/v1/admin/llm-config/"
READ = "/api/v1/read/llm-config/"
ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
EMPTY_SECTIONS = {"instances": [], "tenant_models": [], "model_groups": [], "capability_overrides": []}


def test_manifest_etag_and_admin_on_each_store(client: Any) -> None:
    first = client.get(MANIFEST)
    assert first.status_code == 200
    body = first.json()
    assert ISO_MILLIS.match(body.pop("generated_at"))
    assert body == {"schema_version": 1, "tenant_id": "local", "tenant_slug": "local", **EMPTY_SECTIONS}
    empty_tag = first.headers["etag"]

    stored = client.put(ADMIN, json=CONFIG)
    assert stored.status_code == 200, stored.text
    reply = stored.json()
    assert reply["counts"] == {
        "instances": 2,
        "tenant_models": 3,
        "model_groups": 1,
        "capability_overrides": 1,
    }
    assert reply["etag"] != empty_tag

    again = client.get(MANIFEST, headers={"If-None-Match": empty_tag})
    assert again.status_code == 200  # the configuration changed: the old tag no longer matches
    assert again.headers["etag"] == reply["etag"]
    assert {k: again.json()[k] for k in NORMALIZED} == NORMALIZED
    not_modified = client.get(MANIFEST, headers={"If-None-Match": reply["etag"]})
    assert (not_modified.status_code, not_modified.content) == (304, b"")
    assert not_modified.headers["etag"] == reply["etag"]


def _put(url: str, body: Any, key: str = "") -> httpx.Response:
    return httpx.put(url + ADMIN, json=body, headers={"X-Wax-Key": key} if key else {}, timeout=30)


def test_real_server_local_mode(tmp_path: Path, serve_process: Callable[..., Any]) -> None:
    server = serve_process(str(tmp_path / "local.db"))
    url = server.url

    empty = httpx.get(url + MANIFEST, timeout=30)
    assert empty.status_code == 200
    assert empty.headers["content-type"] == "application/json"
    assert empty.headers["cache-control"] == "no-cache"
    assert re.fullmatch(r'"[0-9a-f]{32}"', empty.headers["etag"])

    stored = _put(url, CONFIG)
    assert stored.status_code == 200
    reply = stored.json()
    assert (reply["configured"], reply["updated_by"]) == (True, "")
    etag = reply["etag"]

    response = httpx.get(url + MANIFEST, timeout=30)
    manifest = response.json()
    assert list(manifest) == [
        "schema_version",
        "tenant_id",
        "tenant_slug",
        "generated_at",
        "instances",
        "tenant_models",
        "model_groups",
        "capability_overrides",
    ]
    assert (manifest["schema_version"], manifest["tenant_id"], manifest["tenant_slug"]) == (
        1,
        "local",
        "local",
    )
    assert ISO_MILLIS.match(manifest["generated_at"])
    assert manifest["instances"][1] == {
        "instance_id": "azure-east",
        "kind": "azure_openai",
        "base_url": "https://east.example.com/openai",
        "secret_ref": "env:AZURE_KEY",
        "capabilities": [],
        "extra_config": {"api_version": "2024-10-21"},
        "is_default_for_kind": False,
        "catalog_id": "azure",
        "catalog_version": "2024-10",
    }
    assert manifest["tenant_models"][0] == {
        "model_id": "gpt-4o",
        "instance_id": "openai-main",
        "provider_model_id": "gpt-4o",
        "supports_tools": True,
        "supports_json": True,
        "supports_streaming": True,
        "context_window": 128000,
    }
    assert manifest["model_groups"] == [
        {
            "group_id": "smart",
            "display_name": "Smart, then cheap",
            "entries": [
                {"position": 1, "instance_id": "azure-east", "model_id": "gpt-4o"},
                {"position": 5, "instance_id": "openai-main", "model_id": "mini"},
            ],
        }
    ]
    assert manifest["capability_overrides"] == [
        {"model_id": "gpt-4o", "instance_id": "azure-east", "supports_json": True}
    ]
    assert response.headers["etag"] == etag

    # If-None-Match: the tag itself, weak, in a list, or "*" -> 304; another tag -> the body
    for header in (etag, "W/" + etag, '"other", ' + etag, "*"):
        cached = httpx.get(url + MANIFEST, headers={"If-None-Match": header}, timeout=30)
        assert (cached.status_code, cached.content, cached.headers["etag"]) == (304, b"", etag), header
    assert httpx.get(url + MANIFEST, headers={"If-None-Match": '"other"'}, timeout=30).status_code == 200

    # a bad document is refused whole and changes nothing
    bad = _put(url, {**CONFIG, "tenant_models": [{"model_id": "x", "instance_id": "nowhere"}]})
    assert bad.status_code == 422
    assert bad.json()["problems"] == [
        "tenant_models[0].instance_id: unknown instance 'nowhere' (instances: 'openai-main', 'azure-east')",
        "model_groups[0].entries[0]: no tenant model 'mini' on instance 'openai-main'",
        "model_groups[0].entries[1]: no tenant model 'gpt-4o' on instance 'azure-east'",
        "capability_overrides[0]: no tenant model 'gpt-4o' on instance 'azure-east'",
    ]
    assert httpx.get(url + MANIFEST, headers={"If-None-Match": etag}, timeout=30).status_code == 304
    assert _put(url, [1]).status_code == 422

    read = httpx.get(url + READ, timeout=30).json()
    assert {k: read[k] for k in ("configured", "updated_by", "etag", "counts")} == {
        "configured": True,
        "updated_by": "",
        "etag": etag,
        "counts": {"instances": 2, "tenant_models": 3, "model_groups": 1, "capability_overrides": 1},
    }
    assert read["updated_at"] == reply["updated_at"]
    assert {k: read[k] for k in NORMALIZED} == NORMALIZED


def test_real_server_with_keys(tmp_path: Path, serve_process: Callable[..., Any]) -> None:
    db = str(tmp_path / "keyed.db")
    key, _ = create_key(get_store(db_url_from(db)), name="platform-team")
    server = serve_process(db)
    url = server.url

    missing = httpx.get(url + MANIFEST, timeout=30)
    assert missing.status_code == 401
    assert missing.json() == {"detail": "missing API key: send it as X-Wax-Key (or Authorization: Bearer)"}
    wrong = httpx.get(url + MANIFEST, headers={"X-Wax-Key": "wax_sk_" + "0" * 48}, timeout=30)
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "invalid or revoked API key"})
    assert _put(url, CONFIG).status_code == 401
    assert httpx.get(url + READ, timeout=30).status_code == 401

    stored = _put(url, CONFIG, key)
    assert stored.status_code == 200
    assert stored.json()["updated_by"] == "platform-team"
    ok = httpx.get(url + MANIFEST, headers={"X-Wax-Key": key}, timeout=30)
    assert ok.status_code == 200
    assert {k: ok.json()[k] for k in NORMALIZED} == validate_llm_config(CONFIG)
    bearer = httpx.get(url + READ, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert bearer.json()["updated_by"] == "platform-team"
