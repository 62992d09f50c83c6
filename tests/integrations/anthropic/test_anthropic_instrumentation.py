"""Turning the Anthropic instrumentation on and off, and an SDK imported only after init()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anthropic
import pytest
import wrapt
from anthropic.resources.messages import AsyncMessages, Messages

from integrations.anthropic import payloads as p
from waxell_observe import WaxellContext
from waxell_observe.initialization import _reset_for_tests, init
from waxell_observe.plugins import plugin_manager


def test_the_plugin_is_registered_through_its_entry_point() -> None:
    import waxell_observe_anthropic.plugin

    assert plugin_manager().get_plugin("anthropic") is waxell_observe_anthropic.plugin


def test_instrument_and_uninstrument_patch_and_restore_every_method(stub: Any, read_run: Any) -> None:
    originals = {
        (cls, name): cls.__dict__[name] for cls in (Messages, AsyncMessages) for name in ("create", "stream")
    }
    _reset_for_tests()
    try:
        init(instrument=["anthropic"])
        init(instrument=["anthropic"])  # idempotent
        for (cls, name), original in originals.items():
            current = cls.__dict__[name]
            assert isinstance(current, wrapt.FunctionWrapper), (cls, name)
            assert current.__wrapped__ is original
        assert plugin_manager().hook.on_uninstrument(libraries=frozenset({"anthropic"})) == [["anthropic"]]
        for (cls, name), original in originals.items():
            assert cls.__dict__[name] is original
        stub.reply_json(p.message("claude-haiku-4-5-20251001", [p.text("quiet")], usage_=p.usage(3, 1)))
        client = anthropic.Anthropic(base_url=stub.base_url, api_key="k", max_retries=0, open_telemetry=False)
        with WaxellContext(agent_name="off") as ctx:
            client.messages.create(
                model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
        assert read_run(ctx.run_id)["llm_calls"] == []
    finally:
        plugin_manager().hook.on_uninstrument(libraries=None)
        _reset_for_tests()


def test_sdk_imported_after_init_is_instrumented_and_imports_stay_lazy(
    stub: Any, read_run: Any, waxell_db: Path
) -> None:
    # anthropic imports its resource modules while the package itself is still initialising:
    # the post-import hook must cope with that.
    script = textwrap.dedent(
        f"""
        import json, sys
        from waxell_observe.initialization import init
        from waxell_observe import WaxellContext, flush_sync
        init(instrument=["anthropic"])
        lazy = "anthropic" not in sys.modules
        import anthropic
        client = anthropic.Anthropic(
            base_url={stub.base_url!r}, api_key="k", max_retries=0, open_telemetry=False
        )
        with WaxellContext(agent_name="late-import") as ctx:
            with client.messages.stream(model="claude-haiku-4-5", max_tokens=9,
                                        messages=[{{"role": "user", "content": "late"}}]) as s:
                text = s.get_final_text()
        flush_sync(timeout=30)
        print(json.dumps({{"lazy": lazy, "run_id": ctx.run_id, "text": text}}))
        """
    )
    events = p.stream_events("claude-haiku-4-5-20251001", ["late ", "answer"], start_usage=p.usage(6, 1),
                             deltas=[{"output_tokens": 2}])  # fmt: skip
    from integrations.llm_stub import sse_anthropic

    stub.reply_sse(sse_anthropic(events))
    env = dict(os.environ, WAXELL_DB=str(waxell_db))
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True, env=env, timeout=90
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["lazy"] is True
    assert result["text"] == "late answer"
    calls = read_run(result["run_id"])["llm_calls"]
    assert [(c["model"], c["tokens_in"], c["tokens_out"], c["response_preview"]) for c in calls] == [
        ("claude-haiku-4-5-20251001", 6, 2, "late answer")
    ]


def test_stable_import_path_and_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import waxell_observe_anthropic

    from waxell_observe.integrations import anthropic as shim

    assert shim.uninstrument is waxell_observe_anthropic.uninstrument
    monkeypatch.setitem(sys.modules, "waxell_observe_anthropic", None)
    fresh = importlib.reload(shim)
    with pytest.raises(ImportError, match="pip install waxell-observe-anthropic"):
        fresh.instrument  # noqa: B018
    monkeypatch.undo()
    importlib.reload(shim)
