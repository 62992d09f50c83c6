"""Keys and modes: local mode on loopback, keys required once one exists, 401 JSON, bind refusal,
and the ``waxell-observe keys`` commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from waxell_observe_server import create_app
from waxell_observe_server.auth import BindRefused, check_bind, is_loopback

from waxell_observe.cli import main
from waxell_observe.store import get_store
from waxell_observe.store.keys import create_key, hash_key, list_keys, revoke_key

START = "/api/v1/observe/runs/start/"
BODY = {"agent_name": "a"}


def _client(url: str, **kwargs: Any) -> TestClient:
    return TestClient(create_app(url, key_cache_seconds=0, **kwargs), raise_server_exceptions=False)


def test_local_mode_accepts_requests_with_or_without_a_key(store_url: str) -> None:
    with _client(store_url) as client:
        assert client.post(START, json=BODY).status_code == 201
        assert client.post(START, json=BODY, headers={"X-Wax-Key": "wax_sk_whatever"}).status_code == 201
        assert client.get("/api/v1/read/runs/").json()["total"] == 2


def test_once_a_key_exists_every_request_needs_it(store_url: str) -> None:
    key, record = create_key(get_store(store_url), "ci")
    assert key.startswith("wax_sk_") and len(key) == 7 + 48
    with _client(store_url) as client:
        missing = client.post(START, json=BODY)
        assert (missing.status_code, missing.json()) == (
            401,
            {"detail": "missing API key: send it as X-Wax-Key (or Authorization: Bearer)"},
        )
        wrong = client.post(START, json=BODY, headers={"X-Wax-Key": "wax_sk_" + "0" * 48})
        assert (wrong.status_code, wrong.json()) == (401, {"detail": "invalid or revoked API key"})
        assert client.get("/api/v1/read/runs/").status_code == 401
        assert client.get("/api/v1/observe/config/").status_code == 401
        assert client.post(START, json=BODY, headers={"X-Wax-Key": key}).status_code == 201
        assert client.post(START, json=BODY, headers={"Authorization": f"Bearer {key}"}).status_code == 201
        assert client.get("/api/v1/read/runs/", headers={"X-Wax-Key": key}).json()["total"] == 2
        # the unauthenticated parts: health, OpenAPI, docs
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/openapi.json").status_code == 200
        # revoked: refused again, and with no key left the loopback server is back in local mode
        revoke_key(get_store(store_url), record.key_id)
        assert client.post(START, json=BODY, headers={"X-Wax-Key": key}).status_code == 201


def test_a_revoked_key_is_refused_while_another_remains(store_url: str) -> None:
    store = get_store(store_url)
    old, old_record = create_key(store, "old")
    new, _ = create_key(store, "new")
    revoke_key(store, old_record.key_id)
    with _client(store_url) as client:
        assert client.post(START, json=BODY, headers={"X-Wax-Key": old}).status_code == 401
        assert client.post(START, json=BODY, headers={"X-Wax-Key": new}).status_code == 201


def test_no_key_and_not_local_means_401_for_everything(store_url: str) -> None:
    with _client(store_url, allow_local=False) as client:
        reply = client.post(START, json=BODY)
        assert reply.status_code == 401
        assert "no API key is configured" in reply.json()["detail"]


def test_only_key_hashes_are_stored(store_url: str) -> None:
    store = get_store(store_url)
    key, record = create_key(store, "ci")
    from sqlalchemy import select

    from waxell_observe.store.schema import api_keys

    with store.read() as conn:
        row = conn.execute(select(api_keys)).one()
    assert key not in json.dumps([str(v) for v in row])
    assert row.key_hash == hash_key(key)
    assert (row.key_id, row.prefix, row.name) == (record.key_id, key[:11], "ci")


def test_loopback_detection_and_bind_refusal(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.53"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.0.0.1", "192.168.1.20"):
        assert not is_loopback(host), host
    store = get_store(f"sqlite:///{tmp_path / 'k.db'}")
    check_bind(store, "127.0.0.1")
    with pytest.raises(BindRefused, match="refusing to serve on 0.0.0.0: .*no API key exists"):
        check_bind(store, "0.0.0.0")
    create_key(store)
    check_bind(store, "0.0.0.0")


def test_serve_refuses_a_public_address_without_a_key(tmp_path: Path) -> None:
    db = str(tmp_path / "serve.db")
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--port", "0", "--db", db])
    assert result.exit_code == 1
    assert "refusing to serve on 0.0.0.0" in result.output
    assert "waxell-observe keys create" in result.output


def test_keys_commands(tmp_path: Path) -> None:
    db = str(tmp_path / "keys.db")
    runner = CliRunner()
    assert runner.invoke(main, ["keys", "list", "--db", db]).output == (
        "no keys (the server runs in local mode on loopback)\n"
    )
    created = runner.invoke(main, ["keys", "create", "--name", "ci", "--db", db])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("wax_sk_") and len(key) == 55
    assert "store it now, it cannot be shown again" in created.stderr
    listed = json.loads(runner.invoke(main, ["keys", "list", "--json", "--db", db]).stdout)
    assert len(listed) == 1
    assert {k: listed[0][k] for k in ("key_id", "name", "prefix", "revoked_at", "active")} == {
        "key_id": hash_key(key)[:12],
        "name": "ci",
        "prefix": key[:11],
        "revoked_at": None,
        "active": True,
    }
    table = runner.invoke(main, ["keys", "list", "--db", db]).stdout
    assert hash_key(key)[:12] in table and key not in table
    missing = runner.invoke(main, ["keys", "revoke", "nope", "--db", db])
    assert missing.exit_code == 1 and "no key matches 'nope'" in missing.output
    revoked = runner.invoke(main, ["keys", "revoke", "ci", "--db", db])
    assert revoked.exit_code == 0 and revoked.stdout == f"revoked key {hash_key(key)[:12]} (ci)\n"
    (record,) = list_keys(get_store(f"sqlite:///{db}"))
    assert not record.active


def test_a_real_server_checks_keys(tmp_path: Path, serve_process: Any) -> None:
    """The key created with the CLI is what a client must send to `waxell-observe serve`."""
    db = str(tmp_path / "live.db")
    key = CliRunner().invoke(main, ["keys", "create", "--db", db]).stdout.strip()
    server = serve_process(db)
    assert httpx.post(server.url + START, json=BODY).status_code == 401
    reply = httpx.post(server.url + START, json=BODY, headers={"X-Wax-Key": key})
    assert reply.status_code == 201
