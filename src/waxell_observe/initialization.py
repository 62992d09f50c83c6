"""``init()``: configure the SDK once, load plugins, instrument libraries.

``waxell_observe.init()`` resolves the configuration (arguments, then ``WAXELL_*``
environment variables, then the ``[default]`` profile of ``~/.waxell/config``), installs
it, loads the plugins of the ``waxell_observe`` entry-point group, tells them the
configuration (``on_configure``) and asks integrations to instrument their libraries
(``on_instrument``). Only the first call acts; later calls return the configuration in
effect. With ``WAXELL_OBSERVE=false`` it does nothing at all.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from waxell_observe.config import ObserveConfig, get_config, resolve_config, set_config
from waxell_observe.process import fork_safe

__all__ = ["init", "generate_session_id", "is_initialized", "instrumented_libraries", "process_identity"]

logger = logging.getLogger("waxell_observe")

_lock = fork_safe(threading.Lock())
_instrumented_lock = threading.Lock()
_initialized = False
_instrumented: tuple[str, ...] = ()
_agent_name = ""
_workflow_name = ""
_ambient: Any = None
"""The process-lifetime run ``init()`` opened because ``WAXELL_AGENT_NAME`` is set (or ``None``)."""

INTERACTION_MODES = ("interactive", "autonomous", "auto")
_FALSY = ("false", "0", "no")


_session_counter = itertools.count()


def generate_session_id() -> str:
    """A new session id: ``"sess_"`` followed by 24 lowercase hex characters (96 bits: a 44-bit
    microsecond timestamp, a 20-bit per-process counter and 32 random bits from the OS), so ids
    made later sort later (within the same microsecond, by the counter)."""
    micros = time.time_ns() // 1000 & (1 << 44) - 1
    count = next(_session_counter) & 0xFFFFF
    value = micros << 52 | count << 32 | int.from_bytes(os.urandom(4), "big")
    return f"sess_{value:024x}"


def is_initialized() -> bool:
    """True once :func:`init` has acted (it does not act in disabled mode)."""
    return _initialized


def instrumented_libraries() -> tuple[str, ...]:
    """What the integrations reported instrumenting at :func:`init`, and since (a library
    imported after ``init()`` is instrumented then)."""
    return _instrumented


def process_identity() -> tuple[str, str]:
    """``(agent_name, workflow_name)`` of this process for records made outside any run:
    ``init(agent_name=..., workflow_name=...)``, else ``WAXELL_AGENT_NAME`` / ``WAXELL_WORKFLOW``
    (``""`` when neither is set)."""
    return (
        _agent_name or os.environ.get("WAXELL_AGENT_NAME", ""),
        _workflow_name or os.environ.get("WAXELL_WORKFLOW", ""),
    )


def _libraries(instrument: Any, what: str = "instrument") -> frozenset[str] | None:
    if instrument is None:
        return None
    if isinstance(instrument, str):
        names: Iterable[Any] = [part.strip() for part in instrument.split(",") if part.strip()]
    elif isinstance(instrument, (list, tuple, set, frozenset)):
        names = instrument
    else:
        raise ValueError(f"{what} must be a list of library names or None, got {type(instrument).__name__}")
    cleaned = []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{what}: library names must be non-empty strings, got {name!r}")
        cleaned.append(name.strip().lower())
    return frozenset(cleaned)


def init(
    api_key: str = "",
    api_url: str = "",
    agent_name: str = "",
    workflow_name: str = "",
    capture_content: bool | None = None,
    instrument: list[str] | None = None,
    exclude: list[str] | None = None,
    instrument_infra: bool = True,
    infra_libraries: list[str] | None = None,
    infra_exclude: list[str] | None = None,
    resource_attributes: dict[str, Any] | None = None,
    debug: bool = False,
    prompt_guard: bool = False,
    prompt_guard_server: bool = False,
    prompt_guard_action: str = "block",
    interaction_mode: str | None = None,
    on_policy_block: Callable[..., Any] | None = None,
    **options: Any,
) -> ObserveConfig:
    """Configure waxell-observe for this process (only the first call acts).

    Every argument left at its default falls through to the environment
    (``WAXELL_API_KEY``, ``WAXELL_API_URL``, ``WAXELL_CAPTURE_CONTENT``, ``WAXELL_DEBUG``,
    ``WAXELL_PROMPT_GUARD``, ``WAXELL_PROMPT_GUARD_ACTION``, ``WAXELL_DB``, ...) and then to
    ``~/.waxell/config``. ``instrument``: ``None`` instruments every installed library an
    integration knows; a list instruments only those; ``exclude`` (else ``WAXELL_EXCLUDE``, a
    comma list) leaves some out. ``agent_name`` / ``workflow_name`` name this process for
    records made outside any run; ``on_policy_block`` is the default handler of
    ``@observe`` runs a policy refuses; ``interaction_mode`` (``interactive``, ``autonomous``,
    ``auto``) is written to ``WAXELL_INTERACTION_MODE`` (on every call). With
    ``WAXELL_AGENT_NAME`` set and no run active, ``init()`` opens a run that lasts until
    the interpreter exits. Other keyword options are :class:`~waxell_observe.ObserveConfig`
    fields (``db``, ``preview_chars``, ``policy_timeout``, ...) or, when unknown, kept in
    ``config.extra`` for plugins.

    Returns the configuration in effect. Raises ``ValueError`` (a
    :class:`~waxell_observe.errors.ConfigurationError`) for an invalid argument.
    """
    global _initialized
    killed = os.environ.get("WAXELL_OBSERVE", "").strip().lower() in _FALSY  # the kill switch
    if interaction_mode is not None and not killed:
        mode = str(interaction_mode).strip().lower()
        os.environ["WAXELL_INTERACTION_MODE"] = mode if mode in INTERACTION_MODES else "auto"
    with _lock:
        if _initialized:
            logger.debug("waxell-observe: init() was already called; this call changes nothing")
            return get_config()
        libraries = _libraries(instrument)
        excluded = _libraries(exclude if exclude is not None else os.environ.get("WAXELL_EXCLUDE"), "exclude")
        _check_init_arguments(agent_name, workflow_name, resource_attributes, on_policy_block)
        _libraries(infra_libraries, "infra_libraries")
        infra_excluded = _libraries(infra_exclude, "infra_exclude")
        config = resolve_config(
            instrument_infra=None if instrument_infra else False,
            infra_exclude=",".join(sorted(infra_excluded)) if infra_excluded else None,
            interaction_mode=interaction_mode,
            api_key=api_key or None,
            api_url=api_url or None,
            capture_content=capture_content,
            debug=True if debug else None,
            prompt_guard=True if prompt_guard else None,
            prompt_guard_action=None if prompt_guard_action == "block" else prompt_guard_action,
            prompt_guard_server=True if prompt_guard_server else None,
            resource_attributes=dict(resource_attributes) if resource_attributes else None,
            instrument=tuple(sorted(libraries)) if libraries is not None else None,
            **options,
        )
        if not config.enabled:
            return config
        if config.debug:
            _enable_debug_logging()
        set_config(config)
        _instrument(config, libraries, excluded)
        from waxell_observe.gating import network as _network_gate

        _network_gate.install()  # httpx requests pass network.before (unless the gates are off)
        _remember_identity(agent_name, workflow_name, on_policy_block)
        from waxell_observe import execution_region

        execution_region.start()  # a cloud's metadata service is asked now, on its own thread
        _initialized = True
        logger.info(
            "waxell-observe: initialised (%s mode%s); instrumented: %s",
            config.mode,
            f", {config.api_url}" if config.api_url else "",
            ", ".join(_instrumented) or "nothing",
        )
    _open_ambient_run()
    return config


def _check_init_arguments(
    agent_name: Any, workflow_name: Any, resource_attributes: Any, on_policy_block: Any
) -> None:
    for name, value in (("agent_name", agent_name), ("workflow_name", workflow_name)):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    if resource_attributes is not None and not isinstance(resource_attributes, dict):
        raise ValueError(
            f"resource_attributes must be a dict or None, got {type(resource_attributes).__name__}"
        )
    if on_policy_block is not None and not callable(on_policy_block):
        raise ValueError(f"on_policy_block must be callable or None, got {type(on_policy_block).__name__}")


def _instrument(
    config: ObserveConfig, libraries: frozenset[str] | None, excluded: frozenset[str] | None
) -> None:
    """Load the plugins, tell them the configuration, ask the integrations to instrument
    (``excluded`` ones are undone at once: integrations answer for their own name only)."""
    global _instrumented
    from waxell_observe import plugins

    fresh = plugins._pm is None
    pm = plugins.plugin_manager()  # loads entry points; a new manager calls on_configure itself
    if not fresh:
        pm.hook.on_configure(config=config)
    if libraries is not None and excluded:
        libraries = libraries - excluded
    from waxell_observe import lazy_integrations

    lazy_integrations.arm(pm, config, libraries, excluded)  # loads those whose library is imported
    answers = pm.hook.on_instrument(config=config, libraries=libraries)
    instrumented = {name for answer in answers if answer for name in answer}
    if excluded and instrumented & excluded:
        pm.hook.on_uninstrument(libraries=frozenset(instrumented & excluded))
        instrumented -= excluded
    with _instrumented_lock:  # keep what libraries imported during init() instrumented
        _instrumented = tuple(sorted(instrumented | set(_instrumented)))


def note_instrumented(names: Iterable[str]) -> None:
    """Add what an integration instrumented after ``init()`` (its library imported later)."""
    global _instrumented
    with _instrumented_lock:  # not _lock: this may run inside init(), from an import it causes
        _instrumented = tuple(sorted(set(_instrumented) | set(names)))


def _remember_identity(
    agent_name: str, workflow_name: str, on_policy_block: Callable[..., Any] | None
) -> None:
    global _agent_name, _workflow_name
    from waxell_observe.policy_block import set_default_handler

    _agent_name = agent_name.strip()
    _workflow_name = workflow_name.strip()
    if on_policy_block is not None:
        set_default_handler(on_policy_block)


def _open_ambient_run() -> None:
    """``WAXELL_AGENT_NAME`` set and no run active: a run for the rest of the process (its
    policy check happens here; a refusal raises ``PolicyViolationError``)."""
    global _ambient
    agent = os.environ.get("WAXELL_AGENT_NAME", "").strip()
    from waxell_observe.current import current_context

    if not agent or _ambient is not None or current_context.get() is not None:
        return
    from waxell_observe.context import WaxellContext

    context = WaxellContext(agent_name=agent, workflow_name=os.environ.get("WAXELL_WORKFLOW") or "agent")
    context.__enter__()
    _ambient = context
    atexit.register(close_ambient_run)  # registered after the exit drain, so it runs before it


def close_ambient_run() -> None:
    """Complete the process run of ``WAXELL_AGENT_NAME`` (at exit, or by ``shutdown()``)."""
    global _ambient
    context, _ambient = _ambient, None
    if context is None:
        return
    try:
        context.__exit__(None, None, None)
    except Exception:  # noqa: BLE001 - never fail interpreter exit
        logger.exception("waxell-observe: could not complete the process run of %r", context.agent_name)


def ambient_run() -> Any:
    """The process-lifetime :class:`~waxell_observe.WaxellContext` ``init()`` opened, or ``None``."""
    return _ambient


def _enable_debug_logging() -> None:
    """``debug=True``: the SDK's logger at DEBUG level, on stderr unless the app configured logging."""
    logger.setLevel(logging.DEBUG)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)


def forget() -> None:
    """Forget that :func:`init` ran, its process identity and default ``on_policy_block``
    handler (``shutdown()`` calls this: a later ``init()`` acts again)."""
    global _initialized, _instrumented, _agent_name, _workflow_name
    from waxell_observe import lazy_integrations
    from waxell_observe.gating import network as _network_gate
    from waxell_observe.policy_block import set_default_handler

    lazy_integrations.disarm()
    _network_gate.uninstall()
    with _lock:
        _initialized = False
        _instrumented = ()
        _agent_name = _workflow_name = ""
        set_default_handler(None)


def _reset_for_tests() -> None:
    """Forget that :func:`init` ran and close its process run (tests only)."""
    close_ambient_run()
    forget()
