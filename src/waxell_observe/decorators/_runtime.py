"""Cheap checks and value capture shared by the decorators.

Two questions are asked on every decorated call and must cost almost nothing:
is the SDK enabled (``WAXELL_OBSERVE``), and what configuration applies. Both read the
configuration object installed by :func:`waxell_observe.config.set_config` directly, so a
change of configuration (``set_config``, ``init()``, ``WaxellObserveClient.configure``) is
seen by the next call without any extra bookkeeping.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

from waxell_observe import config as _config
from waxell_observe.errors import ConfigurationError
from waxell_observe.serialize import preview, to_jsonable

__all__ = ["current_config", "enabled_at_decoration", "capture", "capture_json", "preview_limit"]

logger = logging.getLogger("waxell_observe")

_MAX_DEPTH = 32
_SMALL = 16
_REPR_LIMIT = 200
"""Objects that JSON cannot hold are captured as their ``repr``, cut at this length."""
_KNOWN_TYPES: tuple[type, ...] = ()


def current_config() -> _config.ObserveConfig | None:
    """The process configuration, or ``None`` when it cannot be resolved (logged).

    Reads the installed configuration without a function call on the common path; resolves
    it from the environment on first use.
    """
    config = _config._current
    if config is not None:
        return config
    try:
        return _config.get_config()
    except Exception:  # noqa: BLE001 - a bad environment must not break the agent
        logger.exception("waxell-observe: cannot resolve the configuration; not recording")
        return None


def enabled_at_decoration() -> bool:
    """Whether decorating should wrap at all.

    Uses the installed configuration when there is one; otherwise reads only
    ``WAXELL_OBSERVE`` (resolving the whole configuration at import time of user modules
    would read files before ``init()`` had a chance to set arguments).
    """
    config = _config._current
    if config is not None:
        return bool(config.enabled)
    raw = os.environ.get("WAXELL_OBSERVE")
    if not raw:
        return True
    try:
        return _config.parse_bool(raw, name="WAXELL_OBSERVE")
    except ConfigurationError:
        return True  # same leniency as the configuration itself: a bad value is ignored


def preview_limit(config: _config.ObserveConfig) -> int:
    """Characters kept of captured strings: 0 (everything) with ``capture_content``."""
    return 0 if config.capture_content else config.preview_chars


def capture(value: Any, limit: int) -> Any:
    """A JSON-safe copy of a captured argument or return value.

    Strings longer than ``limit`` are cut to a preview (``limit`` 0 keeps them whole);
    objects JSON cannot hold become their (cut) ``repr`` without a warning: capturing
    arbitrary arguments is the decorator's choice, not a mistake of the caller.
    """
    return _fast(value, limit, False)


def capture_json(value: Any, limit: int) -> Any:
    """:func:`capture`, with non-finite floats turned into their ``repr`` as
    :func:`~waxell_observe.serialize.to_jsonable` does: the result is what ``to_jsonable`` would
    return for it, so ``@observe`` hands it to the run without converting it again."""
    cls = value.__class__  # _fast() written out: called twice per observed call
    if cls is str:
        return preview(value, limit) if limit and len(value) > limit else value
    if cls is int or cls is bool or value is None:
        return value
    if cls is dict and len(value) <= _SMALL:
        for key, item in value.items():
            kind = item.__class__
            if key.__class__ is not str or not (
                kind is int
                or kind is bool
                or item is None
                or (kind is str and not (limit and len(item) > limit))
            ):
                break
        else:
            return value.copy()
    return _capture(value, limit, 0, True)


def _fast(value: Any, limit: int, finite: bool) -> Any:
    cls = value.__class__
    if cls is str:
        return preview(value, limit) if limit and len(value) > limit else value
    if cls is int or cls is bool or value is None:
        return value
    if cls is dict and len(value) <= _SMALL:  # bound arguments: a few plain values, copied without recursion
        for key, item in value.items():
            kind = item.__class__
            if key.__class__ is not str or not (
                kind is int
                or kind is bool
                or item is None
                or (kind is str and not (limit and len(item) > limit))
            ):
                break
        else:
            return value.copy()
    return _capture(value, limit, 0, finite)


def _capture(value: Any, limit: int, depth: int, finite: bool = False) -> Any:
    if isinstance(value, str):
        return preview(value, limit) if limit and len(value) > limit else value
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if not finite or math.isfinite(value) else repr(value)
    if depth >= _MAX_DEPTH:
        return _object(value, limit)
    if isinstance(value, dict):
        return {
            (k if isinstance(k, str) else str(k)): _capture(v, limit, depth + 1, finite)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_capture(v, limit, depth + 1, finite) for v in value]
    if _is_convertible(value):
        return _capture(to_jsonable(value, where="captured value"), limit, depth + 1, finite)
    return _object(value, limit)


def _is_convertible(value: Any) -> bool:
    """Types :func:`to_jsonable` turns into plain data (dates, enums, decimals, pydantic, ...)."""
    global _KNOWN_TYPES
    if not _KNOWN_TYPES:
        import datetime
        import enum
        import uuid
        from decimal import Decimal

        _KNOWN_TYPES = (datetime.date, datetime.time, enum.Enum, Decimal, uuid.UUID, bytes)
    if isinstance(value, _KNOWN_TYPES):
        return True
    return callable(getattr(type(value), "model_dump", None))


def _object(value: Any, limit: int) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not break the agent
        text = f"<unrepresentable {type(value).__name__}: {exc!r}>"
    cut = min(limit, _REPR_LIMIT) if limit else _REPR_LIMIT * 10
    return preview(text, cut)
