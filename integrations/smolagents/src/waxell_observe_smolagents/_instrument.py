"""What the smolagents integration patches, and its switch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]

_MODEL_CLASSES = (
    "OpenAIModel",
    "LiteLLMModel",
    "InferenceClientModel",
    "TransformersModel",
    "VLLMModel",
    "MLXModel",
    "AmazonBedrockModel",
    "AmazonBedrockServerModel",
)
"""smolagents' model classes that define their own ``generate`` (a method a class does not define
is skipped)."""


def _agents(name: str) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        from waxell_observe_smolagents import agents

        factory: Callable[[Callable[[], bool]], Callable[..., Any]] = getattr(agents, name)
        return factory(active)

    return make


def _models(name: str) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        from waxell_observe_smolagents import models

        factory: Callable[[Callable[[], bool]], Callable[..., Any]] = getattr(models, name)
        return factory(active)

    return make


TARGETS: tuple[Target, ...] = (
    Target("smolagents.agents", "MultiStepAgent", "run", _agents("run_wrapper")),
    Target("smolagents.tools", "Tool", "__call__", _agents("tool_wrapper")),
    Target("smolagents.local_python_executor", "", "timeout", _agents("executor_timeout_wrapper")),
    *(Target("smolagents.models", cls, "generate", _models("generate_wrapper")) for cls in _MODEL_CLASSES),
    *(
        Target("smolagents.models", cls, "generate_stream", _models("generate_stream_wrapper"))
        for cls in _MODEL_CLASSES
    ),
)

INSTRUMENTATION = Instrumentation("smolagents", TARGETS)

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
