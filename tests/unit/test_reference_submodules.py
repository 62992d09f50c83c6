"""The package attributes of the reference SDK's §1.10 (issue 14): submodules are modules, while
``tool``/``decision``/``retrieval``/``step``/``retry`` stay the functions; ``waxell_observe.cost``."""

from __future__ import annotations

import importlib
import logging
import types

import pytest

import waxell_observe
from waxell_observe import cost, decorators


def test_submodules_are_modules_and_the_behaviour_names_are_functions() -> None:
    for name in (
        "client",
        "config",
        "cost",
        "decorator",
        "errors",
        "instrumentors",
        "reasoning",
        "tracing",
        "types",
        "utils",
    ):
        assert isinstance(getattr(waxell_observe, name), types.ModuleType), name
        assert importlib.import_module(f"waxell_observe.{name}") is getattr(waxell_observe, name)
    for name in ("tool", "decision", "retrieval", "step", "retry"):
        assert callable(getattr(waxell_observe, name)) and not isinstance(
            getattr(waxell_observe, name), types.ModuleType
        )
    assert waxell_observe.decorator.observe is waxell_observe.observe is decorators.observe
    assert waxell_observe.reasoning.reasoning_dec is waxell_observe.reasoning_dec


def test_estimate_cost_and_unknown_models(caplog: pytest.LogCaptureFixture) -> None:
    assert cost.estimate_cost("gpt-4o", 1000, 100) == 0.0035
    assert cost.estimate_cost("gpt-4o", 1000, 100, provider="openai") == 0.0035
    assert cost.estimate_embedding_cost("gpt-4o", 1000) == cost.estimate_cost("gpt-4o", 1000, 0)
    with caplog.at_level(logging.WARNING, logger="waxell_observe"):
        assert cost.estimate_cost("model-nobody-prices", 10, 10) == 0.0
        assert cost.estimate_cost("model-nobody-prices", 10, 10) == 0.0
    assert sum("model-nobody-prices" in r.getMessage() for r in caplog.records) == 1  # one warning per model


def test_import_waxell_has_the_public_attributes_outside_all_too() -> None:
    import waxell

    for name in ("phase", "communication", "get_current_context", "flush_sync", "session", "redact"):
        assert getattr(waxell, name) is getattr(waxell_observe, name)
    assert waxell.types is waxell_observe.types and waxell.reasoning is waxell_observe.reasoning
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        waxell.nope  # noqa: B018
