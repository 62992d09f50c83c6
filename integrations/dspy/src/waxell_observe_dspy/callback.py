"""DSPy's callbacks, recorded: modules as nested spans, LM calls once.

* ``on_module_start``/``on_module_end`` → a container span per module call (``ReAct``,
  ``ProgramOfThought``, ``CodeAct`` and ``RLM`` → ``agent``; any other module, ``Predict``,
  ``ChainOfThought`` and your own → ``chain``), named by the module's class, input: the call's
  keyword arguments, output: the prediction's fields; a raised exception fails it.
* ``on_lm_start``/``on_lm_end`` → the LM call is left to the provider integration that sees the
  request (DSPy calls LiteLLM: the ``litellm`` integration records tokens, cost and the
  ``llm.before`` gate); when none reported it (LiteLLM not instrumented, a response from DSPy's
  cache) it is recorded here from the LM's history entry (model, usage, cost; a response from DSPy's
  cache, which DSPy reports without usage, with the attribute ``dspy.cache_hit``, no tokens and no
  cost).

Tools are recorded (and gated) by the ``Tool.__call__``/``acall`` patch (:mod:`.tools`), not here:
DSPy swallows what a callback raises, so a refusal must come from outside.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from dspy.utils.callback import BaseCallback

from waxell_observe import integration_api
from waxell_observe.current import current_context
from waxell_observe.instrumentation import positive_int
from waxell_observe.serialize import preview

__all__ = ["AGENT_MODULES", "FRAMEWORK", "RECORDED_FROM", "WaxellDSPyCallback"]

logger = logging.getLogger("waxell_observe")

FRAMEWORK = "dspy"
RECORDED_FROM = "dspy_history"
AGENT_MODULES = frozenset({"ReAct", "ProgramOfThought", "CodeAct", "RLM"})
_PREVIEW = 4000


def jsonable(value: Any) -> Any:
    """A JSON-able copy of a value DSPy passes around (predictions, examples, anything else as text)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    to_dict = getattr(value, "toDict", None)
    if callable(to_dict):
        try:
            return jsonable(to_dict())
        except Exception:  # noqa: BLE001 - fall back to the text
            pass
    return preview(str(value), _PREVIEW)


class _Open:
    __slots__ = ("ctx", "handle", "history", "lm", "watch")

    def __init__(
        self, ctx: Any, *, handle: Any = None, watch: Any = None, lm: Any = None, history: int = 0
    ) -> None:
        self.ctx = ctx
        self.handle = handle
        self.watch = watch
        self.lm = lm
        self.history = history


class WaxellDSPyCallback(BaseCallback):  # type: ignore[misc]
    """Added to DSPy's active callbacks while the integration is on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, _Open] = {}

    def _keep(self, call_id: str, opened: _Open) -> None:
        with self._lock:
            self._open[call_id] = opened

    def _take(self, call_id: str) -> _Open | None:
        with self._lock:
            return self._open.pop(call_id, None)

    # -- modules --------------------------------------------------------------------------------

    def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        try:
            ctx = current_context.get()
            if ctx is None or ctx.run is None:
                return
            name = type(instance).__name__
            attributes: dict[str, Any] = {"framework": FRAMEWORK, "dspy.module": name}
            signature = getattr(instance, "signature", None)
            if signature is not None and hasattr(signature, "signature"):
                attributes["dspy.signature"] = str(signature.signature)
            if name in AGENT_MODULES:
                tools = getattr(instance, "tools", None)
                if isinstance(tools, dict):
                    attributes["agent.tools"] = sorted(str(tool) for tool in tools)
            handle = ctx.enter_span(
                name,
                kind="agent" if name in AGENT_MODULES else "chain",
                attributes=attributes,
                input_data=jsonable(inputs.get("kwargs", inputs)),
            )
            self._keep(call_id, _Open(ctx, handle=handle))
        except Exception:
            logger.exception("waxell-observe: could not record the start of a DSPy module")

    def on_module_end(self, call_id: str, outputs: Any | None, exception: Exception | None = None) -> None:
        opened = self._take(call_id)
        if opened is None:
            return
        try:
            output = None if exception is not None else jsonable(outputs)
            opened.ctx.exit_span(
                opened.handle,
                output_data=output if isinstance(output, dict) or output is None else {"output": output},
                exc=exception,
            )
        except Exception:
            logger.exception("waxell-observe: could not record a DSPy module")

    # -- language models ------------------------------------------------------------------------

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        try:
            history = getattr(instance, "history", None)
            self._keep(
                call_id,
                _Open(
                    current_context.get(),
                    watch=integration_api.begin_provider_watch(),
                    lm=instance,
                    history=len(history) if isinstance(history, list) else 0,
                ),
            )
        except Exception:
            logger.exception("waxell-observe: could not watch a DSPy LM call")

    def on_lm_end(self, call_id: str, outputs: Any | None, exception: Exception | None = None) -> None:
        opened = self._take(call_id)
        if opened is None:
            return
        try:
            if integration_api.end_provider_watch(opened.watch) == 0:
                self._record(opened, exception)
        except Exception:
            logger.exception("waxell-observe: could not record a DSPy LM call")

    @staticmethod
    def _record(opened: _Open, exception: Exception | None) -> None:
        """The LM call no provider integration reported, from the LM's newest history entry."""
        history = getattr(opened.lm, "history", None)
        entry: dict[str, Any] = {}
        if isinstance(history, list) and len(history) > opened.history and isinstance(history[-1], dict):
            entry = history[-1]
        usage = entry.get("usage") or {}
        response = entry.get("response")
        # DSPy gives a cached response no usage (and keeps the cost of the call that filled the
        # cache); a response from a provider always carries its usage.
        cache_hit = bool(getattr(response, "cache_hit", False)) or (
            isinstance(entry.get("usage"), dict) and not entry["usage"] and bool(entry.get("outputs"))
        )
        model = str(
            entry.get("response_model") or entry.get("model") or getattr(opened.lm, "model", "unknown")
        )
        attributes: dict[str, Any] = {"framework": FRAMEWORK, "recorded_from": RECORDED_FROM}
        fields: dict[str, Any] = {"model": model.rsplit("/", 1)[-1] if "/" in model else model}
        if cache_hit:
            attributes["dspy.cache_hit"] = True
            fields.update(tokens_in=0, tokens_out=0)
        else:
            fields.update(
                tokens_in=positive_int(usage.get("prompt_tokens")),
                tokens_out=positive_int(usage.get("completion_tokens")),
            )
            cost = entry.get("cost")
            if isinstance(cost, (int, float)) and cost > 0:
                fields["cost"] = float(cost)
        outputs = entry.get("outputs")
        if isinstance(outputs, list) and outputs:
            first = outputs[0]
            text = first.get("text") if isinstance(first, dict) else first
            if isinstance(text, str):
                fields["response_preview"] = preview(text, 500)
        if exception is not None:
            fields.update(
                status="error",
                error_type=type(exception).__name__,
                error_message=preview(str(exception), 2000),
            )
        fields["attributes"] = attributes
        integration_api.record_llm_call(**fields)
