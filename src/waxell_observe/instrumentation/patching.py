"""Patching methods of an SDK's classes with wrapt, now or when their module is imported.

A :class:`Patcher` knows a list of targets ``(module, class, method, wrapper factory)`` (class ``""``: a
module-level function). ``apply()`` patches
the targets whose module is already imported and registers a post-import hook for the others, so
the SDK can be imported before or after instrumentation and nothing is imported eagerly.
``remove()`` restores the original methods (when a wrapper added on top of ours by someone else
prevents that, ours is switched to pass-through instead). Both are idempotent and thread-safe.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import wrapt

__all__ = ["Patcher", "Target", "Wrapper", "WrapperFactory", "imported_factory"]

logger = logging.getLogger("waxell_observe")

Wrapper = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]
"""A wrapt wrapper: ``wrapper(wrapped, instance, args, kwargs)``."""

WrapperFactory = Callable[[Callable[[], bool]], Wrapper]
"""Builds a target's wrapper, given ``active()``: True while the patch should record (after
:meth:`Patcher.remove`, a wrapper that could not be taken off passes through)."""


def imported_factory(module: str, name: str) -> WrapperFactory:
    """The wrapper factory ``module.name`` (a module of the integration), imported only when its
    target is patched: an integration's switch module names its wrappers without loading them (nor
    the SDK modules they import) until the SDK is there to patch."""

    def make(active: Callable[[], bool]) -> Wrapper:
        factory: WrapperFactory = getattr(importlib.import_module(module), name)
        return factory(active)

    return make


@dataclass(frozen=True)
class Target:
    """``module.cls.method`` to wrap with the wrapper that ``factory(active)`` returns.

    The factory is called when the class is patched (so it may import the SDK); a method missing
    from the installed SDK version is skipped. With ``cls=""`` the target is the module-level
    function ``module.method``: the module's attribute is replaced, so callers that look it up on the
    module (``litellm.completion(...)``) get the wrapper, while a reference taken before the patch
    (``from litellm import completion`` before ``init()``) keeps the original.
    """

    module: str
    cls: str
    method: str
    factory: WrapperFactory


class Patcher:
    """Applies and removes one integration's patches."""

    def __init__(self, name: str, targets: tuple[Target, ...]) -> None:
        """``name`` names the integration in log messages."""
        self.name = name
        self.targets = targets
        self._lock = threading.RLock()
        self._active = False
        self._hooked: set[str] = set()
        self._originals: dict[
            tuple[Any, str], tuple[Any, Any]
        ] = {}  # (class or module, name) -> (original, ours)

    @property
    def active(self) -> bool:
        """True between ``apply()`` and ``remove()``: the wrappers record (else they pass through)."""
        return self._active

    @property
    def patched(self) -> list[str]:
        """``Class.method`` names currently patched."""
        return sorted(f"{cls.__name__}.{method}" for cls, method in self._originals)

    def missing(self) -> list[str]:
        """``module[.Class].method`` of the targets whose module is imported but that it does not
        define (another version of the SDK): what :meth:`apply` skipped there. A target that must
        not be skipped in silence (a governance gate) is checked with this after :meth:`apply`."""
        absent = []
        for target in self.targets:
            module = sys.modules.get(target.module)
            if module is None:
                continue
            owner: Any = getattr(module, target.cls, None) if target.cls else module
            if owner is None or target.method not in getattr(owner, "__dict__", {}):
                absent.append(".".join(part for part in (target.module, target.cls, target.method) if part))
        return absent

    def apply(self) -> bool:
        """Patch every target (now or on import). Returns False if already applied."""
        with self._lock:
            if self._active:
                return False
            self._active = True
            for module_name in dict.fromkeys(t.module for t in self.targets):
                module = sys.modules.get(module_name)
                if module is not None:
                    self._patch_module(module)
                elif module_name not in self._hooked:
                    self._hooked.add(module_name)
                    wrapt.register_post_import_hook(self._on_import, module_name)
            return True

    def remove(self) -> bool:
        """Undo ``apply()``. Returns False if it was not applied."""
        with self._lock:
            if not self._active:
                return False
            self._active = False
            for (cls, method), (original, ours) in list(self._originals.items()):
                current = cls.__dict__.get(method)
                if current is ours:
                    setattr(cls, method, original)
                    del self._originals[(cls, method)]
                elif not _in_chain(current, ours):  # someone already put another method there
                    del self._originals[(cls, method)]
                else:
                    logger.warning(
                        "waxell-observe: %s.%s was wrapped again by someone else; "
                        "the %s instrumentation now passes through instead of being removed",
                        cls.__name__,
                        method,
                        self.name,
                    )
            return True

    def _is_active(self) -> bool:
        return self._active

    def _on_import(self, module: ModuleType) -> None:
        with self._lock:
            if self._active:
                self._patch_module(module)

    def _patch_module(self, module: ModuleType) -> None:
        for target in self.targets:
            if target.module != module.__name__:
                continue
            cls: Any = getattr(module, target.cls, None) if target.cls else module
            if not (cls is module or isinstance(cls, type)) or target.method not in cls.__dict__:
                continue  # not in this version of the SDK
            key = (cls, target.method)
            if key in self._originals:
                if _in_chain(cls.__dict__[target.method], self._originals[key][1]):
                    continue  # still in place (possibly under someone else's wrapper)
                del self._originals[key]
            original = cls.__dict__[target.method]
            try:
                wrapper = wrapt.FunctionWrapper(original, target.factory(self._is_active))
                setattr(cls, target.method, wrapper)
            except Exception:
                logger.exception("waxell-observe: cannot patch %s.%s", cls.__name__, target.method)
                continue
            self._originals[key] = (original, wrapper)


def _in_chain(current: Any, ours: Any, *, depth: int = 32) -> bool:
    """True when ``ours`` is ``current`` or something ``current`` wraps (``__wrapped__`` chain)."""
    for _ in range(depth):
        if current is ours:
            return True
        current = getattr(current, "__wrapped__", None)
        if current is None:
            return False
    return False
