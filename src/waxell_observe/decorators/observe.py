"""``@observe`` (alias ``@waxell_agent``): every call of the decorated function is one run.

Works on plain functions, ``async def`` functions, generators, async generators, methods,
``classmethod``/``staticmethod``. Underneath each call is a
:class:`~waxell_observe.WaxellContext`; nesting, governance and delivery are its job.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar, overload

from waxell_observe.approval import ask, ask_sync
from waxell_observe.config import ObserveConfig
from waxell_observe.context import TAG_KEY_PATTERN, WaxellContext
from waxell_observe.context.checks import END_USER_METADATA_KEY
from waxell_observe.current import current_context
from waxell_observe.decorators import _runtime
from waxell_observe.decorators._run import aenter, aexit, exit_run, inert_context
from waxell_observe.decorators.generators import wrap_async_generator, wrap_generator
from waxell_observe.decorators.signature import CallSignature
from waxell_observe.errors import PolicyViolationError
from waxell_observe.policy_block import RerunOnApproval, default_handler

__all__ = ["observe", "waxell_agent", "ObservedFunction"]

logger = logging.getLogger("waxell_observe")

F = TypeVar("F", bound=Callable[..., Any])

_capture_json = _runtime.capture_json
_for_call = WaxellContext._for_call
_NO_OVERRIDES: dict[str, Any] = {}
"""Passed when the call gave none (never mutated): ``context_for`` does not look again."""


def _with_end_user(metadata: dict[str, Any] | None, end_user_id: str) -> dict[str, Any] | None:
    """``metadata`` with ``tenant_sub_user_id`` set to ``end_user_id`` unless already there."""
    if not end_user_id:
        return metadata
    if not isinstance(end_user_id, str):
        raise ValueError(f"@observe: end_user_id must be a string, got {type(end_user_id).__name__}")
    merged = dict(metadata) if metadata else {}
    merged.setdefault(END_USER_METADATA_KEY, end_user_id)
    return merged


def _checked_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"@observe: {what} must be a dict, got {type(value).__name__}")
    return value


class ObservedFunction:
    """The settings of one ``@observe``-decorated function and the per-call run factory."""

    __slots__ = (
        "fn",
        "signature",
        "agent_name",
        "workflow_name",
        "session_id",
        "user_id",
        "user_group",
        "end_user_id",
        "enforce_policy",
        "mid_execution_governance",
        "auto_grounding",
        "on_policy_block",
        "capture_io",
        "client",
        "metadata",
        "given_metadata",
        "tags",
        "inputs",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        agent_name: str | None,
        workflow_name: str,
        session_id: str,
        user_id: str,
        user_group: str,
        end_user_id: str = "",
        enforce_policy: bool,
        mid_execution_governance: bool,
        auto_grounding: bool = False,
        on_policy_block: Callable[..., Any] | None = None,
        capture_io: bool,
        client: Any,
        metadata: dict[str, Any] | None,
        tags: dict[str, str] | None,
        inputs: dict[str, Any] | None,
    ) -> None:
        self.fn = fn
        self.signature = CallSignature(fn)
        self.agent_name = agent_name or getattr(fn, "__name__", None) or type(fn).__name__
        # normalised as WaxellContext would (each call's context takes them as they are)
        self.workflow_name = workflow_name or "default"
        self.session_id = session_id or ""
        self.user_id = user_id or ""
        self.user_group = user_group or ""
        self.end_user_id = end_user_id or ""
        self.enforce_policy = bool(enforce_policy)
        self.mid_execution_governance = bool(mid_execution_governance)
        self.auto_grounding = bool(auto_grounding)
        self.on_policy_block = on_policy_block
        self.capture_io = capture_io
        self.client = client
        self.given_metadata = metadata
        self.metadata = _with_end_user(metadata, self.end_user_id)
        self.tags = tags
        self.inputs = inputs

    def context_for(
        self,
        config: ObserveConfig,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        overrides: dict[str, Any] | None = None,
    ) -> tuple[WaxellContext | None, int]:
        """Build this call's context; ``overrides``: the call-time overrides already taken out of
        ``kwargs`` (``None``: take them here).

        Returns the context (``None`` when building it failed: logged, the call goes on
        unobserved) and the preview limit for captured values.
        """
        if overrides is None and kwargs:
            overrides = self.signature.take_overrides(kwargs)
        try:
            client = overrides.get("client", self.client) if overrides else self.client
            if client is not None:
                client_config = getattr(client, "config", None)
                if isinstance(client_config, ObserveConfig):
                    config = client_config
            limit = 0 if config.capture_content else config.preview_chars
            inputs: dict[str, Any] | None = None
            if overrides and overrides.get("inputs") is not None:  # the call's own inputs
                inputs = _capture_json(_checked_dict(overrides["inputs"], "inputs"), limit)
            elif self.capture_io:
                signature = self.signature
                plain = signature.plain
                if plain is not None and not kwargs and len(args) == len(plain):  # bind()'s shortcut
                    inputs = {plain[0]: args[0]} if len(plain) == 1 else dict(zip(plain, args, strict=True))
                else:
                    inputs = signature.bind(args, kwargs)
                if self.inputs:
                    inputs.update(self.inputs)
                inputs = _capture_json(inputs, limit)
            elif self.inputs:
                inputs = _capture_json(self.inputs, limit)
            metadata, tags = self.metadata, self.tags
            if overrides:
                get = overrides.get
                if "metadata" in overrides or "end_user_id" in overrides:
                    given = get("metadata", self.given_metadata)
                    metadata = _with_end_user(
                        _checked_dict(given, "metadata") if given is not None else None,
                        get("end_user_id", self.end_user_id) or "",
                    )
                context = _for_call(
                    self.agent_name,
                    get("workflow_name", self.workflow_name) or "default",
                    inputs,
                    dict(metadata) if metadata else None,
                    client,
                    bool(get("enforce_policy", self.enforce_policy)),
                    get("session_id", self.session_id) or "",
                    get("user_id", self.user_id) or "",
                    get("user_group", self.user_group) or "",
                    bool(get("mid_execution_governance", self.mid_execution_governance)),
                    dict(tags) if tags else None,
                    bool(get("auto_grounding", self.auto_grounding)),
                )
            else:  # the settings were normalised at decoration
                context = _for_call(
                    self.agent_name,
                    self.workflow_name,
                    inputs,
                    dict(metadata) if metadata else None,
                    client,
                    self.enforce_policy,
                    self.session_id,
                    self.user_id,
                    self.user_group,
                    self.mid_execution_governance,
                    dict(tags) if tags else None,
                    self.auto_grounding,
                )
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception(
                "waxell-observe: cannot start a run for %r; calling it unobserved", self.agent_name
            )
            return None, 0
        if self.signature.declares_context and self.signature.wants_context(args, kwargs):
            kwargs["waxell_ctx"] = context
        return context, limit

    def set_result(self, context: WaxellContext, value: Any, limit: int) -> None:
        """Record the return value as the run's result (when ``capture_io`` is on)."""
        if not self.capture_io:
            return
        try:
            context._set_safe_result(_capture_json(value, limit))
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: cannot record the result of %r", self.agent_name)


def _explicit_handler(
    observed: ObservedFunction, overrides: dict[str, Any] | None
) -> Callable[..., Any] | None:
    """The ``on_policy_block`` handler given to this call or to the decorator (per call > decorator)."""
    if overrides:
        given = overrides.get("on_policy_block")
        if given is not None:
            if not callable(given):
                raise ValueError(f"@observe: on_policy_block must be callable, got {type(given).__name__}")
            return given  # type: ignore[no-any-return]
    return observed.on_policy_block


def _retry_overrides(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The overrides of the run an approved ``on_policy_block`` handler asks for: no policy check."""
    again = dict(overrides) if overrides else {}
    again["enforce_policy"] = False
    again.pop("on_policy_block", None)
    return again


def _outer_context() -> Any:
    """The run an approval round is recorded on when the blocked run is already closed."""
    return current_context.get()


def _approved(handler: Callable[..., Any], error: PolicyViolationError) -> bool:
    """Whether the block that ended a call was approved (asked now, on the enclosing run, only when
    nobody asked while the run was open: the run itself could not be started, say)."""
    decision = error.approval_decision
    if decision is None:
        decision = ask_sync(handler, error, _outer_context())
    return decision.approved


def _ask_before_exit(
    handler: Callable[..., Any] | None, error: BaseException, context: WaxellContext
) -> None:
    """A block escaping the body is put to ``handler`` while the blocked run is open (the round is
    recorded on it); a handler that raises completes the run and its exception propagates."""
    if handler is None or not isinstance(error, PolicyViolationError) or error.approval_decision is not None:
        return
    try:
        ask_sync(handler, error, context)
    except BaseException:
        exit_run(context, error)
        raise


def _wrap_sync(observed: ObservedFunction) -> Callable[..., Any]:
    fn = observed.fn
    current_config = _runtime.current_config
    take_overrides = observed.signature.take_overrides
    from waxell_observe import config as config_module

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        config = config_module._current or current_config()
        if config is None or not config.enabled:
            if observed.signature.declares_context:
                inert_context(observed, args, kwargs)
            return fn(*args, **kwargs)
        overrides = take_overrides(kwargs) if kwargs else None
        explicit = _explicit_handler(observed, overrides) if overrides else observed.on_policy_block
        handler = explicit or default_handler()
        if handler is None:
            return once(config, args, kwargs, overrides, None, None)
        retry_kwargs = dict(kwargs)  # before waxell_ctx is injected
        try:
            return once(config, args, kwargs, overrides, handler, explicit)
        except PolicyViolationError as exc:
            if not _approved(handler, exc):
                raise
        return once(config, args, retry_kwargs, _retry_overrides(overrides), None, None)

    def once(
        config: ObserveConfig,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        overrides: dict[str, Any] | None,
        handler: Callable[..., Any] | None,
        explicit: Callable[..., Any] | None,
    ) -> Any:
        context, limit = observed.context_for(config, args, kwargs, overrides or _NO_OVERRIDES)
        if context is None:
            return fn(*args, **kwargs)
        context._on_policy_block = RerunOnApproval(explicit) if handler is not None else None
        try:  # enter() written out (one call less per run)
            context.__enter__()
        except PolicyViolationError:
            raise
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception(
                "waxell-observe: cannot start run of %r; calling it unobserved", context.agent_name
            )
            return fn(*args, **kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            _ask_before_exit(handler, exc, context)
            exit_run(context, exc)
            raise
        if observed.capture_io:
            try:  # set_result() written out (the run has started: nothing to warn about)
                captured = _capture_json(result, limit)
                context._result = captured if captured.__class__ is dict else {"output": captured}
            except Exception:  # noqa: BLE001 - telemetry never breaks the agent
                logger.exception("waxell-observe: cannot record the result of %r", observed.agent_name)
        exit_run(context, None)  # a post-execution block propagates
        return result

    return wrapper


def _wrap_async(observed: ObservedFunction) -> Callable[..., Any]:
    fn = observed.fn
    current_config = _runtime.current_config
    from waxell_observe import config as config_module

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        config = config_module._current or current_config()
        if config is None or not config.enabled:
            if observed.signature.declares_context:
                inert_context(observed, args, kwargs)
            return await fn(*args, **kwargs)
        overrides = observed.signature.take_overrides(kwargs) if kwargs else None
        explicit = _explicit_handler(observed, overrides)
        handler = explicit or default_handler()
        if handler is None:
            return await once(config, args, kwargs, overrides, None, None)
        retry_kwargs = dict(kwargs)  # before waxell_ctx is injected
        try:
            return await once(config, args, kwargs, overrides, handler, explicit)
        except PolicyViolationError as exc:
            decision = exc.approval_decision
            if decision is None:
                decision = await ask(handler, exc, _outer_context())
            if not decision.approved:
                raise
        return await once(config, args, retry_kwargs, _retry_overrides(overrides), None, None)

    async def once(
        config: ObserveConfig,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        overrides: dict[str, Any] | None,
        handler: Callable[..., Any] | None,
        explicit: Callable[..., Any] | None,
    ) -> Any:
        context, limit = observed.context_for(config, args, kwargs, overrides or _NO_OVERRIDES)
        if context is None:
            return await fn(*args, **kwargs)
        if handler is not None:
            context._on_policy_block = RerunOnApproval(explicit)
        if not await aenter(context):
            return await fn(*args, **kwargs)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            if (
                handler is not None
                and isinstance(exc, PolicyViolationError)
                and exc.approval_decision is None
            ):
                try:
                    await ask(handler, exc, context)
                except BaseException:
                    await aexit(context, exc)
                    raise
            await aexit(context, exc)
            raise
        observed.set_result(context, result, limit)
        await aexit(context, None)
        return result

    return wrapper


def _check_settings(agent_name: Any, workflow_name: Any, metadata: Any, tags: Any, inputs: Any) -> None:
    if agent_name is not None and (not isinstance(agent_name, str) or not agent_name.strip()):
        raise ValueError(f"@observe: agent_name must be a non-empty string, got {agent_name!r}")
    if not isinstance(workflow_name, str):
        raise ValueError(f"@observe: workflow_name must be a string, got {workflow_name!r}")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"@observe: metadata must be a dict or None, got {type(metadata).__name__}")
    if inputs is not None and not isinstance(inputs, dict):
        raise ValueError(f"@observe: inputs must be a dict or None, got {type(inputs).__name__}")
    if tags is not None:
        if not isinstance(tags, dict):
            raise ValueError(f"@observe: tags must be a dict of strings or None, got {type(tags).__name__}")
        for key, value in tags.items():
            if not isinstance(key, str) or not TAG_KEY_PATTERN.match(key):
                raise ValueError(
                    f"@observe: tag key {key!r} is invalid: use letters, digits, underscores and hyphens"
                )
            if not isinstance(value, str):
                raise ValueError(f"@observe: tag {key!r} needs a string value, got {type(value).__name__}")


@overload
def observe(agent_name: F, /) -> F: ...


@overload
def observe(
    agent_name: str | None = None,
    workflow_name: str = "default",
    enforce_policy: bool = True,
    capture_io: bool = True,
    session_id: str = "",
    user_id: str = "",
    user_group: str = "",
    end_user_id: str = "",
    client: Any = None,
    mid_execution_governance: bool = False,
    auto_grounding: bool = False,
    on_policy_block: Callable[..., Any] | None = None,
    *,
    metadata: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    inputs: dict[str, Any] | None = None,
) -> Callable[[F], F]: ...


def observe(
    agent_name: Any = None,
    workflow_name: str = "default",
    enforce_policy: bool = True,
    capture_io: bool = True,
    session_id: str = "",
    user_id: str = "",
    user_group: str = "",
    end_user_id: str = "",
    client: Any = None,
    mid_execution_governance: bool = False,
    auto_grounding: bool = False,
    on_policy_block: Callable[..., Any] | None = None,
    *,
    metadata: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    inputs: dict[str, Any] | None = None,
) -> Any:
    """Record every call of the decorated function as a run.

    Use bare (``@observe``) or with options (``@observe(agent_name="triage", ...)``, or
    ``@observe("triage")``). The parameters are the reference SDK's, in its order (so
    ``@observe("triage", "intake")`` names the workflow too); ``metadata``, ``tags`` and ``inputs`` are
    ours, keyword-only. Options are those of :class:`~waxell_observe.WaxellContext`
    plus ``capture_io`` (record bound arguments as inputs and the return value as the
    result), ``tags`` and ``inputs`` (extra inputs recorded with every call).
    ``end_user_id`` is recorded as metadata ``tenant_sub_user_id``; ``on_policy_block`` is asked
    when a policy refuses the run (approved: the function runs again without policy checks).
    ``session_id``, ``user_id``, ``user_group``, ``end_user_id``, ``enforce_policy``,
    ``mid_execution_governance``, ``auto_grounding``, ``client``, ``inputs``, ``metadata``,
    ``workflow_name`` and ``on_policy_block`` may also be given per call as keyword arguments the
    function does not declare; the decorator takes them for that run.
    """
    func = None
    if agent_name is not None and not isinstance(agent_name, str):  # bare @observe (a non-function: refused)
        func, agent_name = agent_name, None
    _check_settings(agent_name, workflow_name, metadata, tags, inputs)
    if on_policy_block is not None and not callable(on_policy_block):
        raise ValueError(f"@observe: on_policy_block must be callable, got {type(on_policy_block).__name__}")
    if not isinstance(end_user_id, str):
        raise ValueError(f"@observe: end_user_id must be a string, got {type(end_user_id).__name__}")
    settings: dict[str, Any] = {
        "agent_name": agent_name,
        "workflow_name": workflow_name or "default",
        "session_id": session_id,
        "user_id": user_id,
        "user_group": user_group,
        "end_user_id": end_user_id,
        "enforce_policy": bool(enforce_policy),
        "mid_execution_governance": bool(mid_execution_governance),
        "auto_grounding": bool(auto_grounding),
        "on_policy_block": on_policy_block,
        "capture_io": bool(capture_io),
        "client": client,
        "metadata": dict(metadata) if metadata else None,
        "tags": dict(tags) if tags else None,
        "inputs": dict(inputs) if inputs else None,
    }

    def decorate(fn: Any) -> Any:
        if isinstance(fn, (classmethod, staticmethod)):
            return type(fn)(decorate(fn.__func__))
        if not callable(fn):
            raise ValueError(f"@observe decorates functions and methods, got {type(fn).__name__}: {fn!r}")
        observed = ObservedFunction(fn, **settings)
        if not _runtime.enabled_at_decoration() and not observed.signature.declares_context:
            return fn
        wrapper: Callable[..., Any]
        if inspect.isasyncgenfunction(fn):
            wrapper = wrap_async_generator(observed)
        elif inspect.iscoroutinefunction(fn):
            wrapper = _wrap_async(observed)
        elif inspect.isgeneratorfunction(fn):
            wrapper = wrap_generator(observed)
        else:
            wrapper = _wrap_sync(observed)
        functools.update_wrapper(wrapper, fn)
        setattr(wrapper, "__waxell_observed__", observed)  # noqa: B010 - introspection handle
        return wrapper

    if func is None:
        return decorate
    return decorate(func)


waxell_agent = observe
"""Alias of :func:`observe`."""
