"""Where a policy check happens: the three phases, their aliases, and the gate surfaces."""

from __future__ import annotations

import pytest

from waxell_observe.governance import PolicyEngine, PolicyRequest
from waxell_observe.governance.loader import parse_policies
from waxell_observe.governance.request import normalize_checkpoint
from waxell_observe.vocabulary import GATE_SURFACES, PREVENTIVE_SURFACES, SURFACE_OF_PHASE


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pre", "pre_execution"),
        ("mid_execution", "mid_execution"),
        ("run.start", "pre_execution"),
        ("step.mid", "mid_execution"),
        ("run.complete", "post_execution"),
        ("tool.before", "tool.before"),
        ("code.exec", "code.exec"),
    ],
)
def test_phases_and_surfaces_normalize(name: str, expected: str) -> None:
    assert normalize_checkpoint(name) == expected


def test_unknown_checkpoint_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match=r"unknown phase or surface 'tool\.during'"):
        normalize_checkpoint("tool.during")


def test_surface_vocabulary_is_consistent() -> None:
    assert len(GATE_SURFACES) == 16 and len(set(GATE_SURFACES)) == 16
    assert set(GATE_SURFACES) >= PREVENTIVE_SURFACES
    assert set(SURFACE_OF_PHASE.values()) == {"run.start", "step.mid", "run.complete"}


def test_a_phase_surface_runs_the_phase_policies_and_other_surfaces_do_not() -> None:
    policies = parse_policies(
        [{"name": "models", "category": "llm", "rules": {"blocked_models": ["gpt-4o"]}}]
    )
    engine = PolicyEngine(policies)
    request = PolicyRequest(agent_name="a", llm_calls=(), surface="tool.before", signal={"tool_name": "x"})
    assert engine.evaluate(request, "tool.before").action == "allow"
    assert engine.evaluate(request, "tool.before").evaluations == []


def test_policy_request_reads_surface_and_signal_from_a_body() -> None:
    request = PolicyRequest.from_dict(
        {
            "agent_name": "a",
            "surface": "tool.before",
            "signal": {"tool_name": "search", "tool_args": {"q": 1}},
        }
    )
    assert request.surface == "tool.before"
    assert request.signal == {"tool_name": "search", "tool_args": {"q": 1}}
