"""Behaviour decorators: record what a function does onto the current run.

``tool``, ``decision``, ``retrieval``, ``reasoning_dec``, ``retry_dec`` and ``step_dec``
work on sync and ``async def`` functions. Inside a run they record a span (or a step) on
it; outside a run, and when the SDK is disabled, the function is called as is (``retry_dec``
still retries: retrying is behaviour, not telemetry). The decorated function's return value
and exceptions are never changed; a return value of the wrong shape for the decorator is
logged and not recorded.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from waxell_observe.current import current_context
from waxell_observe.decorators import _runtime
from waxell_observe.decorators.signature import CallSignature
from waxell_observe.errors import PolicyViolationError

__all__ = ["tool", "decision", "retrieval", "reasoning_dec", "retry_dec", "step_dec"]

logger = logging.getLogger("waxell_observe")

F = TypeVar("F", bound=Callable[..., Any])

# A recorder gets (context, signature, args, kwargs, value or exception, duration_ms, failed).
_Args = tuple[Any, ...]
_Kwargs = dict[str, Any]
_Recorder = Callable[[Any, CallSignature, _Args, _Kwargs, Any, float, bool], None]

_RETRY_STRATEGIES = ("retry", "fallback", "circuit_break")


def _limit() -> int:
    config = _runtime.current_config()
    return _runtime.preview_limit(config) if config is not None else 0


def _safely(what: str, record: Callable[[], Any]) -> None:
    """Run a recording; a policy block propagates, anything else is logged."""
    try:
        record()
    except PolicyViolationError:
        raise
    except ValueError as exc:
        logger.warning("waxell-observe: %s not recorded: %s", what, exc)
    except Exception:  # noqa: BLE001 - telemetry never breaks the agent
        logger.exception("waxell-observe: failed to record %s", what)


def _record_failure(
    what: str,
    recorder: _Recorder,
    context: Any,
    signature: CallSignature,
    args: _Args,
    kwargs: _Kwargs,
    error: Exception,
    started: float,
) -> None:
    elapsed = (time.perf_counter() - started) * 1000.0
    _safely(what, lambda: recorder(context, signature, args, kwargs, error, elapsed, True))


_Before = Callable[[Any, _Args, _Kwargs], tuple[_Args, _Kwargs]]


def _instrument(
    fn: Callable[..., Any], what: str, recorder: _Recorder, *, on_error: bool, before: _Before | None = None
) -> Callable[..., Any]:
    """Wrap ``fn`` so ``recorder`` runs after each call made inside a run (and ``before``, which may
    refuse the call or hand back the arguments to call it with, before it)."""
    if isinstance(fn, (classmethod, staticmethod)):
        return type(fn)(_instrument(fn.__func__, what, recorder, on_error=on_error, before=before))
    if not callable(fn):
        raise ValueError(f"@{what} decorates functions and methods, got {type(fn).__name__}: {fn!r}")
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        logger.warning(
            "waxell-observe: @%s does not record generator functions (%s); use @observe for those",
            what,
            getattr(fn, "__qualname__", fn),
        )
        return fn
    if not _runtime.enabled_at_decoration():
        return fn
    signature = CallSignature(fn)
    if inspect.iscoroutinefunction(fn):
        return _async_wrapper(fn, what, recorder, signature, on_error, before)
    return _sync_wrapper(fn, what, recorder, signature, on_error, before)


def _async_wrapper(
    fn: Callable[..., Any],
    what: str,
    recorder: _Recorder,
    signature: CallSignature,
    on_error: bool,
    before: _Before | None,
) -> Callable[..., Any]:
    async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
        context = current_context.get()
        if context is None:
            return await fn(*args, **kwargs)
        if before is not None:
            args, kwargs = before(context, args, kwargs)
        started = time.perf_counter()
        try:
            value = await fn(*args, **kwargs)
        except Exception as exc:
            if on_error:
                _record_failure(what, recorder, context, signature, args, kwargs, exc, started)
            raise
        elapsed = (time.perf_counter() - started) * 1000.0
        _safely(what, lambda: recorder(context, signature, args, kwargs, value, elapsed, False))
        return value

    return functools.wraps(fn)(async_wrapper)


def _sync_wrapper(
    fn: Callable[..., Any],
    what: str,
    recorder: _Recorder,
    signature: CallSignature,
    on_error: bool,
    before: _Before | None,
) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        context = current_context.get()
        if context is None:
            return fn(*args, **kwargs)
        if before is not None:
            args, kwargs = before(context, args, kwargs)
        started = time.perf_counter()
        try:
            value = fn(*args, **kwargs)
        except Exception as exc:
            if on_error:
                _record_failure(what, recorder, context, signature, args, kwargs, exc, started)
            raise
        elapsed = (time.perf_counter() - started) * 1000.0
        _safely(what, lambda: recorder(context, signature, args, kwargs, value, elapsed, False))
        return value

    return functools.wraps(fn)(wrapper)


def _check_label(value: Any, what: str) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(f"@{what}: the name must be a non-empty string, got {value!r}")


# -- tool ---------------------------------------------------------------------------------


def tool(name: Any = None, tool_type: str = "function") -> Any:
    """Record each call as a tool call: inputs (bound arguments), output, duration,
    status (``ok``/``error``) and the error. ``name`` defaults to the function's name."""
    if callable(name) or isinstance(name, (classmethod, staticmethod)):
        return tool()(name)
    _check_label(name, "tool")
    if not isinstance(tool_type, str) or not tool_type:
        raise ValueError(f"@tool: tool_type must be a non-empty string, got {tool_type!r}")

    def decorate(fn: F) -> F:
        label = name or _name_of(fn)

        def record(context: Any, signature: CallSignature, args: _Args, kwargs: _Kwargs, value: Any,
                   elapsed: float, failed: bool) -> None:  # fmt: skip
            limit = _limit()
            inputs = _runtime.capture(signature.bind(args, kwargs), limit)
            if failed:
                context.record_tool_call(
                    name=label, input=inputs, output="", duration_ms=elapsed, status="error",
                    tool_type=tool_type, error=f"{type(value).__name__}: {value}",
                )  # fmt: skip
            else:
                context.record_tool_call(
                    name=label, input=inputs, output=_runtime.capture(value, limit), duration_ms=elapsed,
                    status="ok", tool_type=tool_type,
                )  # fmt: skip

        def gate(context: Any, args: _Args, kwargs: _Kwargs) -> tuple[_Args, _Kwargs]:
            return _tool_gate(context, label, args, kwargs)

        return _instrument(fn, "tool", record, on_error=True, before=gate)  # type: ignore[return-value]

    return decorate


def _tool_gate(context: Any, label: str, args: _Args, kwargs: _Kwargs) -> tuple[_Args, _Kwargs]:
    """Before a ``@tool`` call: the ``tool.before`` gate with ``{tool_name, tool_args}`` (keyword
    arguments plus positional ones as ``arg0``, ``arg1``, ...): ``block``/``throttle`` raises
    ``PolicyViolationError``, ``redact`` scrubs the values the tool is called with; then
    ``check_tool_before_execution``."""
    from waxell_observe.gating.recorders import before_tool
    from waxell_observe.redaction import redact

    tool_args = {f"arg{i}": value for i, value in enumerate(args)}
    tool_args.update(kwargs)
    outcome = before_tool(context, label, tool_args)
    if outcome.action == "redact":
        args, kwargs = tuple(redact(list(args))), redact(kwargs)
    context.check_tool_before_execution(label, _skip_gate=True)
    return args, kwargs


# -- decision -----------------------------------------------------------------------------


def decision(name: Any = None, options: list[str] | None = None) -> Any:
    """Record the function's answer as a decision among ``options``.

    The function returns a dict with ``chosen`` (and optionally ``reasoning`` and
    ``confidence``) or the chosen option as a bare string."""
    if callable(name) or isinstance(name, (classmethod, staticmethod)):
        return decision()(name)
    _check_label(name, "decision")
    if options is not None and not isinstance(options, (list, tuple)):
        raise ValueError(f"@decision: options must be a list of strings, got {type(options).__name__}")
    choices = list(options) if options else []

    def decorate(fn: F) -> F:
        label = name or _name_of(fn)

        def record(context: Any, signature: CallSignature, args: _Args, kwargs: _Kwargs, value: Any,
                   elapsed: float, failed: bool) -> None:  # fmt: skip
            if isinstance(value, str):
                context.record_decision(
                    name=label, options=choices, chosen=value, instrumentation_type="decorator"
                )
                return
            if not isinstance(value, dict) or "chosen" not in value:
                raise ValueError(
                    f"@decision {label!r} must return a dict with 'chosen' or a string, "
                    f"got {_describe(value)}"
                )
            context.record_decision(
                name=label,
                options=choices,
                chosen=value["chosen"],
                reasoning=str(value.get("reasoning") or ""),
                confidence=value.get("confidence"),
                instrumentation_type="decorator",
            )

        return _instrument(fn, "decision", record, on_error=False)  # type: ignore[return-value]

    return decorate


# -- retrieval ----------------------------------------------------------------------------


def retrieval(source: Any = "", name: str | None = None) -> Any:
    """Record the function's documents as a retrieval from ``source``.

    The query is the function's first argument (after ``self``/``cls``); the function
    returns the documents, a list of dicts (their ``score`` values become the retrieval's
    scores). An argument named ``top_k`` or ``k`` is recorded as ``top_k``. The span is
    named after ``source``; ``name`` (the reference SDK's label) names it when ``source`` is empty."""
    if callable(source) or isinstance(source, (classmethod, staticmethod)):
        return retrieval()(source)
    if not isinstance(source, str):
        raise ValueError(f"@retrieval: source must be a string, got {source!r}")
    if name is not None:
        _check_label(name, "retrieval")
    source = source or name or ""

    def decorate(fn: F) -> F:
        def record(context: Any, signature: CallSignature, args: _Args, kwargs: _Kwargs, value: Any,
                   elapsed: float, failed: bool) -> None:  # fmt: skip
            if not isinstance(value, (list, tuple)):
                raise ValueError(
                    f"@retrieval {_name_of(fn)!r} must return a list of documents, got {_describe(value)}"
                )
            bound = signature.bind(args, kwargs)
            query = bound.get(signature.first_argument, "") if signature.first_argument else ""
            top_k = bound.get("top_k", bound.get("k"))
            if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
                top_k = None
            found: list[Any] = [d.get("score") for d in value if isinstance(d, dict)]
            scores: list[float] | None = None
            if found and len(found) == len(value) and all(_is_number(s) for s in found):
                scores = [float(s) for s in found]
            context.record_retrieval(
                query=query if isinstance(query, str) else str(query),
                documents=_runtime.capture(list(value), _limit()),
                source=source,
                duration_ms=elapsed,
                top_k=top_k,
                scores=scores,
            )

        return _instrument(fn, "retrieval", record, on_error=False)  # type: ignore[return-value]

    return decorate


# -- reasoning ----------------------------------------------------------------------------


def reasoning_dec(step: Any = None) -> Any:
    """Record the function's answer as a reasoning step: a dict with ``thought``,
    ``evidence`` (a list) and ``conclusion``, or the thought as a bare string.
    ``step`` defaults to the function's name."""
    if callable(step) or isinstance(step, (classmethod, staticmethod)):
        return reasoning_dec()(step)
    _check_label(step, "reasoning_dec")

    def decorate(fn: F) -> F:
        label = step or _name_of(fn)

        def record(context: Any, signature: CallSignature, args: _Args, kwargs: _Kwargs, value: Any,
                   elapsed: float, failed: bool) -> None:  # fmt: skip
            if isinstance(value, str):
                context.record_reasoning(step=label, thought=value)
                return
            if not isinstance(value, dict):
                raise ValueError(
                    f"@reasoning_dec {label!r} must return a dict with 'thought' or a string, "
                    f"got {_describe(value)}"
                )
            evidence = value.get("evidence")
            if evidence is not None and not isinstance(evidence, (list, tuple)):
                evidence = [evidence]
            context.record_reasoning(
                step=label,
                thought=str(value.get("thought") or ""),
                evidence=[str(e) if not isinstance(e, str) else e for e in evidence] if evidence else None,
                conclusion=str(value.get("conclusion") or ""),
            )

        return _instrument(fn, "reasoning_dec", record, on_error=False)  # type: ignore[return-value]

    return decorate


# -- step ---------------------------------------------------------------------------------


def step_dec(name: Any = None) -> Any:
    """Record each successful call as a step whose output is the return value
    (a dict as is, ``None`` as no output, anything else as ``{"output": value}``).
    ``name`` defaults to the function's name."""
    if callable(name) or isinstance(name, (classmethod, staticmethod)):
        return step_dec()(name)
    _check_label(name, "step_dec")

    def decorate(fn: F) -> F:
        label = name or _name_of(fn)

        def record(context: Any, signature: CallSignature, args: _Args, kwargs: _Kwargs, value: Any,
                   elapsed: float, failed: bool) -> None:  # fmt: skip
            output = _runtime.capture(value, _limit())
            if output is not None and not isinstance(output, dict):
                output = {"output": output}
            context.record_step(label, output=output)

        return _instrument(fn, "step_dec", record, on_error=False)  # type: ignore[return-value]

    return decorate


# -- retry --------------------------------------------------------------------------------


def retry_dec(
    max_attempts: Any = 3,
    strategy: str = "retry",
    fallback_to: str = "",
    exceptions: type[BaseException] | tuple[type[BaseException], ...] = Exception,
) -> Any:
    """Call the function again when it raises, up to ``max_attempts`` calls in all.

    Every retry is recorded on the current run (``attempt`` is the number of the attempt
    about to start, ``reason`` and ``original_error`` the error that caused it,
    ``fallback_to`` as given). After the last attempt the error is re-raised unchanged. Only
    ``exceptions`` (default: any ``Exception``) are retried; cancellation and
    ``KeyboardInterrupt`` never are."""
    if callable(max_attempts) and not isinstance(max_attempts, type):
        return retry_dec()(max_attempts)
    caught = _retry_arguments(max_attempts, strategy, exceptions, fallback_to)

    def note(attempt: int, exc: BaseException) -> None:
        _note_retry(attempt, exc, strategy, max_attempts, fallback_to)

    def decorate(fn: F) -> F:
        if isinstance(fn, (classmethod, staticmethod)):
            return type(fn)(decorate(fn.__func__))
        if not callable(fn):
            raise ValueError(f"@retry_dec decorates functions and methods, got {type(fn).__name__}: {fn!r}")

        if inspect.iscoroutinefunction(fn):

            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                attempt = 1
                while True:
                    try:
                        return await fn(*args, **kwargs)
                    except caught as exc:
                        if attempt >= max_attempts:
                            raise
                        attempt += 1
                        note(attempt, exc)

            return functools.wraps(fn)(async_wrapper)  # type: ignore[return-value]

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            attempt = 1
            while True:
                try:
                    return fn(*args, **kwargs)
                except caught as exc:
                    if attempt >= max_attempts:
                        raise
                    attempt += 1
                    note(attempt, exc)

        return functools.wraps(fn)(wrapper)  # type: ignore[return-value]

    return decorate


# -- helpers ------------------------------------------------------------------------------


def _retry_arguments(
    max_attempts: Any,
    strategy: str,
    exceptions: type[BaseException] | tuple[type[BaseException], ...],
    fallback_to: Any = "",
) -> tuple[type[BaseException], ...]:
    """Check ``@retry_dec``'s arguments; return the exception classes to retry."""
    if not isinstance(fallback_to, str):
        raise ValueError(f"@retry_dec: fallback_to must be a string, got {fallback_to!r}")
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"@retry_dec: max_attempts must be an integer >= 1, got {max_attempts!r}")
    if strategy not in _RETRY_STRATEGIES:
        raise ValueError(
            f"@retry_dec: strategy must be one of {', '.join(_RETRY_STRATEGIES)}, got {strategy!r}"
        )
    caught = exceptions if isinstance(exceptions, tuple) else (exceptions,)
    if not caught or not all(isinstance(e, type) and issubclass(e, Exception) for e in caught):
        raise ValueError(f"@retry_dec: exceptions must be Exception subclasses, got {exceptions!r}")
    return caught


def _note_retry(
    attempt: int, exc: BaseException, strategy: str, max_attempts: int, fallback_to: str = ""
) -> None:
    """Record on the current run (if any) that attempt ``attempt`` starts because of ``exc``."""
    context = current_context.get()
    if context is None:
        return
    error = f"{type(exc).__name__}: {exc}"
    _safely(
        "retry",
        lambda: context.record_retry(
            attempt=attempt,
            reason=str(exc) or type(exc).__name__,
            strategy=strategy,
            original_error=error,
            fallback_to=fallback_to,
            max_attempts=max_attempts,
        ),
    )


def _name_of(fn: Any) -> str:
    target = getattr(fn, "__func__", fn)
    return getattr(target, "__name__", None) or type(target).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {_runtime.capture(value, 80)!r}"
