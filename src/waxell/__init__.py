"""``import waxell`` — the short name used by the documentation (``waxell.init()``,
``waxell.user_message(...)``). Everything here is :mod:`waxell_observe`."""

from __future__ import annotations

from typing import Any

import waxell_observe as _waxell_observe
from waxell_observe import *  # noqa: F401,F403
from waxell_observe import __all__ as __all__  # noqa: F401
from waxell_observe import __version__ as __version__  # noqa: F401


def __getattr__(name: str) -> Any:
    """The public attributes that are not in ``__all__`` (``phase``, ``communication``, the
    submodules ``waxell.types``, ``waxell.cost``, ...): those of :mod:`waxell_observe`."""
    try:
        return getattr(_waxell_observe, name)
    except AttributeError:
        raise AttributeError(f"module 'waxell' has no attribute {name!r}") from None
