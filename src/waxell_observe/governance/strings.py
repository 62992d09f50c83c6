"""Walking a value for the strings inside it: what the content detectors and the policy requests read.

Its own module so that building a policy request does not compile the content detectors'
patterns (:mod:`waxell_observe.governance.content_scan`): a program pays for those only when a
content policy or the prompt guard runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["iter_strings"]


def iter_strings(obj: Any) -> Iterable[str]:
    """Every string value inside ``obj`` (dict values, list items, ...), depth first; keys excluded."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, Mapping):
        for v in obj.values():
            yield from iter_strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from iter_strings(v)
