"""The ``llm.before`` gate of DSPy's LM calls: ``BaseLM.__call__``/``acall`` ask it before the
request leaves (a ``block`` raises ``PolicyViolationError``: no request is made, the module call
fails). DSPy's default engine (its vendored lm15 router) goes through no provider SDK, so no
provider integration would ask it. An LM on the ``litellm`` engine while the LiteLLM integration
is on is left to that integration (which asks the gate itself), so the gate is asked once."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import gate_llm_request, recording_enabled

__all__ = ["lm_gate_wrapper", "provider_and_model"]


def provider_and_model(lm: Any) -> tuple[str, str]:
    """``("openai", "gpt-4o-mini")`` for an LM of model ``"openai/gpt-4o-mini"``."""
    model = str(getattr(lm, "model", "") or "")
    provider, _, name = model.partition("/")
    return (provider, name) if name else ("", model)


def _gated_elsewhere(lm: Any) -> bool:
    """True when the LiteLLM integration will see (and gate) this LM's request."""
    if getattr(lm, "_engine_spec", None) != "litellm":
        return False
    integration = sys.modules.get("waxell_observe_litellm")
    is_on = getattr(integration, "is_instrumented", None)
    return bool(callable(is_on) and is_on())


def _gate(lm: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if _gated_elsewhere(lm):
        return
    provider, model = provider_and_model(lm)
    messages = kwargs.get("messages")
    if messages is None:
        prompt = kwargs.get("prompt", args[0] if args else None)
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else None
    settings = {**(getattr(lm, "kwargs", None) or {}), **kwargs}
    gate_llm_request(
        provider=provider,
        model=model,
        messages=messages,
        max_tokens=settings.get("max_tokens") or settings.get("max_completion_tokens"),
    )


def lm_gate_wrapper(is_async: bool) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    """The wrapper factory of ``BaseLM.acall`` (``is_async``) or ``BaseLM.__call__``."""

    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if recording_enabled(active, "dspy"):
                _gate(instance, args, kwargs)
            return wrapped(*args, **kwargs)

        async def async_wrapper(
            wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any:
            if recording_enabled(active, "dspy"):
                _gate(instance, args, kwargs)
            return await wrapped(*args, **kwargs)

        return async_wrapper if is_async else wrapper

    return make
