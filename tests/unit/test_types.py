"""The public types and errors (reference §1.9, §6.3): one class per name whatever the import path,
the reference's fields and defaults, prompt compilation, error hierarchy and messages."""

from __future__ import annotations

from pathlib import Path

import pytest

import waxell_observe
from waxell_observe import errors, types
from waxell_observe.prompt_guard import scan_request


def test_types_is_a_real_module_sharing_the_classes() -> None:
    for name in types.__all__:
        cls = getattr(types, name)
        assert getattr(waxell_observe, name, cls) is cls, name
    assert types.PolicyCheckResult is waxell_observe.PolicyCheckResult
    assert isinstance(
        scan_request([{"role": "user", "content": "ssn 123-45-6789"}]), waxell_observe.PromptGuardResult
    )


def test_reference_fields_and_defaults() -> None:
    assert types.RunInfo("r", "w", "t").started_at == "t"
    assert types.DailyRunInfo("r", "w", "t", "2026-12-07", False).created is False
    done = types.RunCompleteResult("r")
    assert (done.duration, done.governance_action, done.retry_feedback, done.max_retries) == (
        None,
        "allow",
        "",
        0,
    )
    assert not done.should_retry and types.RunCompleteResult("r", governance_action="retry").should_retry
    call = types.LlmCallInfo("gpt-4o", 1, 2)
    assert (call.cost, call.task, call.prompt_preview, call.response_preview) == (0.0, "", "", "")
    guard = types.PromptGuardResult(passed=True)
    assert (guard.action, guard.violations, guard.source, guard.redacted_messages) == (
        "allow",
        [],
        "local",
        None,
    )
    decision = types.ApprovalDecision(approved=True)
    assert (decision.approver, decision.timed_out, decision.elapsed_seconds) == ("", False, None)
    policy = types.PolicyCheckResult("redact", redacted_inputs={"q": "x"})
    assert (policy.allowed, policy.blocked, policy.should_redact, policy.should_retry) == (
        True,
        False,
        True,
        False,
    )
    assert types.PolicyCheckResult("retry").should_retry and types.PolicyCheckResult("throttle").blocked
    assert types.PolicyCheckResult().redacted_inputs is None


def test_prompt_compile_text_chat_and_other() -> None:
    text = types.PromptInfo("p", 1, "text", "Hi {{name}}, {{ name }} {{name}}", content_hash="h")
    compiled = text.compile(name="Ada")
    assert compiled == "Hi Ada, {{ name }} Ada" and isinstance(compiled, (str, types.CompiledPromptText))
    assert compiled._waxell_template_hash == "h"
    messages = [
        {"role": "user", "content": "About {{topic}}"},
        {"role": "tool", "content": [{"x": "{{topic}}"}]},
    ]
    chat = types.PromptInfo("c", 2, "chat", messages, content_hash="hc")
    out = chat.compile(topic="refunds")
    assert isinstance(out, types.CompiledPromptList) and out._waxell_template_hash == "hc"
    assert out == [
        {"role": "user", "content": "About refunds"},
        {"role": "tool", "content": [{"x": "{{topic}}"}]},
    ]
    assert messages[0]["content"] == "About {{topic}}"  # copies, not the prompt's own messages
    odd = types.PromptInfo("o", 1, "text", 42)
    assert odd.compile(a="b") == 42
    with pytest.raises(TypeError):
        text.compile(name=3)  # type: ignore[arg-type]
    assert types.CompiledPromptText("x", "h2")._waxell_template_hash == "h2"
    assert (types.PromptInfo("n", 1, "text", "").config, types.PromptInfo("n", 1, "text", "").labels) == (
        {},
        [],
    )


def test_error_hierarchy_and_messages() -> None:
    for cls in (errors.PolicyViolationError, errors.ConfigurationError, errors.PromptNotFoundError):
        assert issubclass(cls, waxell_observe.ObserveError)
    assert errors.WaxellObserveError is errors.ObserveError
    assert not issubclass(errors.PromptGuardError, errors.ObserveError) and issubclass(
        errors.PromptGuardError, Exception
    )
    assert errors.PolicyViolationError("no").policy_result is None
    assert str(errors.PromptNotFoundError("p")) == "Prompt 'p' / any version not found"
    assert str(errors.PromptNotFoundError("p", label="prod")) == "Prompt 'p' / label 'prod' not found"
    missing = errors.PromptNotFoundError("p", "prod", 3, 404, "gone")
    assert str(missing) == "Prompt 'p' / version 3 not found: gone"
    assert (missing.name, missing.label, missing.version, missing.status_code, missing.detail) == (
        "p", "prod", 3, 404, "gone"
    )  # fmt: skip
    result = types.PromptGuardResult(passed=False, action="block", violations=[f"v{i}" for i in range(7)])
    guard = errors.PromptGuardError(result)
    assert guard.result is result and str(guard) == "Prompt blocked by guard: v0; v1; v2; v3; v4 (+2 more)"
    assert (
        str(errors.PromptGuardError(types.PromptGuardResult(False, "block", ["a"])))
        == "Prompt blocked by guard: a"
    )


def test_human_turn_records_one_interaction_on_exit() -> None:
    class Ctx:
        def __init__(self) -> None:
            self.recorded: list[dict[str, object]] = []

        def record_human_interaction(self, **fields: object) -> None:
            self.recorded.append(fields)

    ctx = Ctx()
    with waxell_observe.HumanTurn(ctx, "Approve?", "slack", "approval", {"op": "refund"}) as turn:
        turn.set_response("yes")
    with pytest.raises(KeyError), waxell_observe.HumanTurn(ctx, "Again?", "terminal", "", None):
        raise KeyError("not suppressed")
    first, second = ctx.recorded
    assert {k: first[k] for k in ("prompt", "response", "channel", "action", "metadata")} == {
        "prompt": "Approve?", "response": "yes", "channel": "slack", "action": "approval",
        "metadata": {"op": "refund"},
    }  # fmt: skip
    assert isinstance(first["elapsed_ms"], int) and second["response"] == ""


def test_observe_config_reference_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "WAXELL_API_URL",
        "WAXELL_API_KEY",
        "WAXELL_AGENT_SLUG",
        "WAXELL_AGENT_EXTERNAL_ID",
        "WAX_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WAX_API_URL", "https://wax.example")
    monkeypatch.setenv("WAX_API_KEY", "wax_sk_1")
    monkeypatch.setenv("VERTEX_AI_REASONING_ENGINE_ID", "engine-7")
    monkeypatch.setenv("WAXELL_AGENT_SLUG", "support")
    from_env = waxell_observe.ObserveConfig.from_env()
    assert (from_env.api_url, from_env.api_key, from_env.agent_slug, from_env.agent_external_id) == (
        "https://wax.example", "wax_sk_1", "support", "engine-7"
    )  # fmt: skip
    assert from_env.is_configured and not waxell_observe.ObserveConfig(api_url="http://x").is_configured
    ini = tmp_path / "config"
    ini.write_text(
        "[wax]\nprofile = staging\n[default]\napi_url = http://default\n"
        "[staging]\napi_url = http://staging\napi_key = k\nagent_slug = s\n"
    )
    Config = waxell_observe.ObserveConfig
    assert (Config.from_cli_config(ini).api_url, Config.from_cli_config(ini).agent_slug) == (
        "http://staging",
        "s",
    )
    assert Config.from_cli_config(ini, profile="default").api_url == "http://default"
    monkeypatch.setenv("WAX_PROFILE", "default")
    assert Config.from_cli_config(ini).api_url == "http://default"
    assert Config.from_cli_config(tmp_path / "missing") == Config()
    assert Config.from_cli_config(ini, profile="nope") == Config()


def test_docs_client_page_names_every_public_member() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "client.md").read_text(encoding="utf-8")
    names = [n for n in dir(waxell_observe.WaxellObserveClient) if not n.startswith("_")]
    names += [n for n in types.__all__ + errors.__all__]
    missing = [n for n in names if f"`{n}" not in page and f"{n}(" not in page and f".{n}" not in page]
    assert missing == []
