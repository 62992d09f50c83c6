"""``import waxell`` — the short name used by the documentation (``waxell.init()``,
``waxell.user_message(...)``). Everything here is :mod:`waxell_observe`."""

from __future__ import annotations

from waxell_observe import *  # noqa: F401,F403
from waxell_observe import __all__ as __all__  # noqa: F401
from waxell_observe import __version__ as __version__  # noqa: F401
