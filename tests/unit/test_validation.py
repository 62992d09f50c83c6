"""Bad input gets a clear ValueError naming the problem; nothing already recorded is lost."""

from __future__ import annotations

from typing import Any

import pytest

from waxell_observe import WaxellContext


@pytest.mark.parametrize("key", ["has space", "dot.ted", "", "émoji", "a/b", 5])
def test_bad_tag_keys(key: Any) -> None:
    with WaxellContext(agent_name="a") as ctx, pytest.raises(ValueError, match="tag key .* is invalid"):
        ctx.set_tag(key, "v")


@pytest.mark.parametrize("value", [1, None, 2.5, ["x"], True])
def test_non_string_tag_values(value: Any) -> None:
    with WaxellContext(agent_name="a") as ctx, pytest.raises(ValueError, match="needs a string value"):
        ctx.set_tag("ok_key-1", value)


@pytest.mark.parametrize(
    ("value", "data_type", "message"),
    [
        (0.5, "percent", "data_type must be one of 'numeric', 'categorical', 'boolean'"),
        ("high", "numeric", "a numeric score needs a finite number"),
        (True, "numeric", "a numeric score needs a finite number"),
        (float("nan"), "numeric", "a numeric score needs a finite number"),
        (1, "boolean", "a boolean score needs True or False"),
        ("yes", "boolean", "a boolean score needs True or False"),
        (3, "categorical", "a categorical score needs a string"),
    ],
)
def test_bad_scores(value: Any, data_type: str, message: str) -> None:
    with WaxellContext(agent_name="a") as ctx, pytest.raises(ValueError, match=message):
        ctx.record_score("s", value, data_type=data_type)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tokens_in": -1, "tokens_out": 0}, "tokens_in must not be negative"),
        ({"tokens_in": 0, "tokens_out": -5}, "tokens_out must not be negative"),
        ({"tokens_in": 1.5, "tokens_out": 0}, "tokens_in must be an integer"),
        ({"tokens_in": 1, "tokens_out": 1, "cost": -0.1}, "cost must be a non-negative number"),
        ({"tokens_in": 1, "tokens_out": 1, "duration_ms": -3}, "duration_ms must not be negative"),
    ],
)
def test_bad_llm_calls(kwargs: dict[str, Any], message: str) -> None:
    with WaxellContext(agent_name="a") as ctx, pytest.raises(ValueError, match=message):
        ctx.record_llm_call(model="gpt-4o", **kwargs)


def test_llm_call_arguments_are_keyword_only() -> None:
    with WaxellContext(agent_name="a") as ctx, pytest.raises(TypeError):
        ctx.record_llm_call("gpt-4o", 1, 1)  # type: ignore[misc]


def test_other_misuse() -> None:
    with pytest.raises(ValueError, match="agent_name must be a non-empty string"):
        WaxellContext(agent_name="")
    with pytest.raises(ValueError, match="inputs must be a dict"):
        WaxellContext(agent_name="a", inputs=["x"])  # type: ignore[arg-type]
    with WaxellContext(agent_name="a") as ctx:
        with pytest.raises(ValueError, match="step_name must be a non-empty string"):
            ctx.record_step("")
        with pytest.raises(ValueError, match="status must be one of 'ok', 'error'"):
            ctx.record_tool_call("t", status="failed")
        with pytest.raises(ValueError, match="strategy must be one of"):
            ctx.record_retry(attempt=1, reason="r", strategy="again")
        with pytest.raises(ValueError, match="attempt must be an integer >= 1"):
            ctx.record_retry(attempt=0, reason="r")
        with pytest.raises(ValueError, match="confidence must be between 0 and 1"):
            ctx.record_decision("d", ["a"], "a", confidence=1.5)
        with pytest.raises(ValueError, match="phase must be one of"):
            ctx.record_policy_check("p", "warn", phase="later")


def test_misuse_does_not_lose_what_was_recorded(read_run: Any) -> None:
    with WaxellContext(agent_name="a") as ctx:
        ctx.record_step("kept")
        with pytest.raises(ValueError):
            ctx.set_tag("bad key", "v")
        ctx.set_tag("good", "v")
        ctx.record_llm_call(model="gpt-4o", tokens_in=2, tokens_out=3)
    run = read_run(ctx.run_id)
    assert (run["status"], run["tags"], run["total_tokens"]) == ("success", {"good": "v"}, 5)
    assert [s["name"] for s in run["steps"]] == ["kept"]


def test_recording_outside_a_run_is_ignored(read_runs: Any) -> None:
    ctx = WaxellContext(agent_name="a")
    assert ctx.record_step("early") is None
    with ctx:
        pass
    assert ctx.record_step("late") is None
    assert ctx.check_policy_sync().action == "allow"
    with pytest.raises(RuntimeError, match="entered only once"), ctx:
        pass
    assert [r["step_count"] for r in read_runs()] == [0]
