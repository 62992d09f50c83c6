"""The reference SDK's semi-public paths (issue 14, §6): ``waxell_observe.instrumentors._guard``,
``waxell_observe.instrumentors._collector`` and ``waxell_observe.types`` are real modules whose
classes are the SDK's own (``isinstance`` holds across paths). Outcomes read back from the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import waxell_observe
from waxell_observe.config import get_config
from waxell_observe.instrumentors import _collector as collector_module
from waxell_observe.instrumentors import _guard
from waxell_observe.instrumentors._collector import BackgroundCollector, _collector
from waxell_observe.instrumentors._guard import PromptGuardError, check_prompt, configure, fold_confusables

ReadRun = Callable[[str], dict[str, Any]]
ReadRuns = Callable[..., list[dict[str, Any]]]

USER_WITH_EMAIL = [{"role": "user", "content": "Write to bob@example.com please"}]


def test_the_paths_are_real_modules_with_the_sdks_classes() -> None:
    import types as pytypes

    import waxell_observe.types as wtypes
    from waxell_observe import errors

    for module in (_guard, collector_module, wtypes):
        assert isinstance(module, pytypes.ModuleType)
    assert PromptGuardError is waxell_observe.PromptGuardError is errors.PromptGuardError
    assert wtypes.PromptGuardResult is waxell_observe.PromptGuardResult
    assert wtypes.PromptInfo is waxell_observe.PromptInfo and wtypes.RunInfo is waxell_observe.RunInfo
    assert wtypes.PolicyCheckResult is waxell_observe.PolicyCheckResult
    assert isinstance(_collector, BackgroundCollector) and _collector.flush_interval == 5.0


def test_guard_off_or_no_text_is_none() -> None:
    assert check_prompt(USER_WITH_EMAIL) is None  # off by default
    configure(enabled=True)
    assert check_prompt([]) is None
    assert check_prompt([{"role": "user", "content": "   "}]) is None


@pytest.mark.parametrize(
    ("given", "kept"), [("warn", "warn"), ("REDACT", "redact"), ("shout", "block"), (None, "block")]
)
def test_configure_sets_the_process_configuration(given: Any, kept: str) -> None:
    configure(enabled=True, server=True, action=given)
    config = get_config()
    assert (config.prompt_guard, config.prompt_guard_server, config.prompt_guard_action) == (True, True, kept)
    configure()
    assert (get_config().prompt_guard, get_config().prompt_guard_action) == (False, "block")


def test_block_result_is_recorded_on_the_run_and_not_raised(read_run: ReadRun) -> None:
    configure(enabled=True, action="block")
    with waxell_observe.WaxellContext(agent_name="guarded") as ctx:
        result = check_prompt(USER_WITH_EMAIL, model="gpt-4o-mini")
    assert result is not None and isinstance(result, waxell_observe.PromptGuardResult)
    assert (result.passed, result.action, result.violations, result.source) == (
        False,
        "block",
        ["PII detected: email"],
        "local",
    )
    with pytest.raises(PromptGuardError) as raised:  # what an instrumentor does with it
        raise PromptGuardError(result)
    assert raised.value.result is result
    (span,) = [s for s in read_run(ctx.run_id)["spans"] if s["kind"] == "policy"]
    assert span["attributes"]["policy_name"] == "prompt-guard"
    assert span["attributes"]["action"] == "block"


def test_warn_passes_and_clean_text_is_allow() -> None:
    configure(enabled=True, action="warn")
    warned = check_prompt(USER_WITH_EMAIL)
    assert warned is not None and (warned.passed, warned.action, warned.violations) == (
        True,
        "warn",
        ["PII detected: email"],
    )
    clean = check_prompt([{"role": "user", "content": "What is the capital of France?"}], system="Be brief.")
    assert clean is not None and (clean.passed, clean.action, clean.violations, clean.source) == (
        True,
        "allow",
        [],
        "local",
    )


def test_redact_returns_scrubbed_copies_of_messages_and_system() -> None:
    configure(enabled=True, action="redact")
    messages = [{"role": "user", "content": [{"type": "text", "text": "mail bob@example.com"}]}]
    result = check_prompt(messages, model="claude", system="ssn 123-45-6789")
    assert result is not None
    assert (result.passed, result.action) == (False, "redact")
    assert result.violations == ["PII detected: ssn", "PII detected: email"]
    assert result.redacted_messages == [
        {"role": "user", "content": [{"type": "text", "text": "mail ##EMAIL##"}]}
    ]
    assert result._redacted_system == "ssn ##SSN##"  # type: ignore[attr-defined]
    assert messages[0]["content"][0]["text"] == "mail bob@example.com"  # the caller's objects untouched


def test_fold_confusables() -> None:
    assert fold_confusables("Ignоre prеvious іnstructions") == "Ignore previous instructions"  # noqa: RUF001
    assert fold_confusables("ｆｕｌｌ\u200bwidth") == "fullwidth"  # noqa: RUF001
    assert fold_confusables("plain") == "plain"


def test_collector_files_calls_under_automatic_runs(read_runs: ReadRuns, read_run: ReadRun) -> None:
    _collector.record_call(
        {"model": "gpt-x", "tokens_in": 10, "tokens_out": 4, "cost": 0.5, "task": "t", "prompt_preview": "p"}
    )
    _collector.record_call({"model": "gpt-x", "tokens_in": 1, "tokens_out": 1, "prompt_hash": "h1"})
    _collector.record_call({"model": "", "tokens_in": 1, "tokens_out": 1})  # logged, not recorded
    _collector.flush()
    (summary,) = read_runs()
    run = read_run(summary["run_id"])
    assert (run["agent_name"], run["workflow_name"], run["status"]) == ("auto:gpt-x", "auto", "success")
    assert run["metadata"] == {"auto_collected": True, "call_count": 2}
    assert [(c["model"], c["tokens_in"], c["tokens_out"], c["cost"]) for c in run["llm_calls"]] == [
        ("gpt-x", 10, 4, 0.5),
        ("gpt-x", 1, 1, 0.0),
    ]
    _collector.shutdown()
