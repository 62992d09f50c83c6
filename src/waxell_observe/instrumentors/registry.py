"""The reference SDK's instrumentor functions (§6.4) over our integrations (plugins answering
``on_instrument`` / ``on_uninstrument``): :func:`instrument_all`, :func:`uninstrument_all`,
:func:`detect_installed_libraries`."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["detect_installed_libraries", "instrument_all", "uninstrument_all"]


def instrument_all(
    libraries: Iterable[str] | None = None, exclude: Iterable[str] | None = None
) -> dict[str, bool]:
    """Instrument the named libraries (``None``: every installed one an integration covers), minus
    ``exclude``, as ``init(instrument=..., exclude=...)`` does, and say what happened per name:
    ``{name: True}`` for what is instrumented now; a requested name no installed integration
    instrumented (not installed, unknown, excluded) is ``False``. Nothing happens, and ``{}`` is
    returned, when ``WAXELL_OBSERVE`` turned the SDK off. Idempotent. A bad argument (not a list of
    names) is a ``ValueError``."""
    from waxell_observe import initialization
    from waxell_observe.config import get_config

    wanted = initialization._libraries(_listed(libraries, "libraries"))
    excluded = initialization._libraries(_listed(exclude, "exclude"), "exclude") or frozenset()
    config = get_config()
    if not config.enabled:
        return {}
    initialization._instrument(config, wanted, excluded)
    done = set(initialization.instrumented_libraries()) - excluded
    if wanted is None:
        return dict.fromkeys(sorted(done), True)
    return {name: name in done for name in sorted(wanted)}


def uninstrument_all() -> None:
    """Undo every integration's instrumentation (the libraries behave as without the SDK again);
    ``waxell_observe.diagnose()`` then lists no active instrumentor."""
    from waxell_observe import initialization, plugins

    if plugins._pm is None:
        return  # nothing was ever instrumented in this process
    plugins.plugin_manager().hook.on_uninstrument(libraries=None)
    with initialization._instrumented_lock:
        initialization._instrumented = ()


def detect_installed_libraries() -> dict[str, bool]:
    """``{library: installed}`` for every library the SDK knows how to observe (nothing is imported:
    the import system is asked whether each module could be found) — ``diagnose()["detected_libraries"]``."""
    from waxell_observe.diagnostics import DETECTABLE_LIBRARIES, _installed

    return {name: _installed(name) for name in DETECTABLE_LIBRARIES}


def _listed(names: Iterable[str] | None, what: str) -> list[str] | str | None:
    if names is None or isinstance(names, str):
        return names
    if isinstance(names, (list, tuple, set, frozenset)):
        return list(names)
    raise ValueError(f"{what} must be a list of library names or None, got {type(names).__name__}")
