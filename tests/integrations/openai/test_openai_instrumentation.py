"""Turning the OpenAI instrumentation on and off: entry point, init(), idempotence, uninstrument,
disabled mode, and an SDK imported only after init()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import openai
import pytest
import wrapt
from openai.resources.chat.completions import Completions

from integrations.openai import payloads as p
from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.initialization import _reset_for_tests, init, instrumented_libraries
from waxell_observe.plugins import plugin_manager

QUESTION = [{"role": "user", "content": "hi"}]


@pytest.fixture
def clean() -> Any:
    _reset_for_tests()
    yield
    plugin_manager().hook.on_uninstrument(libraries=None)
    _reset_for_tests()


def make_client(stub: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=stub.base_url + "/v1", api_key="test-key", max_retries=0)


def test_the_plugin_is_registered_through_its_entry_point(clean: Any) -> None:
    """Integrations load lazily: init() registers the entry point of a library already imported
    (openai is, by this module), not before."""
    import waxell_observe_openai.plugin

    init()
    assert plugin_manager().get_plugin("openai") is waxell_observe_openai.plugin


def test_init_instruments_only_what_is_asked(clean: Any) -> None:
    from waxell_observe_openai import is_instrumented

    init(instrument=["anthropic"])
    assert not is_instrumented()
    assert isinstance(Completions.__dict__["create"], types_function())
    plugin_manager().hook.on_uninstrument(libraries=None)
    _reset_for_tests()
    init(instrument=["openai"])
    assert is_instrumented()
    assert "openai" in instrumented_libraries()
    assert isinstance(Completions.__dict__["create"], wrapt.FunctionWrapper)


def types_function() -> type:
    return type(lambda: None)


def test_instrumenting_twice_records_each_call_once(clean: Any, stub: Any, read_run: Any) -> None:
    from waxell_observe_openai import instrument

    init(instrument=["openai"])
    assert instrument() is False  # already on
    plugin_manager().hook.on_instrument(config=get_config(), libraries=frozenset({"openai"}))
    wrapper = Completions.__dict__["create"]
    assert not isinstance(wrapper.__wrapped__, wrapt.FunctionWrapper)  # wrapped exactly once
    stub.reply_json(p.completion("gpt-4o-mini", "one", usage_=p.usage(3, 1)))
    with WaxellContext(agent_name="once") as ctx:
        make_client(stub).chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert len(read_run(ctx.run_id)["llm_calls"]) == 1


def test_uninstrument_restores_the_original_methods(clean: Any, stub: Any, read_run: Any) -> None:
    original = Completions.__dict__["create"]
    init(instrument=["openai"])
    assert Completions.__dict__["create"] is not original
    assert plugin_manager().hook.on_uninstrument(libraries=frozenset({"openai"})) == [["openai"]]
    assert Completions.__dict__["create"] is original
    stub.reply_json(p.completion("gpt-4o-mini", "quiet", usage_=p.usage(3, 1)))
    with WaxellContext(agent_name="off") as ctx:
        answer = make_client(stub).chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert answer.choices[0].message.content == "quiet"
    assert read_run(ctx.run_id)["llm_calls"] == []
    # and it can be turned on again
    _reset_for_tests()
    init(instrument=["openai"])
    assert isinstance(Completions.__dict__["create"], wrapt.FunctionWrapper)


def test_uninstrument_under_a_foreign_wrapper_passes_through(
    clean: Any, stub: Any, read_run: Any, caplog: pytest.LogCaptureFixture
) -> None:
    original = Completions.__dict__["create"]
    init(instrument=["openai"])
    seen: list[str] = []

    def foreign(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        seen.append(kwargs["model"])
        return wrapped(*args, **kwargs)

    ours = Completions.__dict__["create"]
    Completions.create = wrapt.FunctionWrapper(ours, foreign)
    try:
        plugin_manager().hook.on_uninstrument(libraries=frozenset({"openai"}))
        assert "wrapped again by someone else" in caplog.text
        stub.reply_json(p.completion("gpt-4o-mini", "x", usage_=p.usage(3, 1)))
        with WaxellContext(agent_name="foreign") as ctx:
            make_client(stub).chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
        assert seen == ["gpt-4o-mini"]
        assert read_run(ctx.run_id)["llm_calls"] == []
    finally:
        Completions.create = original


def test_disabled_mode_patches_nothing(clean: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from waxell_observe_openai import is_instrumented

    from waxell_observe.config import set_config

    monkeypatch.setenv("WAXELL_OBSERVE", "false")
    set_config(None)
    init(instrument=["openai"])
    assert not is_instrumented()
    assert isinstance(Completions.__dict__["create"], types_function())


def test_sdk_imported_after_init_is_instrumented_and_imports_stay_lazy(
    stub: Any, read_run: Any, waxell_db: Path
) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from waxell_observe.initialization import init
        from waxell_observe import WaxellContext, flush_sync
        init(instrument=["openai"])
        lazy = "openai" not in sys.modules
        import openai
        client = openai.OpenAI(base_url={stub.base_url + "/v1"!r}, api_key="k", max_retries=0)
        with WaxellContext(agent_name="late-import") as ctx:
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{{"role": "user", "content": "late"}}]
            )
        flush_sync(timeout=30)
        print(json.dumps({{"lazy": lazy, "run_id": ctx.run_id}}))
        """
    )
    stub.reply_json(p.completion("gpt-4o-mini-2024-07-18", "late answer", usage_=p.usage(6, 2)))
    env = dict(os.environ, WAXELL_DB=str(waxell_db))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=90)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["lazy"] is True
    calls = read_run(result["run_id"])["llm_calls"]
    assert [(c["model"], c["tokens_in"], c["tokens_out"], c["response_preview"]) for c in calls] == [
        ("gpt-4o-mini-2024-07-18", 6, 2, "late answer")
    ]


def test_stable_import_path_and_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import waxell_observe_openai

    from waxell_observe.integrations import openai as shim

    assert shim.instrument is waxell_observe_openai.instrument
    monkeypatch.setitem(sys.modules, "waxell_observe_openai", None)  # as if not installed
    fresh = importlib.reload(shim)
    with pytest.raises(ImportError, match="pip install waxell-observe-openai"):
        fresh.is_instrumented  # noqa: B018
    monkeypatch.undo()
    importlib.reload(shim)
