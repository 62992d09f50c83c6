"""``init()``: configure the SDK once, load plugins, instrument libraries.

``waxell_observe.init()`` resolves the configuration (arguments, then ``WAXELL_*``
environment variables, then the ``[default]`` profile of ``~/.waxell/config``), installs
it, loads the plugins of the ``waxell_observe`` entry-point group, tells them the
configuration (``on_configure``) and asks integrations to instrument their libraries
(``on_instrument``). Only the first call acts; later calls return the configuration in
effect. With ``WAXELL_OBSERVE=false`` it does nothing at all.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

from waxell_observe.config import ObserveConfig, get_config, resolve_config, set_config
from waxell_observe.process import fork_safe

__all__ = ["init", "generate_session_id", "is_initialized"]

logger = logging.getLogger("waxell_observe")

_lock = fork_safe(threading.Lock())
_initialized = False
_instrumented: tuple[str, ...] = ()


def generate_session_id() -> str:
    """A new session id: ``"sess_"`` followed by 16 lowercase hex characters."""
    return "sess_" + os.urandom(8).hex()


def is_initialized() -> bool:
    """True once :func:`init` has acted (it does not act in disabled mode)."""
    return _initialized


def instrumented_libraries() -> tuple[str, ...]:
    """What the integrations reported instrumenting at :func:`init`."""
    return _instrumented


def _libraries(instrument: Any) -> frozenset[str] | None:
    if instrument is None:
        return None
    if isinstance(instrument, str):
        names: Iterable[Any] = [part.strip() for part in instrument.split(",") if part.strip()]
    elif isinstance(instrument, (list, tuple, set, frozenset)):
        names = instrument
    else:
        raise ValueError(
            f"instrument must be a list of library names or None, got {type(instrument).__name__}"
        )
    cleaned = []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"instrument: library names must be non-empty strings, got {name!r}")
        cleaned.append(name.strip().lower())
    return frozenset(cleaned)


def init(
    api_key: str = "",
    api_url: str = "",
    capture_content: bool = False,
    instrument: list[str] | None = None,
    debug: bool = False,
    prompt_guard: bool = False,
    prompt_guard_action: str = "block",
    prompt_guard_server: bool = False,
    resource_attributes: dict[str, Any] | None = None,
    **options: Any,
) -> ObserveConfig:
    """Configure waxell-observe for this process (only the first call acts).

    Every argument left at its default falls through to the environment
    (``WAXELL_API_KEY``, ``WAXELL_API_URL``, ``WAXELL_CAPTURE_CONTENT``, ``WAXELL_DEBUG``,
    ``WAXELL_PROMPT_GUARD``, ``WAXELL_PROMPT_GUARD_ACTION``, ``WAXELL_DB``, ...) and then to
    ``~/.waxell/config``. ``instrument``: ``None`` instruments every installed library an
    integration knows; a list instruments only those. Other keyword options are
    :class:`~waxell_observe.ObserveConfig` fields (``db``, ``preview_chars``,
    ``policy_timeout``, ...) or, when unknown, kept in ``config.extra`` for plugins.

    Returns the configuration in effect. Raises ``ValueError`` (a
    :class:`~waxell_observe.errors.ConfigurationError`) for an invalid argument.
    """
    global _initialized, _instrumented
    with _lock:
        if _initialized:
            logger.debug("waxell-observe: init() was already called; this call changes nothing")
            return get_config()
        libraries = _libraries(instrument)
        if resource_attributes is not None and not isinstance(resource_attributes, dict):
            raise ValueError(
                f"resource_attributes must be a dict or None, got {type(resource_attributes).__name__}"
            )
        config = resolve_config(
            api_key=api_key or None,
            api_url=api_url or None,
            capture_content=True if capture_content else None,
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
        from waxell_observe import plugins

        fresh = plugins._pm is None
        pm = plugins.plugin_manager()  # loads entry points; a new manager calls on_configure itself
        if not fresh:
            pm.hook.on_configure(config=config)
        answers = pm.hook.on_instrument(config=config, libraries=libraries)
        _instrumented = tuple(sorted({name for answer in answers if answer for name in answer}))
        _initialized = True
        logger.info(
            "waxell-observe: initialised (%s mode%s); instrumented: %s",
            config.mode,
            f", {config.api_url}" if config.api_url else "",
            ", ".join(_instrumented) or "nothing",
        )
        return config


def _enable_debug_logging() -> None:
    """``debug=True``: the SDK's logger at DEBUG level, on stderr unless the app configured logging."""
    logger.setLevel(logging.DEBUG)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)


def _reset_for_tests() -> None:
    """Forget that :func:`init` ran (tests only)."""
    global _initialized, _instrumented
    with _lock:
        _initialized = False
        _instrumented = ()
