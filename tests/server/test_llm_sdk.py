"""``waxell_observe.llm`` against the real control plane on 127.0.0.1 (requests counted at the server):
the manifest cache with its ETag (304 keeps the cached copy), 401, an unreachable server, the embedded
store without ``api_url``; ``resolve_chain`` over the sample configuration; a light import."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from llm_config_sample import CONFIG

from waxell_observe import llm
from waxell_observe.config import db_url_from, get_config, set_config
from waxell_observe.store import get_store
from waxell_observe.store.keys import create_key, revoke_key
from waxell_observe.store.llm_config import replace_llm_config

MANIFEST = "/api/v1/observe/llm-config/manifest/"


@dataclass
class CountingServer:
    """The real app on uvicorn in a thread; ``seen`` holds (If-None-Match, status) of each manifest
    request."""

    url: str
    store_url: str
    server: Any
    thread: threading.Thread
    seen: list[tuple[str, int]] = field(default_factory=list)

    def statuses(self) -> list[int]:
        return [status for _, status in self.seen]


def _start(store_url: str) -> CountingServer:
    import uvicorn
    from waxell_observe_server import create_app

    app = create_app(store_url, key_cache_seconds=0)
    holder: list[CountingServer] = []

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != MANIFEST:
            await app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        tag = headers.get(b"if-none-match", b"").decode()

        async def record(message: Any) -> None:
            if message["type"] == "http.response.start":
                holder[0].seen.append((tag, message["status"]))
            await send(message)

        await app(scope, receive, record)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(counting, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    holder.append(CountingServer(f"http://127.0.0.1:{sock.getsockname()[1]}", store_url, server, thread))
    return holder[0]


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[CountingServer]:
    server = _start(db_url_from(str(tmp_path / "server.db")))
    yield server
    server.server.should_exit = True
    server.thread.join(timeout=10)


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("WAXELL_LLM_MANIFEST_TTL", raising=False)
    llm.clear_manifest_cache()
    yield
    llm.clear_manifest_cache()


def _use(monkeypatch: pytest.MonkeyPatch, url: str, key: str = "") -> None:
    monkeypatch.setenv("WAXELL_API_URL", url)
    monkeypatch.setenv("WAXELL_API_KEY", key)
    set_config(None)


def _store_config(store_url: str, data: Any) -> None:
    with get_store(store_url).write() as conn:
        replace_llm_config(conn, data)


def test_manifest_cache_with_etag(control_plane: CountingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, control_plane.url)
    empty = llm.get_manifest()
    assert (empty.schema_version, empty.tenant_id, empty.tenant_slug) == (1, "local", "local")
    assert (empty.instances, empty.tenant_models, empty.model_groups, empty.capability_overrides) == (
        (),
        (),
        (),
        (),
    )
    assert control_plane.seen == [("", 200)]
    assert llm.get_manifest() is empty  # fresh: no request
    assert control_plane.seen == [("", 200)]

    _store_config(control_plane.store_url, CONFIG)
    assert llm.get_manifest() is empty  # still fresh (WAXELL_LLM_MANIFEST_TTL, default 30 s)
    full = llm.get_manifest(refresh=True)
    assert control_plane.seen == [("", 200), (empty.etag, 200)]
    assert full.etag != empty.etag
    assert [i.instance_id for i in full.instances] == ["openai-main", "azure-east"]
    assert full.instances[1] == llm.ProviderInstance(
        instance_id="azure-east",
        kind="azure_openai",
        base_url="https://east.example.com/openai",
        secret_ref="env:AZURE_KEY",
        capabilities=(),
        extra_config={"api_version": "2024-10-21"},
        is_default_for_kind=False,
        catalog_id="azure",
        catalog_version="2024-10",
    )
    assert full.tenant_models[2] == llm.TenantModel("mini", "openai-main", "gpt-4o-mini")
    assert full.model_groups == (
        llm.ModelGroup(
            "smart",
            "Smart, then cheap",
            (llm.ModelGroupEntry(1, "azure-east", "gpt-4o"), llm.ModelGroupEntry(5, "openai-main", "mini")),
        ),
    )
    assert full.capability_overrides == (llm.CapabilityOverride("gpt-4o", "azure-east", supports_json=True),)

    # unchanged: 304 keeps the cached copy (the very same object)
    assert llm.get_manifest(refresh=True) is full
    assert control_plane.seen[-1] == (full.etag, 304)

    # no cache time: every call asks, with If-None-Match
    monkeypatch.setenv("WAXELL_LLM_MANIFEST_TTL", "0")
    assert llm.get_manifest() is full
    assert llm.get_manifest() is full
    assert control_plane.statuses() == [200, 200, 304, 304, 304]


def test_async_manifest_and_resolve(control_plane: CountingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _store_config(control_plane.store_url, CONFIG)
    _use(monkeypatch, control_plane.url)

    async def main() -> tuple[Any, Any, list[llm.Candidate]]:
        first = await llm.aget_manifest()
        second = await llm.aget_manifest(refresh=True)
        chain = await llm.aresolve_chain("smart")
        return first, second, chain

    first, second, chain = asyncio.run(main())
    assert second is first
    assert control_plane.seen == [("", 200), (first.etag, 304)]
    assert [(c.instance.instance_id, c.model.provider_model_id) for c in chain] == [
        ("azure-east", "gpt-4o-2024-08-06"),
        ("openai-main", "gpt-4o-mini"),
    ]


def test_unauthorized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store_url = db_url_from(str(tmp_path / "keyed.db"))
    key, record = create_key(get_store(store_url), name="agents")
    create_key(get_store(store_url), name="admin")  # stays active: the server never falls back to local mode
    _store_config(store_url, CONFIG)
    server = _start(store_url)
    try:
        _use(monkeypatch, server.url, "wax_sk_" + "0" * 48)
        with pytest.raises(llm.ManifestUnauthorized) as caught:
            llm.get_manifest()
        assert (caught.value.status, caught.value.detail) == (401, "invalid or revoked API key")
        assert str(caught.value) == (
            f"GET llm-config/manifest/ at {server.url}: HTTP 401: invalid or revoked API key"
        )
        assert isinstance(caught.value, llm.ManifestUnavailable)

        _use(monkeypatch, server.url, key)
        cached = llm.get_manifest()
        assert len(cached.tenant_models) == 3
        revoke_key(get_store(store_url), record.key_id)
        # a revoked key is refused even though a copy is cached, and the copy is dropped
        with pytest.raises(llm.ManifestUnauthorized):
            llm.get_manifest(refresh=True)
        with pytest.raises(llm.ManifestUnauthorized):
            llm.get_manifest()
        assert server.seen == [("", 401), ("", 200), (cached.etag, 401), ("", 401)]
    finally:
        server.server.should_exit = True
        server.thread.join(timeout=10)


def test_unreachable_server_uses_the_earlier_copy(
    control_plane: CountingServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _store_config(control_plane.store_url, CONFIG)
    _use(monkeypatch, control_plane.url)
    cached = llm.get_manifest()
    control_plane.server.should_exit = True
    control_plane.thread.join(timeout=10)
    with caplog.at_level(logging.WARNING, logger="waxell_observe"):
        assert llm.get_manifest(refresh=True) is cached
    assert f"using the LLM manifest fetched earlier (etag {cached.etag})" in caplog.text
    llm.clear_manifest_cache()
    with pytest.raises(llm.ManifestUnavailable) as caught:
        llm.get_manifest()
    assert caught.value.status is None
    assert str(caught.value).startswith(
        f"GET llm-config/manifest/ at {control_plane.url}: no answer (ConnectError"
    )


def test_embedded_store_without_api_url(control_plane: CountingServer, waxell_db: Path) -> None:
    assert get_config().api_url == ""
    empty = llm.get_manifest()
    assert (empty.tenant_id, empty.instances) == ("local", ())
    _store_config(db_url_from(str(waxell_db)), CONFIG)
    embedded = llm.get_manifest()  # read on every call: no cache time
    assert [m.model_id for m in embedded.tenant_models] == ["gpt-4o", "gpt-4o", "mini"]
    # the same configuration served by a control plane has the same tag
    _store_config(control_plane.store_url, CONFIG)
    served = httpx.get(control_plane.url + MANIFEST, timeout=30)
    assert served.headers["etag"] == embedded.etag
    assert asyncio.run(llm.aget_manifest()).etag == embedded.etag
    assert [(c.instance.instance_id, c.model.model_id) for c in llm.resolve_chain("gpt-4o")] == [
        ("openai-main", "gpt-4o"),
        ("azure-east", "gpt-4o"),
    ]


def _manifest(**sections: Any) -> llm.LlmManifest:
    return llm.LlmManifest.from_dict({"schema_version": 1, **CONFIG, **sections}, etag='"t"')


def test_resolve_chain() -> None:
    manifest = _manifest()

    def chain(name: str, mode: str = "text") -> list[tuple[str, str]]:
        return [(i.instance_id, m.model_id) for i, m in llm.resolve_chain(name, mode=mode, manifest=manifest)]

    assert chain("smart") == [("azure-east", "gpt-4o"), ("openai-main", "mini")]
    assert chain("gpt-4o") == [
        ("openai-main", "gpt-4o"),
        ("azure-east", "gpt-4o"),
    ]  # default of its kind first
    assert chain("azure-east/gpt-4o") == [("azure-east", "gpt-4o")]
    assert chain("mini") == [("openai-main", "mini")]
    assert chain("smart", "json") == [("azure-east", "gpt-4o")]  # json from the capability override
    assert chain("gpt-4o", "tool") == [("openai-main", "gpt-4o")]
    assert chain("gpt-4o", "stream") == [("openai-main", "gpt-4o")]

    with pytest.raises(llm.NoCandidateForMode) as no_mode:
        chain("mini", "json")
    assert str(no_mode.value) == (
        "no model behind 'mini' can answer in 'json' mode: none of mini@openai-main has supports_json "
        "(set it in tenant_models or capability_overrides)"
    )
    with pytest.raises(llm.ModelNotResolvable) as unknown:
        chain("gpt-5")
    assert str(unknown.value) == (
        "'gpt-5' is not a model group or a tenant model of the LLM manifest "
        "(known: 'smart', 'gpt-4o', 'mini')"
    )
    assert unknown.value.known == ["smart", "gpt-4o", "mini"]
    with pytest.raises(ValueError, match="mode must be one of text, json, tool, stream, got 'image'"):
        chain("smart", "image")


def test_capability_overrides_for_every_instance_then_one() -> None:
    manifest = _manifest(
        capability_overrides=[
            {"model_id": "gpt-4o", "instance_id": "openai-main", "context_window": 64000},
            {"model_id": "gpt-4o", "supports_tools": True, "context_window": 32000},
        ]
    )
    assert manifest.model("openai-main", "gpt-4o") == llm.TenantModel(
        "gpt-4o", "openai-main", "gpt-4o", True, True, True, 64000
    )
    assert manifest.model("azure-east", "gpt-4o") == llm.TenantModel(
        "gpt-4o", "azure-east", "gpt-4o-2024-08-06", True, False, False, 32000
    )
    with pytest.raises(ValueError, match="not an LLM manifest: no instances or tenant_models"):
        llm.LlmManifest.from_dict({"detail": "nope"})


def test_import_is_light() -> None:
    code = (
        "import sys, waxell_observe.llm; "
        "heavy = ('httpx', 'openai', 'sqlalchemy', 'pydantic', 'waxell_observe.store'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
