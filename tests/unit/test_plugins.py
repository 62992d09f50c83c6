"""Plugins: hook documentation, entry points, disabling, failure isolation, policy answers."""

from __future__ import annotations

import inspect
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import waxell_observe
from waxell_observe import PolicyCheckResult, PolicyViolationError, WaxellContext, hookimpl, hookspecs
from waxell_observe.governance.results import PolicyEvaluation
from waxell_observe.plugins import plugin_errors, plugin_manager


def test_every_hook_is_documented() -> None:
    names = [n for n, v in vars(hookspecs).items() if n.startswith("on_") and callable(v)]
    assert set(names) == set(hookspecs.HOOK_NAMES)
    assert {"on_run_start", "on_llm_call", "on_step", "on_span", "on_score", "on_run_end", "on_policy_check",
            "on_instrument"} <= set(names)  # fmt: skip
    for name in names:
        doc = inspect.getdoc(getattr(hookspecs, name))
        assert doc and len(doc) > 40, f"hook {name} has no real docstring"
    for name in names:
        assert name in plugin_manager().hook.__dict__, f"hook {name} is not registered as a spec"


def test_hookimpl_is_exported_at_the_root() -> None:
    assert waxell_observe.hookimpl is hookimpl
    assert "hookimpl" in waxell_observe.__all__


class Recorder:
    """A sink that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    @hookimpl
    def on_run_start(self, run: Any) -> None:
        self.events.append(("start", run.agent_name))

    @hookimpl
    def on_llm_call(self, run: Any, call: Any) -> None:
        self.events.append(("llm", call.model))

    @hookimpl
    def on_step(self, run: Any, step: Any) -> None:
        self.events.append(("step", step.name))

    @hookimpl
    def on_span(self, run: Any, span: Any) -> None:
        self.events.append(("span", span.kind))

    @hookimpl
    def on_score(self, run: Any, score: Any) -> None:
        self.events.append(("score", score.name))

    @hookimpl
    def on_run_end(self, run: Any) -> None:
        self.events.append(("end", run.status))


def test_plugins_registered_at_run_time_see_every_record(register_plugin: Any) -> None:
    recorder = register_plugin(Recorder())
    with WaxellContext(agent_name="a", enforce_policy=False) as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1)
        ctx.record_step("s")
        ctx.record_tool_call("t")
        ctx.record_score("q", 1.0)
    assert recorder.events == [
        ("start", "a"),
        ("llm", "gpt-4o"),
        ("step", "s"),
        ("span", "tool"),
        ("score", "q"),
        ("end", "success"),
    ]


class Exploding:
    @hookimpl
    def on_run_start(self, run: Any) -> None:
        raise RuntimeError("plugin bug on start")

    @hookimpl
    def on_llm_call(self, run: Any, call: Any) -> None:
        raise RuntimeError("plugin bug on llm")

    @hookimpl
    def on_run_end(self, run: Any) -> None:
        raise RuntimeError("plugin bug on end")

    @hookimpl
    def on_policy_check(self, run: Any, phase: str, surface: str) -> Any:
        raise RuntimeError("plugin bug on policy")


def test_a_failing_plugin_is_isolated_and_logged(
    register_plugin: Any, read_run: Any, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = register_plugin(Recorder(), name="recorder")
    register_plugin(Exploding(), name="exploding")
    with caplog.at_level(logging.ERROR, logger="waxell_observe"), WaxellContext(agent_name="a") as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=3, tokens_out=4)
        ctx.set_result({"ok": True})
    assert ("end", "success") in recorder.events
    run = read_run(ctx.run_id)
    assert (run["status"], run["total_tokens"], run["result"]) == ("success", 7, {"ok": True})
    assert plugin_errors[("exploding", "on_run_start")] >= 1
    assert "plugin 'exploding' failed in on_run_start" in caplog.text


def test_entry_point_plugin_loads_and_writes(tmp_path: Path) -> None:
    """The example third-party plugin, installed in the workspace, loads through its entry point."""
    out = tmp_path / "events.jsonl"
    script = (
        "import waxell_observe\n"
        "from waxell_observe.plugins import plugin_manager\n"
        "assert plugin_manager().get_plugin('jsonl') is not None\n"
        "with waxell_observe.WaxellContext(agent_name='ep', enforce_policy=False) as ctx:\n"
        "    ctx.record_step('s', output={'n': 1})\n"
        "waxell_observe.shutdown()\n"
    )
    env = {**_clean_env(tmp_path), "WAXELL_JSONL_PATH": str(out)}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=60)
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["event"] for e in events] == ["run_start", "step", "run_end"]
    assert events[1]["name"] == "s" and events[1]["output"] == {"n": 1}
    assert events[2]["status"] == "success"


def _clean_env(tmp_path: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    env["WAXELL_DB"] = str(tmp_path / "sub.db")
    env["WAXELL_JOURNAL_DIR"] = str(tmp_path / "journal")
    env["WAXELL_CONFIG_FILE"] = str(tmp_path / "none")
    return env


@pytest.mark.parametrize(("disabled", "expected_loaded"), [("jsonl", False), ("all", False), ("other", True)])
def test_disable_plugins_by_name(tmp_path: Path, disabled: str, expected_loaded: bool) -> None:
    script = (
        "from waxell_observe.plugins import plugin_manager\n"
        "pm = plugin_manager()\n"
        "print(pm.get_plugin('jsonl') is not None, pm.get_plugin('pipeline') is not None,\n"
        "      all(pm.get_plugin(name) is not None for name in ('collector', 'governance', 'remote')))\n"
    )
    env = {**_clean_env(tmp_path), "WAXELL_DISABLE_PLUGINS": disabled}
    out = subprocess.run([sys.executable, "-c", script], check=True, env=env, capture_output=True, text=True)
    jsonl_loaded, pipeline_loaded, builtins_loaded = out.stdout.split()
    assert jsonl_loaded == str(expected_loaded)
    assert pipeline_loaded == "True"  # built in: even "all" cannot turn off the store's pipeline
    assert builtins_loaded == "True"  # built in (registered by import): "all" names entry points only


def test_a_built_in_plugin_named_is_blocked_but_never_the_pipeline(tmp_path: Path) -> None:
    script = (
        "from waxell_observe.plugins import plugin_manager\n"
        "pm = plugin_manager()\n"
        "print(pm.get_plugin('collector') is None, pm.get_plugin('pipeline') is not None)\n"
    )
    env = {**_clean_env(tmp_path), "WAXELL_DISABLE_PLUGINS": "collector,pipeline"}
    out = subprocess.run([sys.executable, "-c", script], check=True, env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["True", "True"]


class Decider:
    def __init__(self, result: PolicyCheckResult | None) -> None:
        self.result = result
        self.calls: list[tuple[str, str, str]] = []

    @hookimpl
    def on_policy_check(self, run: Any, phase: str, surface: str) -> PolicyCheckResult | None:
        self.calls.append((run.agent_name, phase, surface))
        return self.result


def _block(reason: str = "Daily budget exhausted") -> PolicyCheckResult:
    return PolicyCheckResult(
        "block",
        reason,
        {"limit": 100},
        [PolicyEvaluation("daily-budget", "budget", "block", reason, 0.2, {})],
    )


def test_block_raises_before_the_body_and_creates_no_run(register_plugin: Any, read_runs: Any) -> None:
    decider = register_plugin(Decider(_block()))
    body_ran = False
    with (
        pytest.raises(PolicyViolationError) as raised,
        WaxellContext(agent_name="my-agent", enforce_policy=True),
    ):
        body_ran = True
    assert body_ran is False
    assert str(raised.value) == "Policy block: Daily budget exhausted"
    result = raised.value.policy_result
    assert (result.action, result.reason, result.blocked, result.allowed) == (
        "block",
        "Daily budget exhausted",
        True,
        False,
    )
    assert result.metadata == {
        "limit": 100,
        "evaluations": [
            {
                "policy_name": "daily-budget",
                "category": "budget",
                "action": "block",
                "reason": "Daily budget exhausted",
                "duration_ms": 0.2,
                "metadata": {},
                "phase": "",
            }
        ],
    }
    assert [e.policy_name for e in result.evaluations] == ["daily-budget"]
    assert decider.calls == [("my-agent", "pre_execution", "run.start")]
    assert read_runs() == []


async def test_throttle_raises_in_async_contexts_too(register_plugin: Any, read_runs: Any) -> None:
    register_plugin(Decider(PolicyCheckResult("throttle", "Too many runs")))
    with pytest.raises(PolicyViolationError) as raised:
        async with WaxellContext(agent_name="a"):
            pass
    assert raised.value.policy_result.action == "throttle"
    assert read_runs() == []


def test_enforce_policy_false_skips_the_check(register_plugin: Any) -> None:
    decider = register_plugin(Decider(_block()))
    with WaxellContext(agent_name="a", enforce_policy=False) as ctx:
        pass
    assert ctx.run_id and decider.calls == []


def test_strictest_answer_wins(register_plugin: Any) -> None:
    register_plugin(Decider(PolicyCheckResult("allow")), name="lenient")
    register_plugin(Decider(_block("No")), name="strict")
    register_plugin(Decider(None), name="silent")
    register_plugin(Decider(PolicyCheckResult("warn", "careful")), name="warner")
    with pytest.raises(PolicyViolationError) as raised, WaxellContext(agent_name="a"):
        pass
    assert raised.value.policy_result.action == "block"


def test_warn_proceeds_and_is_recorded_as_a_policy_span(register_plugin: Any, read_run: Any) -> None:
    warn = PolicyCheckResult(
        "warn",
        "Approaching budget",
        {},
        [PolicyEvaluation("budget-80", "budget", "warn", "Approaching budget", 0.1)],
    )
    register_plugin(Decider(warn))
    with WaxellContext(agent_name="a") as ctx:
        ctx.set_result({"done": True})
    run = read_run(ctx.run_id)
    policies = [(s["name"], s["attributes"]["action"], s["attributes"]["phase"]) for s in run["spans"]]
    assert policies == [("budget-80", "warn", "pre_execution"), ("budget-80", "warn", "post_execution")]
    assert run["governance"]["action"] == "warn"
    assert ctx.governance is not None and ctx.governance.action == "warn"


def test_redact_replaces_the_inputs(register_plugin: Any, read_run: Any) -> None:
    redact = PolicyCheckResult("redact", "PII found", {"redacted_inputs": {"text": "my ssn is ##SSN##"}})
    register_plugin(Decider(redact))
    with WaxellContext(agent_name="a", inputs={"text": "my ssn is 123-45-6789"}) as ctx:
        pass
    assert read_run(ctx.run_id)["inputs"] == {"text": "my ssn is ##SSN##"}


def test_check_policy_returns_the_answer_and_never_raises(register_plugin: Any, read_run: Any) -> None:
    decider = register_plugin(Decider(PolicyCheckResult("allow")))
    with WaxellContext(agent_name="a", enforce_policy=False) as ctx:
        assert ctx.check_policy_sync().action == "allow"
        decider.result = _block("Stop now")
        policy = ctx.check_policy_sync()
        assert (policy.blocked, policy.reason) == (True, "Stop now")
        ctx.set_result({"error": policy.reason})
    assert decider.calls == [("a", "mid_execution", "step.mid"), ("a", "mid_execution", "step.mid")]
    run = read_run(ctx.run_id)
    assert run["status"] == "success"
    assert [(s["name"], s["attributes"]["phase"]) for s in run["spans"]] == [
        ("daily-budget", "mid_execution")
    ]


async def test_async_check_policy(register_plugin: Any) -> None:
    register_plugin(Decider(PolicyCheckResult("warn", "w")))
    async with WaxellContext(agent_name="a", enforce_policy=False) as ctx:
        policy = await ctx.check_policy()
    assert (policy.action, policy.allowed, policy.blocked) == ("warn", True, False)


def test_mid_execution_governance_raises_after_the_step_is_recorded(
    register_plugin: Any, read_run: Any
) -> None:
    decider = register_plugin(Decider(PolicyCheckResult("allow")))
    with (
        pytest.raises(PolicyViolationError),
        WaxellContext(agent_name="a", enforce_policy=False, mid_execution_governance=True) as ctx,
    ):
        ctx.record_step("one")
        decider.result = _block("Too many steps")
        ctx.record_step("two")
        ctx.record_step("never")
    run = read_run(ctx.run_id)
    assert run["status"] == "blocked"
    assert [s["name"] for s in run["steps"]] == ["one", "two"]
    assert run["error"] == "Policy block: Too many steps"


def test_policy_plugin_failure_fails_open(register_plugin: Any, read_run: Any) -> None:
    register_plugin(Exploding(), name="exploding")
    with WaxellContext(agent_name="a") as ctx:
        pass
    assert read_run(ctx.run_id)["status"] == "success"


def test_a_module_plugin_is_read_as_pluggy_reads_it() -> None:
    """The plugin manager reads a plain module's hook implementations from its ``__dict__``
    (``init()`` registers nine of them); every answer is the one pluggy's own reading gives."""
    import functools
    import os
    import types

    import pluggy

    from waxell_observe.plugins import DEFAULT_PLUGINS, _IsolatingPluginManager

    class Holder:
        @hookimpl
        def on_step(self, run: Any, step: Any) -> None: ...

    def helper() -> None: ...

    odd = helper.__get__  # a method-wrapper: not a function
    mislabelled = types.FunctionType(helper.__code__, {}, "mislabelled")
    mislabelled.waxell_observe_impl = "not options"  # type: ignore[attr-defined]
    module = types.ModuleType("crafted_plugin")
    module.__dict__.update(
        on_run_start=hookimpl(lambda run: None),
        on_run_end=hookimpl(tryfirst=True)(lambda run: None),
        helper=helper,
        mislabelled=mislabelled,
        static=staticmethod(hookimpl(lambda run: None)),
        klass=classmethod(hookimpl(lambda cls, run: None)),
        bound=Holder().on_step,
        builtin=os.getpid,
        partial=functools.partial(helper),
        odd=odd,
        Holder=Holder,
        constant=3,
        os=os,
        __repr__=hookimpl(lambda: ""),  # the name of an attribute of ModuleType: pluggy decides
    )
    modules = [module, *(__import__(name, fromlist=["_"]) for _, name in DEFAULT_PLUGINS)]
    ours, pluggys = _IsolatingPluginManager("waxell_observe"), pluggy.PluginManager("waxell_observe")
    for plugin in modules:
        for name in dir(plugin):
            assert ours.parse_hookimpl_opts(plugin, name) == pluggys.parse_hookimpl_opts(plugin, name), name
    assert ours.parse_hookimpl_opts(module, "on_run_end") == {
        "wrapper": False, "hookwrapper": False, "optionalhook": False, "tryfirst": True, "trylast": False,
        "specname": None,
    }  # fmt: skip
    found = {name for name in dir(module) if ours.parse_hookimpl_opts(module, name) is not None}
    assert found == {"on_run_start", "on_run_end", "static", "klass", "bound", "__repr__"}
