"""Stable import paths for the framework and provider integrations.

Each integration is its own distribution (``waxell-observe-langchain``,
``waxell-observe-llamaindex``, ...) registered under the ``waxell_observe`` entry-point
group; the modules here re-export their public names, e.g.
``waxell_observe.integrations.langchain.WaxellLangChainHandler``, and say what to install
when the integration is missing. Each is built with :func:`lazy_exports`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, MutableMapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    namespace: MutableMapping[str, Any], package: str, install_hint: str
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of a shim that re-exports ``package``'s names.

    Call it at the bottom of the shim, after ``__all__``::

        __getattr__, __dir__ = lazy_exports(globals(), "waxell_observe_openai", INSTALL_HINT)

    A name of the shim's ``__all__`` is imported from ``package`` on first use and then kept in
    the shim's ``namespace``. When ``package`` (or something it imports for that name) cannot be
    imported, the ``ImportError`` raised starts with ``install_hint`` and carries the original
    message in parentheses. Any other name raises ``AttributeError``.
    """
    module_name = namespace["__name__"]

    def hinted(exc: ImportError) -> ImportError:
        return ImportError(f"{install_hint} ({exc})", name=exc.name)

    def __getattr__(name: str) -> Any:
        if name not in namespace["__all__"]:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        try:
            module = importlib.import_module(package)
        except ImportError as exc:
            raise hinted(exc) from exc
        try:
            value = getattr(module, name)
        except ImportError as exc:  # the package imports what the name needs lazily
            raise hinted(exc) from exc
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace["__all__"]))

    return __getattr__, __dir__
