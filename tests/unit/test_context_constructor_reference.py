"""The reference SDK's constructor parameters of ``WaxellContext`` (spec §2.1): ``end_user_id``,
``agent_type``, ``auto_grounding`` and ``interaction_mode``, read back from the embedded store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import waxell_observe
from waxell_observe import WaxellContext, observe

ReadRun = Callable[[str], dict[str, Any]]


def test_end_user_id_goes_to_the_metadata_without_overriding_a_given_value(read_run: ReadRun) -> None:
    given = {"team": "a"}
    with WaxellContext("i14-tenant", end_user_id="cust-7", metadata=given, enforce_policy=False) as ctx:
        pass
    assert read_run(ctx.run_id)["metadata"] == {"team": "a", "tenant_sub_user_id": "cust-7"}
    assert given == {"team": "a"}  # the caller's dict is not changed
    with WaxellContext(
        "i14-tenant-kept", end_user_id="cust-8", metadata={"tenant_sub_user_id": "x"}, enforce_policy=False
    ) as kept:
        pass
    assert read_run(kept.run_id)["metadata"] == {"tenant_sub_user_id": "x"}
    with pytest.raises(ValueError, match="end_user_id must be a string, got int"):
        WaxellContext("bad", end_user_id=7)  # type: ignore[arg-type]


def test_interaction_mode_explicit_inherited_configured_or_derived(read_run: ReadRun) -> None:
    with (
        WaxellContext("i14-mode", interaction_mode="Interactive", enforce_policy=False) as explicit,
        WaxellContext("i14-mode-child", enforce_policy=False) as child,
    ):
        pass
    with WaxellContext("i14-mode-session", session_id="s-1", enforce_policy=False) as derived:
        pass
    with WaxellContext("i14-mode-auto", interaction_mode="auto", enforce_policy=False) as auto:
        pass
    assert explicit.interaction_mode == "interactive"
    assert [read_run(c.run_id)["interaction_mode"] for c in (explicit, child, derived, auto)] == [
        "interactive",
        "interactive",  # the parent's
        "interactive",  # auto: a session
        "autonomous",  # auto: no session
    ]
    with pytest.raises(ValueError, match=r"interaction_mode must be one of interactive, autonomous, auto"):
        WaxellContext("bad", interaction_mode="chatty")


def test_the_configured_interaction_mode_applies_when_the_context_names_none(read_run: ReadRun) -> None:
    waxell_observe.init(interaction_mode="interactive")
    with WaxellContext("i14-mode-configured", enforce_policy=False) as ctx:
        pass
    with WaxellContext(
        "i14-mode-overridden", interaction_mode="autonomous", session_id="s", enforce_policy=False
    ) as o:
        pass
    assert read_run(ctx.run_id)["interaction_mode"] == "interactive"
    assert read_run(o.run_id)["interaction_mode"] == "autonomous"


def test_agent_type_explicit_or_the_parents_user_group() -> None:
    with WaxellContext("i14-type", agent_type="planner", user_group="pro", enforce_policy=False) as parent:
        with WaxellContext("i14-type-child", enforce_policy=False) as child:
            pass
        with WaxellContext("i14-type-own", agent_type="tool", enforce_policy=False) as own:
            pass
    assert (parent.agent_type, child.agent_type, own.agent_type) == ("planner", "pro", "tool")


def test_auto_grounding_records_retrieval_scores_as_grounding(read_run: ReadRun) -> None:
    with WaxellContext("i14-grounding", auto_grounding=True, enforce_policy=False) as ctx:
        ctx.record_retrieval(query="q", documents=[{"id": 1}, {"id": 2}], source="kb", scores=[0.5, 0.75])
        ctx.record_retrieval(query="q2", documents=[{"id": 3}], source="kb")  # no scores: nothing more
    with WaxellContext("i14-no-grounding", enforce_policy=False) as off:
        off.record_retrieval(query="q", documents=[{"id": 1}], source="kb", scores=[0.5])
    run = read_run(ctx.run_id)
    assert [s["name"] for s in run["steps"]] == ["grounding_check"]
    assert {s["name"]: s["value"] for s in run["scores"]} == {"grounding_score": 0.625}
    assert run["conversation"]["grounding_data"] == [{"grounding_scores": [0.5, 0.75]}]
    quiet = read_run(off.run_id)
    assert (quiet["steps"], quiet["scores"]) == ([], [])


def test_observe_passes_auto_grounding_to_its_context(read_run: ReadRun) -> None:
    @observe(agent_name="i14-observe-grounding", auto_grounding=True, enforce_policy=False)
    def answer(waxell_ctx: Any = None) -> str:
        waxell_ctx.record_retrieval(query="q", documents=[{"id": 1}], source="kb", scores=[1.0])
        return waxell_ctx.run_id

    run = read_run(answer())
    assert {s["name"]: s["value"] for s in run["scores"]} == {"grounding_score": 1.0}
