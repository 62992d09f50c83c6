"""Zero-code capture after ``init()``: LangChain's configure hook, never recording twice."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from waxell_observe_langchain import auto

from waxell_observe import WaxellContext, integration_api
from waxell_observe.initialization import _reset_for_tests, init
from waxell_observe.integrations.langchain import WaxellLangChainHandler
from waxell_observe.plugins import plugin_manager

from .chains import ANSWER, chat_model, multiply, qa_chain

QUESTION = "What is the capital of France?"


def _counts(run: dict[str, Any]) -> tuple[int, int, int]:
    return run["llm_call_count"], run["step_count"], sum(1 for s in run["spans"] if s["kind"] == "chain")


def test_init_captures_chains_without_callbacks(auto_langchain: Any, read_run: Any) -> None:
    assert auto.is_instrumented()
    with WaxellContext(agent_name="auto-qa", enforce_policy=False) as ctx:
        assert qa_chain(chat_model()).invoke({"question": QUESTION}) == ANSWER
    run = read_run(ctx.run_id)
    assert _counts(run) == (1, 3, 3)
    [call] = run["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["cost"]) == (
        "gpt-4o-mini",
        12,
        5,
        4.8e-06,
    )
    sequence = next(s for s in run["spans"] if s["name"] == "RunnableSequence")
    assert call["parent_span_id"] == sequence["id"]


def test_an_explicit_handler_is_not_doubled_by_the_hook(auto_langchain: Any, read_run: Any) -> None:
    handler = WaxellLangChainHandler(agent_name="explicit")
    with WaxellContext(agent_name="both", enforce_policy=False) as ctx:
        qa_chain(chat_model()).invoke({"question": QUESTION}, config={"callbacks": [handler]})
        multiply.invoke({"a": 2, "b": 5}, config={"callbacks": [handler]})
    run = read_run(ctx.run_id)
    assert _counts(run) == (1, 3, 3)
    assert [s["name"] for s in run["spans"] if s["kind"] == "tool"] == ["multiply"]


def test_a_handler_local_to_the_model_is_not_doubled_either(auto_langchain: Any, read_run: Any) -> None:
    handler = WaxellLangChainHandler(agent_name="local")
    model = chat_model()
    model.callbacks = [handler]  # constructor-style (local, not inherited) callbacks
    with WaxellContext(agent_name="local-and-auto", enforce_policy=False) as ctx:
        qa_chain(model).invoke({"question": QUESTION})
    run = read_run(ctx.run_id)
    assert _counts(run) == (1, 3, 3)
    sequence = next(s for s in run["spans"] if s["name"] == "RunnableSequence")
    assert run["llm_calls"][0]["parent_span_id"] == sequence["id"]


def test_outside_a_run_model_calls_go_to_the_background_collector(
    auto_langchain: Any, read_runs: Any
) -> None:
    assert qa_chain(chat_model("one")).invoke({"question": QUESTION}) == "one"
    assert qa_chain(chat_model("two")).invoke({"question": QUESTION}) == "two"
    [run] = read_runs(agent_name="auto:gpt-4o-mini")
    assert (
        run["workflow_name"],
        run["llm_call_count"],
        run["tokens_in"],
        run["tokens_out"],
        run["step_count"],
    ) == ("auto", 2, 24, 10, 0)
    assert run["total_cost"] == 9.6e-06


def test_the_hook_works_in_threads_started_without_a_context(auto_langchain: Any, read_run: Any) -> None:
    run_ids: list[str] = []

    def work() -> None:
        with WaxellContext(agent_name="threaded", enforce_policy=False) as ctx:
            qa_chain(chat_model()).invoke({"question": QUESTION})
        run_ids.append(ctx.run_id)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert _counts(read_run(run_ids[0])) == (1, 3, 3)


def test_uninstrument_stops_capture(auto_langchain: Any, read_run: Any) -> None:
    assert plugin_manager().hook.on_uninstrument(libraries=frozenset({"langchain"})) == [["langchain"]]
    assert not auto.is_instrumented()
    with WaxellContext(agent_name="off-again", enforce_policy=False) as ctx:
        qa_chain(chat_model()).invoke({"question": QUESTION})
    assert _counts(read_run(ctx.run_id)) == (0, 0, 0)


def test_init_for_other_libraries_leaves_langchain_alone() -> None:
    auto.uninstrument()
    _reset_for_tests()
    try:
        init(instrument=["some-other-library"])
        assert not auto.is_instrumented()
    finally:
        _reset_for_tests()


def test_a_provider_report_during_the_model_call_is_not_recorded_twice(
    auto_langchain: Any, read_run: Any
) -> None:
    class ProviderBacked(GenericFakeChatModel):
        """Stands in for a chat model whose provider SDK is instrumented too."""

        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            integration_api.record_llm_call(model="gpt-4o-mini", tokens_in=12, tokens_out=5)
            return super()._generate(*args, **kwargs)

    from langchain_core.messages import AIMessage

    from .chains import usage

    model = ProviderBacked(
        messages=iter(
            [
                AIMessage(
                    content=ANSWER,
                    usage_metadata=usage(12, 5),
                    response_metadata={"model_name": "gpt-4o-mini"},
                )
            ]
        )
    )
    with WaxellContext(agent_name="dedup", enforce_policy=False) as ctx:
        qa_chain(model).invoke({"question": QUESTION})
        assert integration_api.framework_call_active() == ""
        integration_api.record_llm_call(
            model="gpt-4o", tokens_in=1, tokens_out=1
        )  # a direct call still counts
    run = read_run(ctx.run_id)
    assert [(c["model"], c["tokens_in"]) for c in run["llm_calls"]] == [("gpt-4o-mini", 12), ("gpt-4o", 1)]
    assert run["llm_calls"][0]["attributes"]["framework"] == "langchain"


def test_init_before_langchain_is_imported(tmp_path: Any, read_run: Any) -> None:
    script = textwrap.dedent(
        """
        import json, sys
        import waxell_observe
        from waxell_observe.initialization import init
        init(instrument=["langchain"])
        assert "langchain_core.language_models" not in sys.modules
        from langchain_core.language_models.fake_chat_models import FakeListChatModel
        from langchain_core.output_parsers import StrOutputParser
        with waxell_observe.WaxellContext(agent_name="late-import", enforce_policy=False) as ctx:
            (FakeListChatModel(responses=["late"]) | StrOutputParser()).invoke("hi")
        waxell_observe.flush_sync(timeout=30)
        print(json.dumps({"run_id": ctx.run_id}))
        """
    )
    env = {**os.environ, "WAXELL_DISABLE_PLUGINS": ""}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    run = read_run(json.loads(done.stdout.strip().splitlines()[-1])["run_id"])
    assert (run["llm_call_count"], run["step_count"]) == (1, 2)
    assert run["llm_calls"][0]["response_preview"] == "late"


def test_the_import_path_gives_an_install_hint_when_the_package_is_missing(monkeypatch: Any) -> None:
    shim = importlib.import_module("waxell_observe.integrations.langchain")
    monkeypatch.delattr(shim, "WaxellLangChainHandler", raising=False)
    monkeypatch.setitem(sys.modules, "waxell_observe_langchain", None)
    with pytest.raises(ImportError, match="pip install waxell-observe-langchain"):
        shim.WaxellLangChainHandler  # noqa: B018
    with pytest.raises(AttributeError):
        shim.NoSuchName  # noqa: B018
