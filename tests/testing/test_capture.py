"""capture_runs() outside pytest's fixture: what it captures and what it restores."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

import waxell_observe as waxell
from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.testing import capture_runs


def test_runs_inside_are_captured_and_stored_privately_and_everything_is_restored(
    read_runs: Callable[..., list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    with WaxellContext(agent_name="before", enforce_policy=False):
        pass  # started before the capture: not captured
    config = get_config()
    monkeypatch.setenv("WAXELL_API_URL", "http://127.0.0.1:9")  # seen by a configuration resolved now
    environment = dict(os.environ)
    with capture_runs() as runs:
        assert get_config().mode == "embedded"  # offline inside, though a control plane is configured
        with WaxellContext(agent_name="inside", enforce_policy=False) as ctx:
            ctx.record_llm_call(model="gpt-4o", tokens_in=1000, tokens_out=100)
            with WaxellContext(agent_name="child", enforce_policy=False):
                waxell.step("nested")
        store_url = runs.store_url
    assert [(run.agent_name, run.status) for run in runs] == [("inside", "success"), ("child", "success")]
    assert runs.one("child").parent_run_id == runs.one("inside").run_id
    assert runs.one("inside").total_cost == pytest.approx(0.0035)
    assert store_url.startswith("sqlite:///") and not os.path.exists(store_url[len("sqlite:///") :])
    assert dict(os.environ) == environment and get_config() is config
    assert [run["agent_name"] for run in read_runs()] == ["before"]  # the user's store has only its own


def test_a_failing_block_still_restores_the_configuration() -> None:
    config = get_config()
    with pytest.raises(RuntimeError, match="boom"), capture_runs():
        raise RuntimeError("boom")
    assert get_config() is config
